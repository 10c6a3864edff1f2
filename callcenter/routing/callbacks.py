"""Queue callback: a waiting caller presses * to hang up and keep their place; we call them back.

A request remembers when the caller joined the queue. It is dialed (AMI Originate through the
trunk) only when an agent of that queue is free AND no caller still on the line has waited longer:
callers on the line are never starved, and the called-back customer re-enters the queue at the
front (high priority), which is the place they kept.

Never two callbacks for one request: the request is written down as `dialing` (with the id of
the attempt, which becomes the Asterisk channel's uniqueid) before the Originate is sent, and an
Originate is never re-sent after a reconnect. A controller that restarts finds `dialing` requests
and asks Asterisk whether that channel exists before deciding anything. A failed attempt (no
answer, busy, unreachable) is retried after `retry_seconds`, up to `attempts` times, then the
request is recorded as failed.

`due()` is the pure policy; `CallbackBook` keeps the requests: in the ticket store when there is
one (a `Keeper` writes each changed request, in order; `flush()` waits until it is written, which
the dialer does before every Originate), else in `<runtime>/callbacks.json`, rewritten at every
change.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal, Mapping

from callcenter.core.keeper import Keeper

CallbackState = Literal["pending", "dialing", "connected", "failed"]


@dataclass
class CallbackRequest:
    """One caller's request to be called back, with the place they kept (`joined_at`)."""

    id: str
    queue: str
    number: str
    joined_at: float  # when the caller first joined the queue: the place they keep
    requested_at: float
    state: CallbackState = "pending"
    attempts: int = 0
    next_try_at: float = 0.0
    attempt_id: str = ""  # the Originate's ActionID and the channel's uniqueid
    last_error: str = ""
    call_id: str = ""  # the original call's Linkedid


# What carriers and phones send when the caller withheld their number (RFC 3323 "anonymous", and
# the words seen in the wild); none of these, nor an empty number, can be called back.
WITHHELD = frozenset({"", "anonymous", "restricted", "unavailable", "unknown", "private", "withheld",
                      "0"})


def dialable(number: str) -> bool:
    """Can this caller ID be called back through the trunk? 3-20 digits, an optional leading '+'."""
    text = number.strip()
    if text.lower() in WITHHELD:
        return False
    digits = text[1:] if text.startswith("+") else text
    return digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20  # not '٣' or '３': Asterisk's digits


def due(requests: Iterable[CallbackRequest], free_agents: Mapping[str, int],
        oldest_waiting: Mapping[str, float | None], now: float) -> list[CallbackRequest]:
    """Which requests to dial now: per queue, at most one in flight, only with a free agent, oldest
    place first, and only if no caller on the line has been waiting longer."""
    out = []
    requests = list(requests)
    busy = {r.queue for r in requests if r.state == "dialing"}
    for queue in sorted({r.queue for r in requests}):
        if queue in busy or free_agents.get(queue, 0) <= 0:
            continue
        ready = [r for r in requests if r.queue == queue and r.state == "pending" and r.next_try_at <= now]
        if not ready:
            continue
        first = min(ready, key=lambda r: r.joined_at)
        waiting_since = oldest_waiting.get(queue)
        if waiting_since is not None and waiting_since < first.joined_at:
            continue  # a caller on the line has waited longer: the queue serves them first
        out.append(first)
    return out


def read_file(path: Path) -> list[CallbackRequest]:
    """The requests of a callbacks.json (none if there is no file). Errors: OSError, ValueError."""
    if not path.exists():
        return []
    return [CallbackRequest(**row) for row in json.loads(path.read_text())]


class CallbackBook:
    """The open and settled requests, written down at every change (never dialed twice): through
    `keeper` (the store), or into the JSON file `path`."""

    def __init__(self, path: Path | None, attempts: int = 3, retry_seconds: int = 60,
                 keeper: Keeper | None = None, requests: Iterable[CallbackRequest] = ()) -> None:
        self.path, self.attempts, self.retry_seconds, self.keeper = path, attempts, retry_seconds, keeper
        self.requests: dict[str, CallbackRequest] = {}
        for request in (read_file(path) if path is not None and keeper is None else requests):
            self.requests[request.id] = request

    def save(self, request: CallbackRequest) -> None:
        if self.keeper is not None:
            self.keeper.put(asdict(request))
        elif self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps([asdict(r) for r in self.requests.values()], indent=2))
            os.replace(tmp, self.path)

    async def flush(self) -> None:
        """Wait until every change so far is written (a file is written at once)."""
        if self.keeper is not None:
            await self.keeper.flush()

    def request(self, queue: str, number: str, joined_at: float, now: float, call_id: str) -> CallbackRequest:
        """A caller asked; one open request per number and queue (pressing * twice is one request)."""
        for r in self.requests.values():
            if r.queue == queue and r.number == number and r.state in ("pending", "dialing"):
                return r
        request = CallbackRequest(uuid.uuid4().hex[:12], queue, number, joined_at, now, call_id=call_id)
        self.requests[request.id] = request
        self.save(request)
        return request

    def start_attempt(self, request: CallbackRequest) -> str:
        """Written down before the Originate is sent (the dialer awaits `flush()`): a crash after
        this never dials twice."""
        request.attempts += 1
        request.state = "dialing"
        request.attempt_id = f"cb-{request.id}-{request.attempts}"
        self.save(request)
        return request.attempt_id

    def by_attempt(self, attempt_id: str) -> CallbackRequest | None:
        return next((r for r in self.requests.values() if r.attempt_id == attempt_id), None)

    def finished(self, request: CallbackRequest, answered: bool, reason: str, now: float) -> None:
        if answered:
            request.state = "connected"
        elif request.attempts >= self.attempts:
            request.state, request.last_error = "failed", reason
        else:
            request.state, request.last_error = "pending", reason
            request.next_try_at = now + self.retry_seconds
        self.save(request)

    def next_wakeup(self, now: float) -> float | None:
        """The next retry time still ahead (epoch seconds), or None: the dialer sleeps until then
        or until an event wakes it."""
        ahead = [r.next_try_at for r in self.requests.values() if r.state == "pending" and r.next_try_at > now]
        return min(ahead) if ahead else None

    def open(self, queue: str | None = None) -> list[CallbackRequest]:
        return sorted((r for r in self.requests.values() if r.state in ("pending", "dialing")
                       and (queue is None or r.queue == queue)), key=lambda r: r.joined_at)
