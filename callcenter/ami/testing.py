"""A stand-in for the AMI connection, for tests and benchmarks (like panoramisk's own `testing`).

`FakeAmi` satisfies `callcenter.ami.port.AmiPort`: hand it to `app.build(config, ami=FakeAmi(...))`
and the whole controller runs without an Asterisk. It plays a scripted event stream (translated
events and connection markers, e.g. the traffic recorded from the real Asterisk in
tests/fixtures/ami/ put through `callcenter.ami.events.translate`), answers every action with a
canned reply (or "Success"; an empty list for list actions) and keeps what was sent.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterable, Mapping, TypeVar

from callcenter.ami.actions import Action

R = TypeVar("R")


class FakeAmi:
    """A scripted event stream, canned answers, a log of what was sent.

    `items` are yielded by `events()` in order; then `done` is set and the stream stays open
    (as a live connection does). `replies` maps an action name ("QueueStatus") to the raw AMI
    answer its parser reads: a dict (one response) or a list of dicts (an event list)."""

    def __init__(self, items: Iterable[Any] = (), replies: Mapping[str, Any] | None = None) -> None:
        self.items = items
        self.replies = dict(replies or {})
        self.sent: list[Action[Any]] = []
        self.state = "connected"
        self.connected_since: float | None = None
        self.last_error = ""
        self.events_seen = 0
        self.translate_errors = 0
        self.event_time: float | None = None
        self.done = asyncio.Event()

    async def events(self) -> AsyncIterator[Any]:
        for item in self.items:
            self.events_seen += 1
            yield item
        self.done.set()
        await asyncio.Event().wait()

    async def send(self, action: Action[R], timeout: float | None = None) -> R:
        self.sent.append(action)
        raw = self.replies.get(action.name)
        if raw is None:
            raw = [] if action.as_list else {"Response": "Success", "Message": "ok"}
        return action.parse(raw)
