"""The one event pump (docs/design.md#10): AMI stream → trackers → bus, in order.

Each translated AMI event is applied to the pure trackers (calls, presence), which return the
domain events it caused; the AMI event and then those domain events are published on the bus,
in that order. Connection markers (AmiConnected / AmiDisconnectedEvent) travel the same way, so
the resync happens at the right place in the stream. A tracker that raises is logged and
counted, and the pump goes on (docs/design.md#11). Wrap-ups end by time, not by an event: the pump asks the
presence tracker when to wake (`next_wakeup()`), as aioquic's `get_timer()` does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Callable

from typing import Protocol, Sequence

from callcenter.core import events as ev
from callcenter.core.bus import Bus
from callcenter.core.events import AmiConnected, AmiDisconnectedEvent
from callcenter.core.timers import wait_for_change_or

log = logging.getLogger(__name__)


class Tracker(Protocol):
    """A pure tracker (calls/tracker.py, routing/presence.py): an AMI event in, domain events out."""

    def apply(self, event: Any, now: float) -> list[ev.DomainEvent]: ...


class Timed(Protocol):
    """A tracker with changes due by time, not by an event (presence: wrap-ups end)."""

    def next_wakeup(self) -> float | None: ...

    def tick(self, now: float) -> list[ev.DomainEvent]: ...


class Pump:
    """Reads the AMI stream, applies it to the trackers, publishes what happened, in order."""

    def __init__(self, stream: Callable[[], AsyncIterator[Any]], bus: Bus, trackers: Sequence[Tracker],
                 timed: Timed, clock: Callable[[], float],
                 event_time: Callable[[], float | None] = lambda: None) -> None:
        """`trackers` are applied to each event in this order; `timed` is asked when to wake."""
        self.stream, self.bus, self.trackers, self.timed, self.clock = stream, bus, tuple(trackers), timed, clock
        self.event_time = event_time
        self.events = 0
        self.tracker_errors = 0
        self._timer_changed = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._wrapups(), name="wrap-up timer")
            async for item in self.stream():
                await self.feed(item)

    async def feed(self, item: Any) -> None:
        """One item of the AMI stream: a translated event or a connection marker."""
        self.events += 1
        if isinstance(item, (AmiConnected, AmiDisconnectedEvent)):
            await self.bus.publish(item)
            return
        # When it happened, as Asterisk says (timestampevents), not when we got to it: a backlog
        # after a busy moment must not shift call records.
        now = self.event_time() or self.clock()
        changes: list[ev.DomainEvent] = []
        try:
            for tracker in self.trackers:
                # A later tracker also sees what the earlier ones concluded (presence credits an
                # agent's part of a call when the call tracker ends it: AgentLegEnded).
                earlier = list(changes)
                changes += tracker.apply(item, now)
                for change in earlier:
                    changes += tracker.apply(change, now)
        except Exception:  # noqa: BLE001 - a tracker bug must not stop the stream (docs/design.md#11)
            self.tracker_errors += 1
            log.exception("tracking failed on %r; going on", item)
        await self.bus.publish(item)
        for change in changes:
            if isinstance(change, ev.AgentStateChanged) and change.state == "wrapup":
                self._timer_changed.set()
            await self.bus.publish(change)

    async def publish_changes(self, changes: list[ev.DomainEvent]) -> None:
        for change in changes:
            await self.bus.publish(change)

    async def _wrapups(self) -> None:
        """Publish the end of each wrap-up when it comes (AgentStateChanged wrapup → ready/paused)."""
        while True:
            await wait_for_change_or(self._timer_changed, self.timed.next_wakeup(), self.clock)
            await self.publish_changes(self.timed.tick(self.clock()))
