"""Calls into the store: a queued bus subscriber that writes each call's business steps.

One transaction per step (started, queued, answered, ended) — not per AMI event — in stream
order (one queue, `on_full="wait"`: the store never drops a step; docs/design.md#10). A step the
database refuses for a moment (locked, restarting) is retried with backoff; one that still fails
is logged and counted by the bus, and the call is completed at the end step or by the CDR
reconciliation at the next start. Voicemails become their own interaction on the call's ticket.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from sqlalchemy.exc import DBAPIError, OperationalError

from callcenter.core import events as ev
from callcenter.calls import recording
from callcenter.core.events import CallRecord
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)

OUTBOUND = ("callback", "outbound")  # calls we placed: the other party is the customer
EVENTS = (ev.CallStarted, ev.CallerQueued, ev.AgentConnected, ev.CallEnded, ev.VoicemailRecorded,
          ev.CallbackRequested, ev.PictureRebuilt)
RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)  # seconds between tries of a step the database refused


def _seconds(start: float | None, end: float | None) -> int | None:
    return None if start is None or end is None else max(0, round(end - start))


def ended_values(record: CallRecord) -> dict[str, Any]:
    """The interaction's columns from a call's final record (durations in whole seconds)."""
    waited_until = record.agent_answered_at or record.ended_at
    return {"ended_at": record.ended_at, "did": record.did, "queue": record.queue or "", "agent": record.agent or "",
            "flow": record.flow, "ivr_path": list(record.ivr_path), "variables": dict(record.variables),
            "wait_seconds": _seconds(record.queued_at, waited_until) if record.queue else None,
            "talk_seconds": _seconds(record.agent_answered_at, record.ended_at),
            "hangup_cause": record.hangup_cause, "hangup_cause_text": record.hangup_cause_text,
            "hung_up_by": record.hung_up_by, "abandoned": record.abandoned,
            "callback_request": record.callback_request, "record": record.as_dict()}


class CallWriter:
    """Turns call events into interactions. `topic_of(did)` names the business topic of a DID
    (the queue it serves), which decides the ticket a call joins."""

    def __init__(self, core: TicketCore, topic_of: Callable[[str], str], *,
                 publish: Callable[[Any], Awaitable[None]] | None = None,
                 recording_of: Callable[[CallRecord], Path | None] = lambda record: None,
                 transcription_language: Callable[[], str] = lambda: "auto",
                 after_resync: Callable[[], Awaitable[object]] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """`publish` announces what was written (CallStored after a call's end, TranscriptionQueued
        after a voicemail); `after_resync` writes the calls that ended unseen (tickets/reconcile.py)
        after each resync, in this same task, so the store's writes stay in one order."""
        self.core, self.topic_of, self.sleep, self.recording_of = core, topic_of, sleep, recording_of
        self.publish, self.transcription_language, self.after_resync = publish, transcription_language, after_resync
        self._skip: set[str] = set()  # internal calls (agent to agent): not a customer contact

    async def on_event(self, event: ev.DomainEvent) -> None:
        for delay in RETRIES + (None,):
            try:
                await self._write(event)
                return
            except (OperationalError, DBAPIError, OSError) as exc:
                if delay is None:
                    raise
                log.warning("store: %s on %s; retrying in %g s", type(exc).__name__, type(event).__name__, delay)
                await self.sleep(delay)

    async def _write(self, event: ev.DomainEvent) -> None:
        calls = self.core.calls
        if isinstance(event, ev.CallStarted):
            if event.direction == "internal":
                self._skip.add(event.call_id)
                return
            await calls.step(event.call_id, step="started", caller_id=event.caller_id,
                             caller_name=event.caller_name, did=event.did, topic=self.topic_of(event.did),
                             direction="outbound" if event.direction in OUTBOUND else "inbound",
                             callback_of=event.callback_of, started_at=event.at, ticket_id=event.outbound_ticket)
        elif isinstance(event, ev.CallerQueued):
            if event.call_id not in self._skip:
                await calls.step(event.call_id, step="queued", values={"queue": event.queue})
        elif isinstance(event, ev.AgentConnected):
            if event.call_id not in self._skip:
                await calls.step(event.call_id, step="answered", first_response=True,
                                 values={"queue": event.queue, "agent": event.agent,
                                         "wait_seconds": event.hold_seconds})
        elif isinstance(event, ev.CallEnded):
            record = event.record
            if record.call_id in self._skip or record.direction == "internal":
                self._skip.discard(record.call_id)
                return
            values = ended_values(record)
            path = self.recording_of(record)
            if path is not None:
                values.update(await asyncio.to_thread(recording.facts, path))
            row = await calls.step(record.call_id, step="ended", caller_id=record.caller_id,
                                   caller_name=record.caller_name, did=record.did, topic=self.topic_of(record.did),
                                   direction="outbound" if record.direction in OUTBOUND else "inbound",
                                   callback_of=record.callback_of, started_at=record.started_at,
                                   values=values, ticket_id=record.outbound_ticket)
            if self.publish is not None:  # follow-ups (the missed-call SMS) run in their own subscribers
                await self.publish(ev.CallStored(record, dict(row), record.ended_at or event.at))
        elif isinstance(event, ev.VoicemailRecorded):
            await calls.step(event.call_id, step="ended", channel="voicemail", caller_id=event.caller_id,
                             did=event.did, topic=self.topic_of(event.did), started_at=event.at - event.seconds,
                             values={"ended_at": event.at, "recording_path": event.path,
                                     "recording_seconds": event.seconds})
            if event.empty:  # nothing to transcribe, nobody to call back: listed as an empty voicemail
                await self.core.jobs.empty_voicemail(event.call_id, event.empty)
                return
            job = await self.core.jobs.queue(event.call_id, self.transcription_language())
            if job is not None and self.publish is not None:
                await self.publish(ev.TranscriptionQueued(job, event.at))
        elif isinstance(event, ev.CallbackRequested):
            await self.core.tickets.request_callback(event.call_id, event.request_id)
        elif isinstance(event, ev.PictureRebuilt) and self.after_resync is not None:
            await self.after_resync()


def topic(dids: Mapping[str, Any], did: str) -> str:
    """A DID's topic: the queue it serves (config `dids.N.queue`), else `general`."""
    return getattr(dids.get(did), "queue", "") or "general"
