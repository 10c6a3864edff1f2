"""Calls into the store: the call log, which never makes a caller wait (docs/design.md#14).

The log is an inline bus subscriber that only appends each call event to its backlog (memory,
bounded by `store.backlog`): the pump and the IVR never wait on the store. Its own task takes the
backlog in batches (up to BATCH events), folds each batch into one change per call
(tickets/call_batch.py) and writes it in one transaction on the store's own thread
(tickets/call_writes.py), in stream order. A batch the database refuses for a moment (locked,
restarting) is tried again with backoff, whole. Then it announces what it wrote: `CallStored` (a
call's end is on its ticket: the missed-call SMS follows), `TranscriptionQueued` (a voicemail to
transcribe).

Nothing is lost to a crash or an overflow: a call whose steps were in a batch that never
committed, or that did not fit in the backlog, is written from Asterisk's own CDR after the next
resync (tickets/reconcile.py), once per Linkedid; after an overflow the log reconciles as soon as
its backlog has drained.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from sqlalchemy.exc import DBAPIError, OperationalError

from callcenter.calls import recording
from callcenter.core import events as ev
from callcenter.core.events import CallRecord
from callcenter.tickets.call_batch import EVENTS, Batch, Folder, identified_in
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)

__all__ = ["CallLog", "EVENTS", "topic"]

BATCH = 500  # events per transaction at most (a burst's backlog drains in a few of them)
SLOW_BATCH = 5.0  # seconds a batch may take before status reports the database as not answering
RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between tries of a batch the database refused; then every 8 s


class CallLog:
    """The calls' writer: `on_event` (inline, never blocks), `run()` (the writing task),
    `describe()` (the backlog for `status`). `topic_of(did)` names the ticket topic of a DID (the
    queue it serves); `recording_of(record)` is a recorded call's file; `settings()` gives
    (short_calls, backlog limit, transcription language)."""

    def __init__(self, core: TicketCore, topic_of: Callable[[str], str], *,
                 settings: Callable[[], tuple[str, int, str]] = lambda: ("file", 200_000, "auto"),
                 publish: Callable[[Any], Awaitable[None]] | None = None,
                 recording_of: Callable[[CallRecord], Path | None] = lambda record: None,
                 reconcile: Callable[[], Awaitable[object]] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """`reconcile()` writes the calls that ended unseen (tickets/reconcile.py): after each
        resync and after an overflow, in this same task, so the store's writes stay in one order."""
        self.core, self.settings, self.publish, self.recording_of = core, settings, publish, recording_of
        self.reconcile, self.sleep = reconcile, sleep
        self.folder = Folder(topic_of, identified_in(core.store.policy.default_region))
        self.backlog: collections.deque[Any] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits and nothing is being written
        self._idle.set()
        self.peak = self.dropped = self.batches = self.written = self.failed = 0
        self.overflowed = False
        # Calls whose end did not reach the store (not held, or in a batch that failed): the CDR's
        # reconciliation writes them although the controller saw them end.
        self.unwritten: set[str] = set()
        self.last_batch: dict[str, Any] = {}
        self.in_flight = 0  # events taken from the backlog whose batch is not written yet
        self._stored_waiters: dict[str, list[asyncio.Future[None]]] = {}  # call id → who waits for its row
        self.batch_since = 0.0  # when that batch was taken (epoch seconds)
        self.refused: tuple[float, str] | None = None  # (since, why) while the database refuses the batch

    def on_event(self, event: Any) -> None:
        """Inline bus subscriber: hold the event for the writer (or count it, when the backlog is full)."""
        if len(self.backlog) >= self.settings()[1]:
            self.dropped += 1
            if isinstance(event, ev.CallEnded):
                self.unwritten.add(event.record.call_id)
            if not self.overflowed:
                log.error("store: the call log's backlog is full (%d events): calls are written from Asterisk's "
                          "CDR once it drains", len(self.backlog))
            self.overflowed = True
            return
        self.backlog.append(event)
        self.peak = max(self.peak, len(self.backlog))
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Write the backlog in batches until cancelled."""
        while True:
            if not self.backlog:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            events = [self.backlog.popleft() for _ in range(min(BATCH, len(self.backlog)))]
            self.in_flight, self.batch_since = len(events), time.time()
            batch = self.folder.fold(events)
            try:
                await self._write(batch, len(events))
            finally:
                self.in_flight, self.refused = 0, None
            if batch.resync or (self.overflowed and not self.backlog):
                self.overflowed = False
                await self._reconcile()

    async def _write(self, batch: Batch, size: int) -> None:
        for change in batch.calls:  # a recorded call's file: its length, bytes, checksum (read off the loop)
            if change.ended is not None and change.counts:
                path = self.recording_of(change.ended)
                if path is not None:
                    change.values.update(await asyncio.to_thread(recording.facts, path))
        short_calls, _, language = self.settings()
        started = time.monotonic()
        attempt = 0
        while True:  # the database away for a while (locked, restarting): waited out, never dropped
            try:
                written = await self.core.call_writes.write(batch, short_calls=short_calls, language=language)
                break
            except (OperationalError, DBAPIError, OSError) as exc:
                delay = RETRIES[min(attempt, len(RETRIES) - 1)]
                attempt += 1
                why = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
                self.refused = (self.refused or (time.time(), ""))[0], f"{type(exc).__name__}: {why}"
                log.warning("store: %s writing %d call events; trying again in %g s", type(exc).__name__, size, delay)
                await self.sleep(delay)
            except Exception:  # noqa: BLE001 - a bug must not stop the calls' log (docs/design.md#11)
                self.failed += 1
                self.overflowed = True  # what it held comes back from Asterisk's CDR
                self.unwritten.update(c.call_id for c in batch.calls if c.ended is not None)
                log.exception("store: a batch of %d call events could not be written; reconciling from the CDR", size)
                return
        self.folder.written(batch)
        for change in batch.calls:
            for waiter in self._stored_waiters.pop(change.call_id, []) if change.counts else []:
                if not waiter.done():
                    waiter.set_result(None)
        self.batches, self.written = self.batches + 1, self.written + size
        self.last_batch = {"events": size, "calls": len(batch.calls), "created": written.interactions,
                           "seconds": round(time.monotonic() - started, 3)}
        if self.publish is not None:
            for change in batch.calls:  # follow-ups (the missed-call SMS) run in their own subscribers
                row = written.ended.get(change.call_id)
                if change.ended is not None and row is not None:
                    await self.publish(ev.CallStored(change.ended, dict(row), change.ended.ended_at or time.time()))
            for job in written.jobs:
                await self.publish(ev.TranscriptionQueued(job, time.time()))

    async def stored(self, call_id: str, timeout: float) -> bool:
        """Wait at most `timeout` seconds until the live call `call_id` has its interaction in
        the store (a screen pop shows its ticket: the call's row is written once it reached a
        queue, a moment after). True if it has; False at once for a withheld caller."""
        state = self.folder.live.get(call_id)
        if state is not None and state.stored:
            return True
        if state is not None and not self.folder.reachable(state.contact):
            return False  # withheld: written once an agent answers, not at the queue (call_batch.py)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._stored_waiters.setdefault(call_id, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._stored_waiters.pop(call_id, None)

    async def drained(self) -> None:
        """Return once every event held so far is written (tests, benches)."""
        await self._idle.wait()

    async def _reconcile(self) -> None:
        if self.reconcile is None:
            return
        try:
            await self.reconcile()
            self.unwritten.clear()
        except Exception:  # noqa: BLE001 - tried again at the next resync; the log goes on
            log.exception("store: reconciling with Asterisk's CDR failed")

    def describe(self) -> dict[str, Any]:
        """The log's part of the store's status: events not written yet (`backlog`, the batch
        being written included), its peak, events not held (`dropped`), batches and events
        written, the last batch, and `refused` (why and since when the database refuses the
        batch or has not answered it for SLOW_BATCH seconds, epoch seconds; null otherwise)."""
        refused = None if self.refused is None else {"since": self.refused[0], "error": self.refused[1]}
        if refused is None and self.in_flight and time.time() - self.batch_since > SLOW_BATCH:
            refused = {"since": self.batch_since, "error": "the database has not answered yet (locked? full?)"}
        return {"backlog": len(self.backlog) + self.in_flight, "backlog_peak": self.peak,
                "backlog_dropped": self.dropped, "batches": self.batches, "batches_failed": self.failed,
                "events_written": self.written, "last_batch": self.last_batch, "refused": refused}


def topic(dids: Mapping[str, Any], did: str) -> str:
    """A DID's topic: the queue it serves (config `dids.N.queue`), else `general`."""
    return getattr(dids.get(did), "queue", "") or "general"
