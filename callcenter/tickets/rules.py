"""Ticket rules (pure): the status machine, priorities, SLA due times, which ticket a contact joins.

Status: `new → open → pending → resolved → closed`, with `pending ↔ open`, `resolved → open`
(reopened, by hand or by a new contact) and any non-closed status → `closed`. `closed` is final: a
new contact then opens a new ticket. Nothing goes back to `new`. SLA targets are minutes of
business time from the ticket's creation, per priority, optionally per channel (`sla.targets`,
keys `normal` or `voicemail/normal`), in the spirit of ITIL's response and resolution targets;
sla.py counts them in its queue's calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from callcenter.core.errors import Refused, RuleBroken
from callcenter.routing.settings import NAME as QUEUE_NAME

STATUSES = ("new", "open", "pending", "resolved", "closed")
OPEN_STATUSES = ("new", "open", "pending")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("voice", "voicemail", "chat", "sms", "email")

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "resolved", "closed"}),
    "open": frozenset({"pending", "resolved", "closed"}),
    "pending": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}


class TicketRuleError(RuleBroken):
    """A change the status machine refuses: `invalid-transition`."""


class TicketValueError(Refused):
    """A value that is no status, no priority or no queue's name: `bad-status`, `bad-priority`, `bad-queue`."""


def check_transition(old: str, new: str) -> None:
    """Errors: TicketValueError `bad-status` (not a status); TicketRuleError `invalid-transition`
    (not allowed)."""
    if new not in STATUSES:
        raise TicketValueError("bad-status", f"no status {new!r} (statuses: {', '.join(STATUSES)})")
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none: closed is final"
        raise TicketRuleError("invalid-transition", f"a ticket that is {old} cannot become {new} (allowed: {allowed})",
                              {"from": old, "to": new})


def check_priority(priority: str) -> None:
    """Errors: TicketValueError `bad-priority`."""
    if priority not in PRIORITIES:
        raise TicketValueError("bad-priority", f"no priority {priority!r} (priorities: {', '.join(PRIORITIES)})")


def check_queue(queue: str) -> None:
    """A queue's name as the config writes them (lower-case letters, digits, - or _), or "" (no
    queue). Errors: TicketValueError `bad-queue`."""
    if queue and not QUEUE_NAME.fullmatch(queue):
        raise TicketValueError("bad-queue", f"{queue[:50]!r} is not a queue's name (lower-case letters, digits, "
                               "- or _; \"\" for none)")


@dataclass(frozen=True)
class SlaTarget:
    """Minutes of business time from a ticket's creation to the first response and to its resolution."""

    first_response: int
    resolution: int


DEFAULT_SLA: Mapping[str, SlaTarget] = {
    "urgent": SlaTarget(15, 4 * 60),
    "high": SlaTarget(60, 8 * 60),
    "normal": SlaTarget(4 * 60, 48 * 60),
    "low": SlaTarget(24 * 60, 7 * 24 * 60),
    "voicemail/normal": SlaTarget(2 * 60, 48 * 60),  # a voicemail asks to be called back
}


def sla_target(targets: Mapping[str, SlaTarget], channel: str, priority: str) -> SlaTarget:
    """The target of a ticket of `channel` and `priority`: a `channel/priority` target wins over
    the `priority` one, whether the config or DEFAULT_SLA says it (the config's wins over the
    default of the same key); DEFAULT_SLA fills what the config does not say."""
    for key in (f"{channel}/{priority}", priority):
        found = targets.get(key) or DEFAULT_SLA.get(key)
        if found is not None:
            return found
    return targets.get("normal") or DEFAULT_SLA["normal"]


def joinable(status: str, topic: str, updated_at: float, *, want_topic: str, now: float, reopen_days: int) -> bool:
    """Does a new contact on `want_topic` join this ticket? Not closed, same topic, and touched
    within `reopen_days` (a resolved one is then reopened)."""
    return status != "closed" and topic == want_topic and now - updated_at <= reopen_days * 86400
