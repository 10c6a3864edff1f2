"""The callback dialer: dials the queue-callback requests whose turn it is (routing/callbacks.py).

It does not poll. It sleeps until something that can make a request due happens — an agent's
state changed, a queue's waiting list changed, a request was made or an attempt ended (bus
events) — or until the book's next retry time (`CallbackBook.next_wakeup()`), then asks the pure
policy `due()` what to dial. One Originate per attempt, written down before it is sent, never
re-sent (callbacks.py says why).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from callcenter.core import events as ev
from callcenter.ami import actions
from callcenter.ami.actions import LiveChannel
from callcenter.ami.client import AmiError
from callcenter.ami.port import AmiPort
from callcenter.ami.events import OriginateFinished
from callcenter.core.bus import Bus
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.routing.callbacks import CallbackBook, CallbackRequest, dialable, due
from callcenter.routing.queues import QueueControl
from callcenter.routing.presence import Presence
from callcenter.core.timers import wait_for_change_or

log = logging.getLogger(__name__)

# What can make a request due (or settle one): the dialer wakes on these.
EVENTS = (ev.AgentStateChanged, ev.QueueChanged, ev.CallbackRequested, ev.PictureRebuilt, OriginateFinished)


class CallbackDialer:
    """Takes callback requests and dials them when `due()` says so (a bus subscriber)."""

    def __init__(self, config: Config, ami: AmiPort, bus: Bus, book: CallbackBook, presence: Presence,
                 queues: QueueControl, tracker: CallTracker, clock: Callable[[], float]) -> None:
        self.config, self.ami, self.bus, self.book, self.tracker = config, ami, bus, book, tracker
        self.presence, self.queues, self.clock = presence, queues, clock
        self._wake = asyncio.Event()
        self.rounds = 0

    async def request(self, queue: str, number: str, joined_at: float, call_id: str) -> CallbackRequest:
        """A waiting caller pressed * (one open request per number and queue)."""
        request = self.book.request(queue, number, joined_at, self.clock(), call_id)
        await self.bus.publish(ev.CallbackRequested(request.id, queue, number, call_id, self.clock()))
        return request

    def on_event(self, event: Any) -> None:
        """Inline subscriber: settle an attempt's result; wake the dialer."""
        if isinstance(event, OriginateFinished):
            request = self.book.by_attempt(event.action_id)
            if request is not None:
                self.book.finished(request, event.success, f"reason {event.reason}", self.clock())
                log.info("callback %s to %s: %s", request.id, request.number,
                         "answered" if event.success else f"not answered ({request.state}, reason {event.reason})")
        self._wake.set()

    def settle_lost(self, channels: list[LiveChannel]) -> None:
        """After a reconnect: an attempt whose result was lost with the connection is settled by
        whether its channel exists (the attempt id is the channel's uniqueid)."""
        live = {ch.uniqueid for ch in channels}
        for request in self.book.open():
            if request.state == "dialing":
                answered = request.attempt_id in live
                self.book.finished(request, answered, "" if answered else "lost during a reconnect", self.clock())

    def free_agents(self, queue: str) -> int:
        now = self.clock()
        return sum(self.presence.agents[a].state(now) == "ready" and not self.queues.paused_in(a, queue)
                   for a in self.queues.state.members.get(queue, {}) if a in self.presence.agents)

    async def run(self) -> None:
        while True:
            await wait_for_change_or(self._wake, self.book.next_wakeup(self.clock()), self.clock)
            if self.ami.state != "connected" or not self.book.open():
                continue
            try:
                await self.dial_due()
            except Exception:  # one bad round must not stop the callbacks (nor the controller)
                log.exception("callback dialing failed; trying again at the next change")

    async def dial_due(self) -> None:
        """Dial the requests `due()` picks: one Originate each, never re-sent."""
        self.rounds += 1
        free = {q: self.free_agents(q) for q in self.config.queues}
        oldest = {name: min((t for t, _ in numbers.waiting.values()), default=None)
                  for name, numbers in self.presence.queues.items()}
        for request in due(self.book.open(), free, oldest, self.clock()):
            if not dialable(request.number):  # (a request from before this check existed)
                request.attempts = max(request.attempts, self.book.attempts)
                self.book.finished(request, False, "caller ID cannot be dialed", self.clock())
                continue
            attempt = self.book.start_attempt(request)
            await self.book.flush()  # `dialing` is on disk before the Originate leaves
            # The channel the Originate makes gets this uniqueid: its record is the callback's.
            self.tracker.expect_callback(attempt, request.call_id, request.id, request.number)
            log.info("callback %s: calling %s back for queue %s (attempt %d)", request.id, request.number,
                     request.queue, request.attempts)
            try:
                await self.ami.send(actions.originate(
                    action_id=attempt, channel=f"PJSIP/{request.number}@{self.config.trunk.name}",
                    context="cc-callback", exten="s",
                    caller_id=f"\"{request.queue}\" <{next(iter(self.config.dids), '')}>",
                    variables={"CC_CB_QUEUE": request.queue, "CC_CB_ID": request.id,
                               "CC_CB_NUMBER": request.number}))
            except AmiError as exc:
                # Sent or not, we cannot tell: the request stays `dialing` until the Originate's
                # own result, or the next resync, says whether that channel exists. Never re-sent.
                log.warning("callback %s: %s; waiting for Asterisk to say what happened", request.id, exc)
            except Exception as exc:  # e.g. a number that cannot be dialed (invalid-text): never retried
                request.attempts = max(request.attempts, self.book.attempts)
                self.book.finished(request, False, f"cannot dial: {exc}", self.clock())
                log.error("callback %s: cannot dial %r: %s", request.id, request.number, exc)
