"""What the REST API (and so the CLI and the pages) reads: status, calls, queues, agents.

Built from the live parts, never reaching into them from `web/`. Plain dicts shaped for JSON;
times are epoch seconds, durations seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from callcenter.ami import actions
from callcenter.ami.port import AmiPort
from callcenter.core.bus import Bus
from callcenter.calls.tracker import CallTracker
from callcenter.core.events import CallRecord
from callcenter.config import Config
from callcenter.core.errors import CallcenterError, UnknownAgent, UnknownCall, UnknownQueue
from callcenter.ivr.flows import FlowLibrary
from callcenter.ivr.sessions import IvrSessions
from callcenter.asterisk.liveness import Liveness
from callcenter.routing.callbacks import CallbackBook
from callcenter.routing.queues import QueueControl
from callcenter.routing.presence import Presence
from callcenter.tickets import TicketCore


class ReadModel:
    """Read-only views over the live parts, for the REST API."""

    def __init__(self, config: Callable[[], Config], ami: AmiPort, bus: Bus, tracker: CallTracker,
                 presence: Presence, queues: QueueControl, callbacks: CallbackBook, sessions: IvrSessions,
                 liveness: Liveness, flows: FlowLibrary | None, clock: Callable[[], float],
                 extra: Callable[[], dict[str, Any]] = dict, store: TicketCore | None = None) -> None:
        self._config, self.ami, self.bus, self.tracker, self.presence = config, ami, bus, tracker, presence
        self.queue_control, self.callbacks, self.sessions, self.liveness = queues, callbacks, sessions, liveness
        self.flows, self.clock, self.extra, self.store = flows, clock, extra, store

    # -- calls ------------------------------------------------------------------------------------

    async def calls(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        """Live calls, and the `limit` most recent ended ones: those this controller saw (at once,
        in memory) and those in the store (from before a restart), newest first."""
        recent = [c.as_dict() for c in self.tracker.recent()[:max(0, limit)]]
        if self.store is not None:
            seen = {c["call_id"] for c in recent} | {c.call_id for c in self.tracker.active()}
            for row in await self.store.calls.recent(limit):
                if row["call_id"] not in seen and row["record"]:
                    recent.append({**row["record"], "customer_id": row["customer_id"], "ticket_id": row["ticket_id"]})
            recent.sort(key=lambda c: c["started_at"], reverse=True)
        return {"active": [c.as_dict() for c in self.tracker.active()], "recent": recent[:max(0, limit)]}

    async def call(self, call_id: str) -> dict[str, Any]:
        record: CallRecord | None = self.tracker.get(call_id)
        row = await self.store.calls.get(call_id) if self.store is not None else None
        if record is not None:  # live (or just ended): the tracker's record, and where the store put it
            return {**record.as_dict(), **({"customer_id": row["customer_id"], "ticket_id": row["ticket_id"]}
                                           if row is not None else {})}
        if row is None or not row["record"]:
            raise UnknownCall(call_id)
        return {**row["record"], "customer_id": row["customer_id"], "ticket_id": row["ticket_id"]}

    # -- queues and agents ------------------------------------------------------------------------

    def queues(self) -> list[dict[str, Any]]:
        """Per queue: settings, members with their state, callers waiting, live numbers."""
        now = self.clock()
        config = self._config()
        out = []
        for name, settings in config.queues.items():
            members = []
            for agent, penalty in sorted(self.queue_control.state.members.get(name, {}).items()):
                if agent not in self.presence.agents:
                    continue
                state = self.presence.agents[agent].as_dict(now)
                pause = self.queue_control.state.paused.get(agent)
                if pause and pause["queue"] not in ("", name):
                    state["state"], state["pause_reason"] = ("ready" if state["state"] == "paused"
                                                             else state["state"]), ""
                members.append({"agent": agent, "penalty": penalty, "state": state["state"],
                                "pause_reason": state["pause_reason"]})
            numbers = self.presence.queues[name].as_dict(now, self.presence.service_level_seconds)
            numbers["callbacks"] = [{"id": r.id, "number": r.number, "state": r.state, "attempts": r.attempts,
                                     "kept_wait_seconds": round(now - r.joined_at, 1)} for r in self.callbacks.open(name)]
            out.append({**numbers, "strategy": settings.strategy, "wrapup": settings.wrapup, "members": members,
                        "agents_logged_in": sum(m["state"] not in ("logged_out", "unreachable") for m in members),
                        "agents_available": sum(m["state"] == "ready" for m in members)})
        return out

    def queue(self, name: str) -> dict[str, Any]:
        rows = self.queues()
        for row in rows:
            if row["name"] == name:
                return row
        raise UnknownQueue(name, [r["name"] for r in rows])

    def agents(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{**self.presence.agents[name].as_dict(now), "extension": a.extension, "full_name": a.full_name,
                 "queues": self.queue_control.memberships(name),
                 "pause": self.queue_control.state.paused.get(name)}
                for name, a in self._config().agents.items() if name in self.presence.agents]

    def agent(self, name: str) -> dict[str, Any]:
        for row in self.agents():
            if row["name"] == name:
                return row
        raise UnknownAgent(name, list(self._config().agents))

    def callback_requests(self) -> list[dict[str, Any]]:
        return [vars(r) for r in self.callbacks.requests.values()]

    # -- status -----------------------------------------------------------------------------------

    async def asterisk_info(self) -> dict[str, Any]:
        """Version and uptime from Asterisk itself."""
        settings = await self.ami.send(actions.core_settings())
        status = await self.ami.send(actions.core_status())
        started = time.mktime(time.strptime(f"{status.get('CoreStartupDate')} {status.get('CoreStartupTime')}",
                                            "%Y-%m-%d %H:%M:%S"))
        return {"version": settings.get("AsteriskVersion"), "started_at": started,
                "uptime_seconds": max(0, int(self.clock() - started)),
                "current_calls": int(status.get("CoreCurrentCalls", "0") or 0)}

    async def _transcription(self) -> dict[str, Any] | None:
        """Voicemail transcription jobs by state, and what is wrong with the configured model."""
        if self.store is None:
            return None
        from callcenter.voicemail import engines  # the check reads files: no model library is imported
        config = self._config()
        try:
            await asyncio.to_thread(engines.check, config.speech.engine, config.speech_model, config.speech.language)
            problem = ""
        except CallcenterError as exc:
            problem = f"{exc.error_id}: {exc}"
        try:
            jobs = await self.store.jobs.counts()
        except CallcenterError:
            jobs = {}
        return {"engine": config.speech.engine, "problem": problem, "jobs": jobs}

    async def status(self) -> dict[str, Any]:
        asterisk: dict[str, Any] = {"reachable": False}
        queues = self.queues()
        if self.ami.state == "connected":
            try:
                asterisk = {"reachable": True, **await self.asterisk_info()}
            except (CallcenterError, ValueError) as exc:
                asterisk = {"reachable": False, "error": str(exc)}
        resync = self.liveness.describe()
        return {
            "asterisk": asterisk,
            "ami": {"state": self.ami.state, "connected": self.ami.state == "connected",
                    "connected_since": self.ami.connected_since, "last_error": self.ami.last_error,
                    "resyncs": resync["resyncs"], "last_resync_at": resync["last_resync_at"]},
            "resync": resync,
            "calls": {"active": len(self.tracker.active()), "in_controller": len(self.sessions.channels),
                      "in_flows": len(self.sessions.sessions)},
            "controller": {"tasks": len(asyncio.all_tasks()), "events_seen": self.ami.events_seen,
                           "translate_errors": self.ami.translate_errors, "events_published": self.bus.published,
                           "subscriber_errors": self.bus.errors, "call_task_failures": self.sessions.failures},
            "subscribers": self.bus.stats(),
            "queues": [{k: q[k] for k in ("name", "strategy", "agents_logged_in", "agents_available", "waiting",
                                          "longest_wait_seconds")} for q in queues],
            "flows": ({"version": self.flows.current.version, "names": sorted(self.flows.current.flows),
                       "errors": [str(p) for p in self.flows.errors]} if self.flows else None),
            "store": self.store.describe() if self.store is not None else None,
            "transcription": await self._transcription(),
            **self.extra(),
        }
