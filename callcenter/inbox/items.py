"""Work items as the inbox's views show them (pure): an item from a waiting ticket or a live chat,
its ranking key, and the views' filters (docs/inbox.md, "API and CLI")."""

from __future__ import annotations

from typing import Any, Mapping

from callcenter.config import Config
from callcenter.core.errors import Refused
from callcenter.inbox import rules
from callcenter.tickets import rules as ticket_rules
from callcenter.tickets.work import Waiting

SLA_FILTERS = ("at_risk", "breached")


def of_waiting(w: Waiting) -> rules.Item:
    return rules.Item(w.ticket, w.queue, w.channel, w.priority, w.waiting_since, w.sla_state, w.tags)


def of_chat(chat: Mapping[str, Any], now: float) -> dict[str, Any]:
    contact = chat.get("contact") or {}
    return {"ticket": chat["ticket_id"], "kind": "chat", "chat": chat["id"], "channel": "chat",
            "subject": "", "customer": {"id": chat["customer_id"], "name": contact.get("name", ""), "tags": []},
            "queue": chat["queue"], "status": chat["state"], "priority": "normal", "assignee": chat["agent"],
            "waiting_since": chat["started_at"], "sla": {"state": "", "first_response_due": None,
                                                          "resolution_due": None},
            "score": round(rules.score(rules.Item(chat["ticket_id"], chat["queue"], "chat", "normal",
                                                  chat["started_at"]), now, set()), 1),
            "offered_to": "", "offer_expires": None, "preview": ""}


def ranking(item: Mapping[str, Any]) -> rules.Item:
    return rules.Item(item["ticket"], item["queue"], item["channel"], item["priority"],
                      item["waiting_since"] or 0.0, item["sla"]["state"], tuple(item["customer"]["tags"]), item["kind"])


def checked_filters(given: Mapping[str, str], config: Config) -> dict[str, str]:
    """The filters of a view, checked. Errors: Refused `bad-filter`."""
    out = {}
    for key, value in given.items():
        if not value:
            continue
        allowed = {"status": ticket_rules.STATUSES, "channel": ticket_rules.CHANNELS, "queue": tuple(config.queues),
                   "sla": SLA_FILTERS}.get(key)
        if allowed is None:
            raise Refused("bad-filter", f"no filter {key!r} (filters: status, channel, queue, sla)")
        if value not in allowed:
            raise Refused("bad-filter", f"{key} {value[:40]!r} is none of: {', '.join(allowed)}")
        out[key] = value
    return out


def matches(item: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(str(item["sla"]["state"] if key == "sla" else item.get(key, "")) == value
               for key, value in wanted.items())
