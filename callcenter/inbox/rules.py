"""The inbox's rules, without I/O: how urgent a work item is, who may see and take it, and which
agent is offered which item (docs/inbox.md).

Urgency is a score, highest first, then the longest waiting:

    channel     chat 40, voice (a missed call) 30, voicemail 30, sms 20, email 10
    priority    urgent 60, high 40, normal 20, low 0
    customer    +30 if one of their tags is in `routing.vip_tags` (default: vip)
    SLA         +25 at risk, +50 breached (tickets/sla.py)
    age         +1 per 10 minutes waiting, at most +30

so an urgent email outranks an ordinary chat, a VIP's SMS an ordinary one, and an item that has
waited long climbs. Live calls are not items: app_queue routes them and the page shows them first.

Routing (push): an unassigned item in a queue is offered to one agent at a time — a member of the
queue, with a workspace page open, not paused, with room: `routing.max_open_items` minus the items
they hold (accepted, not answered yet) and are being offered, minus `routing.chat_counts_as` per
chat they hold and `routing.call_counts_as` while their phone rings or is on a call. The most
urgent item first, to the agent with the highest level of the queue's skill, then the most room,
then the one offered work longest ago. An agent who declined an item is not offered it again; one
who let an offer expire is offered it again only after every other agent had their turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Mapping, Sequence

CHANNEL_POINTS: Mapping[str, float] = {"chat": 40, "voice": 30, "voicemail": 30, "sms": 20, "email": 10}
PRIORITY_POINTS: Mapping[str, float] = {"urgent": 60, "high": 40, "normal": 20, "low": 0}
VIP_POINTS = 30.0
SLA_POINTS: Mapping[str, float] = {"at_risk": 25, "breached": 50}
AGE_POINTS_PER_MINUTE = 0.1
AGE_POINTS_MAX = 30.0


@dataclass(frozen=True)
class Item:
    """A work item as ranking and routing see it (epoch seconds)."""

    ticket: int
    queue: str
    channel: str
    priority: str
    waiting_since: float
    sla_state: str = ""  # "" | at_risk | breached
    tags: tuple[str, ...] = ()  # the customer's
    kind: str = "ticket"  # ticket | chat (a live chat: the chat desk routes it)


@dataclass(frozen=True)
class Seat:
    """An agent as inbox routing sees them now."""

    name: str
    queues: tuple[str, ...]
    skills: Mapping[str, int]
    online: bool  # a workspace page open
    paused: bool
    on_call: bool  # their phone rings or is on a call
    chats: int = 0  # live chats they hold
    held: int = 0  # items they accepted and have not answered
    offered: int = 0  # items offered to them now
    last_offered: float = 0.0  # epoch seconds of their last offer (0: never)


@dataclass(frozen=True)
class Capacity:
    """`routing.max_open_items`, `routing.chat_counts_as`, `routing.call_counts_as`."""

    max_open_items: int = 5
    chat_counts_as: int = 1
    call_counts_as: int = 5


def score(item: Item, now: float, vip_tags: AbstractSet[str]) -> float:
    """The item's urgency (see the module's docstring); higher is more urgent."""
    age_minutes = max(0.0, now - item.waiting_since) / 60
    return (CHANNEL_POINTS.get(item.channel, 0) + PRIORITY_POINTS.get(item.priority, 20)
            + (VIP_POINTS if vip_tags & set(item.tags) else 0) + SLA_POINTS.get(item.sla_state, 0)
            + min(AGE_POINTS_MAX, age_minutes * AGE_POINTS_PER_MINUTE))


def ranked(items: Sequence[Item], now: float, vip_tags: AbstractSet[str]) -> list[Item]:
    """Most urgent first; equal scores: the longest waiting first."""
    return sorted(items, key=lambda i: (-score(i, now, vip_tags), i.waiting_since, i.ticket))


def room(seat: Seat, capacity: Capacity) -> int:
    """How many more items this agent may be offered now (0 or less: none)."""
    if not seat.online or seat.paused:
        return 0
    load = seat.held + seat.offered + seat.chats * capacity.chat_counts_as
    if seat.on_call:
        load += capacity.call_counts_as
    return capacity.max_open_items - load


def sees(queues: AbstractSet[str] | None, agent: str | None, queue: str, assignee: str) -> bool:
    """May someone whose queues are `queues` (None: a supervisor, everything) see an item of
    `queue` assigned to `assignee`? Their queues' items, their own, and items of no queue."""
    return queues is None or queue in queues or queue == "" or (agent is not None and assignee == agent)


def offers(items: Sequence[Item], seats: Sequence[Seat], skill_of: Mapping[str, str], capacity: Capacity,
           declined: Mapping[int, AbstractSet[str]], missed: Mapping[int, AbstractSet[str]]) -> list[tuple[int, str]]:
    """New offers (ticket, agent) for `items` (ranked, unassigned, not offered now). `skill_of`:
    queue → the skill it asks for ("" none); `declined`: ticket → agents who declined it (never
    offered it again); `missed`: ticket → agents who let its offer expire (offered again only when
    nobody else can take it)."""
    left = {s.name: room(s, capacity) for s in seats}
    last = {s.name: s.last_offered for s in seats}
    out: list[tuple[int, str]] = []
    for item in items:
        members = [s for s in seats if item.queue in s.queues and left[s.name] > 0
                   and s.name not in declined.get(item.ticket, ())]
        fresh = [s for s in members if s.name not in missed.get(item.ticket, ())]
        free = fresh or members
        if not free:
            continue
        skill = skill_of.get(item.queue, "")
        best = min(free, key=lambda s: (-(s.skills.get(skill, 0) if skill else 0), -left[s.name], last[s.name],
                                        s.name))
        left[best.name] -= 1
        last[best.name] = max(last.values(), default=0.0) + 1e-6  # the next item goes to someone else first
        out.append((item.ticket, best.name))
    return out


def expired(offered: Mapping[int, tuple[str, float]], now: float) -> list[int]:
    """The offers (ticket → (agent, expires at)) whose time is up."""
    return [ticket for ticket, (_, until) in offered.items() if until <= now]
