"""The supervisor wallboard's numbers (pure: from the presence tracker's live picture and the
config), and its CSV export.

Per queue: waiting, longest wait, offered, answered, abandoned, service level against the target
(answered within `routing.service_level_seconds` / answered, or / (answered + abandoned) when
`web.service_level_abandoned` is `count`), ASA (average speed of answer, seconds), abandon rate
(abandoned / (answered + abandoned)), agents by state. Per agent: state and seconds in it, calls,
talk seconds, pause seconds by reason. Numbers count since the controller started (the tracker's
day); `today` is the store's contacts per channel since local midnight; `store` is the call log's
backlog (events not yet written, its peak, events not held: written from Asterisk's CDR instead);
`backlog` is the pending work per queue and channel (open, unassigned, SLA at risk and breached,
the oldest unanswered message), from the store.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence

from callcenter.config import Config
from callcenter.routing.presence import Presence

STATES = ("ready", "paused", "ringing", "on_call", "wrapup", "logged_out", "unreachable")


def wallboard(presence: Presence, config: Config, now: float, today: Mapping[str, int],
              call_log: Mapping[str, Any] | None = None, backlog: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The board (see the module's docstring). `backlog`: the store's pending work per queue and
    channel (tickets/work.py `WorkItems.backlog`)."""
    queues = []
    states = {name: agent.state(now) for name, agent in presence.agents.items()}
    for name in config.queues:
        numbers = presence.queues.get(name)
        if numbers is None:
            continue
        row = numbers.as_dict(now, presence.service_level_seconds)
        answered, abandoned = numbers.answered, numbers.abandoned
        base = answered + abandoned if config.web.service_level_abandoned == "count" else answered
        members = [a for a, settings in config.agents.items() if name in settings.queues]
        queues.append({
            "name": name, "waiting": row["waiting"], "longest_wait_seconds": row["longest_wait_seconds"],
            "offered": answered + abandoned + len(numbers.waiting), "answered": answered, "abandoned": abandoned,
            "service_level": round(numbers.answered_in_sl / base, 3) if base else None,
            "service_level_target": config.web.service_level_target,
            "service_level_seconds": presence.service_level_seconds,
            "average_speed_of_answer": row["average_speed_of_answer"],
            "average_handle_time": row["average_handle_time"],
            "abandon_rate": round(abandoned / (answered + abandoned), 3) if answered + abandoned else None,
            "agents": {s: sum(states.get(m) == s for m in members) for s in STATES},
        })
    agents = []
    for name, settings in config.agents.items():
        agent = presence.agents.get(name)
        if agent is None:
            continue
        row = agent.as_dict(now)
        since = agent.paused_at if row["state"] == "paused" and agent.paused_at else agent.activity_since
        agents.append({"name": name, "full_name": settings.full_name, "state": row["state"],
                       "state_seconds": round(max(0.0, now - since), 1) if since else None,
                       "pause_reason": row["pause_reason"], "calls": row["calls"],
                       "talk_seconds": row["talk_seconds"], "pause_seconds": row["pause_seconds"]})
    store = None if call_log is None else {k: call_log.get(k, 0) for k in ("backlog", "backlog_peak", "backlog_dropped")}
    return {"generated_at": now, "queues": queues, "agents": agents, "today": dict(today), "store": store,
            "backlog": [dict(row) for row in backlog]}


def to_csv(board: Mapping[str, Any]) -> str:
    """One row per queue, then one per agent (RFC 4180, with a header row each)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["queue", "waiting", "longest_wait_seconds", "offered", "answered", "abandoned", "service_level",
                "service_level_target", "service_level_seconds", "average_speed_of_answer", "abandon_rate"])
    for q in board["queues"]:
        w.writerow([q["name"], q["waiting"], q["longest_wait_seconds"], q["offered"], q["answered"], q["abandoned"],
                    q["service_level"], q["service_level_target"], q["service_level_seconds"],
                    q["average_speed_of_answer"], q["abandon_rate"]])
    w.writerow([])
    w.writerow(["agent", "full_name", "state", "state_seconds", "calls", "talk_seconds", "pause_seconds"])
    for a in board["agents"]:
        pauses = "; ".join(f"{reason}={seconds}" for reason, seconds in sorted(a["pause_seconds"].items()))
        w.writerow([a["name"], _cell(a["full_name"]), a["state"], a["state_seconds"], a["calls"], a["talk_seconds"],
                    _cell(pauses)])
    w.writerow([])
    w.writerow(["channel", "contacts_today"])
    for channel, count in board["today"].items():
        w.writerow([channel, count])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
