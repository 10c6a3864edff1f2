"""The in-process event bus: one ordered pump, many subscribers (docs/design.md#10, #11).

Two kinds of subscriber:
- **inline**: a plain function called during `publish()`, in publish order, for what must happen
  in order with the calls (driving a caller through the IVR, settling a callback). It must be
  quick and must not block; to do I/O it starts a task of its own feature.
- **queued**: an async function with its own bounded queue and task (the ticket writer, the
  browser push, the transcription worker). When its queue is full, its `on_full` policy decides:
  `"wait"` makes the publisher wait (nothing is ever dropped: the store), `"drop"` drops that
  subscriber's *event* and counts it (a slow browser must not slow the calls).

A subscriber that raises is logged with the event and counted (`stats()`, shown by
`callcenter status`), and delivery goes on: a Python bug never drops a call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

log = logging.getLogger(__name__)

OnFull = Literal["wait", "drop"]


@dataclass
class _Subscriber:
    name: str
    types: tuple[type, ...]  # () = every event
    inline: Callable[[Any], None] | None = None
    queued: Callable[[Any], Awaitable[None]] | None = None
    queue: asyncio.Queue[Any] | None = None
    on_full: OnFull = "wait"
    handled: int = 0
    errors: int = 0
    dropped: int = 0
    last_error: str = ""
    _last_logged: float = field(default=0.0, repr=False)

    def wants(self, event: Any) -> bool:
        return not self.types or isinstance(event, self.types)

    def failed(self, event: Any, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        # Logged in full the first times, then once a minute: a subscriber failing on every event
        # must not flood the log (it is counted either way).
        now = asyncio.get_running_loop().time()
        if self.errors <= 5 or now - self._last_logged > 60:
            self._last_logged = now
            log.error("subscriber %s failed on %r (error %d; the other subscribers go on)", self.name, event,
                      self.errors, exc_info=exc)


class Bus:
    """Deliver events to subscribers; `run()` drives the queued ones until cancelled."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self.published = 0

    def subscribe(self, name: str, handler: Callable[[Any], None], *types: type) -> None:
        """Call `handler(event)` inline for every event of `types` (all events if none)."""
        self._subscribers.append(_Subscriber(name, types, inline=handler))

    def subscribe_queued(self, name: str, handler: Callable[[Any], Awaitable[None]], *types: type,
                         maxsize: int = 10_000, on_full: OnFull = "wait") -> None:
        """Run `await handler(event)` in this subscriber's own task, fed by a bounded queue."""
        self._subscribers.append(_Subscriber(name, types, queued=handler, queue=asyncio.Queue(maxsize),
                                             on_full=on_full))

    async def publish(self, event: Any) -> None:
        """Hand one event to every subscriber that wants it, in subscription order."""
        self.published += 1
        for sub in self._subscribers:
            if not sub.wants(event):
                continue
            if sub.inline is not None:
                try:
                    sub.inline(event)
                    sub.handled += 1
                except Exception as exc:  # noqa: BLE001 - the crash policy: count, log, go on
                    sub.failed(event, exc)
                continue
            assert sub.queue is not None
            if sub.on_full == "drop":
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.dropped += 1
            else:
                await sub.queue.put(event)

    async def run(self) -> None:
        """Drive every queued subscriber until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for sub in self._subscribers:
                if sub.queued is not None:
                    tasks.create_task(self._drain(sub), name=f"subscriber {sub.name}")

    async def _drain(self, sub: _Subscriber) -> None:
        assert sub.queue is not None and sub.queued is not None
        while True:
            event = await sub.queue.get()
            try:
                await sub.queued(event)
                sub.handled += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the crash policy
                sub.failed(event, exc)
            finally:
                sub.queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued subscriber has handled what was published (tests, benches)."""
        for sub in self._subscribers:
            if sub.queue is not None:
                await sub.queue.join()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per subscriber: kind, events handled, errors (and the last one), dropped, queued."""
        return {s.name: {"kind": "inline" if s.inline else "queued", "handled": s.handled, "errors": s.errors,
                         "last_error": s.last_error, "dropped": s.dropped,
                         "queued": s.queue.qsize() if s.queue is not None else 0}
                for s in self._subscribers}

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self._subscribers)
