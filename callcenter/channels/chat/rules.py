"""Web chat's rules, without I/O: who may take a chat, which agent gets the next one, where a
waiting visitor stands, when an agent's chats go back to the queue and when a silent chat ends,
which files a visitor may send, what a visitor's id and contact are (docs/chat.md).

Routing: a chat waits in a queue of callcenter.yaml; the agents who may take it are the queue's
members (`agents.NAME.queues`, their skill) with a workspace page open and not paused, below their
capacity. Capacity is `chat.max_per_agent`; while the agent's phone rings or is on a call it is
`chat.max_while_on_call` (default 1: a call and one chat at a time; 0: no new chat during a call).
The oldest waiting chat goes first, to the agent with the highest level of the queue's skill, then
the fewest chats, then the one whose last chat came longest ago.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from callcenter.core.errors import Refused
from callcenter.core.text import clean_text
from callcenter.tickets import identity

# What a visitor may attach, told by the file's first bytes (never by its name or the browser's word).
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # + "WEBP" at offset 8 (checked below)
    "application/pdf": (b"%PDF-",),
}


def sniff(data: bytes) -> str | None:
    """The attachment's type from its magic bytes, or None if it is not one we take."""
    for kind, magics in ATTACHMENT_TYPES.items():
        if any(data.startswith(m) for m in magics):
            if kind == "image/webp" and data[8:12] != b"WEBP":
                continue
            return kind
    return None


@dataclass(frozen=True)
class Seat:
    """An agent as chat routing sees them."""

    name: str
    queues: tuple[str, ...]
    skills: dict[str, int]
    online: bool  # a workspace page open
    paused: bool
    on_call: bool  # their phone rings or is on a call
    chats: int  # chats they hold now
    last_assigned: float = 0.0  # epoch seconds of their last chat (0: never)


@dataclass(frozen=True)
class Waiting:
    chat_id: int
    queue: str
    since: float  # epoch seconds it started waiting
    prefer: str = ""  # an agent it goes back to first (the one it had before a restart or reload)


def capacity(seat: Seat, max_per_agent: int, max_while_on_call: int) -> int:
    """How many chats this agent may hold now."""
    if not seat.online or seat.paused:
        return 0
    return min(max_per_agent, max_while_on_call) if seat.on_call else max_per_agent


def has_room(seat: Seat, max_per_agent: int, max_while_on_call: int) -> bool:
    """This agent may take one more chat now (a transfer to them is refused otherwise)."""
    return seat.chats < capacity(seat, max_per_agent, max_while_on_call)


def can_take(seat: Seat, queue: str) -> bool:
    return queue in seat.queues


def online(seats: Iterable[Seat], queue: str) -> bool:
    """Someone could answer this queue's chats (now or once they finish one): else the widget
    offers the leave-a-message form."""
    return any(s.online and not s.paused and can_take(s, queue) for s in seats)


def route(waiting: Sequence[Waiting], seats: Sequence[Seat], skill_of: dict[str, str], max_per_agent: int,
          max_while_on_call: int) -> list[tuple[int, str]]:
    """Assignments (chat id, agent) for the waiting chats, oldest first. `skill_of`: queue → the
    skill it asks for ("" none)."""
    load = {s.name: s.chats for s in seats}
    last = {s.name: s.last_assigned for s in seats}
    room = {s.name: capacity(s, max_per_agent, max_while_on_call) for s in seats}
    out: list[tuple[int, str]] = []
    for w in sorted(waiting, key=lambda w: (w.since, w.chat_id)):
        free = [s for s in seats if can_take(s, w.queue) and load[s.name] < room[s.name]]
        if not free:
            continue
        skill = skill_of.get(w.queue, "")
        preferred = [s for s in free if s.name == w.prefer]
        best = preferred[0] if preferred else min(
            free, key=lambda s: (-(s.skills.get(skill, 0) if skill else 0), load[s.name], last[s.name], s.name))
        load[best.name] += 1
        last[best.name] = w.since if w.since > last[best.name] else last[best.name] + 1e-6
        out.append((w.chat_id, best.name))
    return out


def positions(waiting: Sequence[Waiting]) -> dict[int, int]:
    """Each waiting chat's place in its queue (1 = next)."""
    out: dict[int, int] = {}
    count: dict[str, int] = {}
    for w in sorted(waiting, key=lambda w: (w.since, w.chat_id)):
        count[w.queue] = count.get(w.queue, 0) + 1
        out[w.chat_id] = count[w.queue]
    return out


def to_tell(places: Mapping[int, int], told: Mapping[int, int]) -> dict[int, int]:
    """The waiting chats whose visitor must hear their new place: `places` (chat id → place, as
    `positions` gives them) that differ from the place last `told`, in the order of `places`."""
    return {chat_id: place for chat_id, place in places.items() if told.get(chat_id) != place}


def lost(away_since: float, now: float, grace_seconds: float) -> bool:
    """An active chat whose agent has had no page open since `away_since` (epoch seconds) goes
    back to its queue once `grace_seconds` (`chat.agent_grace_seconds`) have passed."""
    return now - away_since >= grace_seconds


def idle(last_activity: float, now: float, idle_end_minutes: float, visitor_online: bool) -> bool:
    """A chat with no message and no visitor page (`visitor_online` false) since `last_activity`
    (epoch seconds) for `idle_end_minutes` (`chat.idle_end_minutes`) ends."""
    return now - last_activity >= idle_end_minutes * 60 and not visitor_online


def visitor_id(token: str) -> str:
    """The visitor's id in the store: sha256 of their token (the secret their browser keeps), 32
    hex digits; neither the agents nor the store hold a token that would open someone's chat."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def contact(body: Mapping[str, Any], region: str) -> dict[str, str]:
    """name / email / phone as the visitor gave them: text, one line, bounded (100, 254, 32
    characters); an email or phone that identifies nobody is refused here, as the offline form and
    verify would refuse it. `region`: the default region of phone numbers (`store.default_region`).
    Errors: Refused `bad-request`, IdentityError `invalid-identity`."""
    out = {}
    for key, limit in (("name", 100), ("email", 254), ("phone", 32)):
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise Refused("bad-request", f"{key} must be text")
        text = " ".join(clean_text(value).split())[:limit]  # one line: a name is never a header
        if not text:
            continue
        if key != "name":
            ident = identity.parse(key, text, region)
            if ident is None or not ident.valid:  # a phone kept raw elsewhere is refused from a visitor
                raise identity.IdentityError(f"{text[:40]!r} is no {key}")
        out[key] = text
    return out
