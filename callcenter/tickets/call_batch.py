"""What a batch of call events changes in the store (pure: events in, changes out).

The call log (tickets/calls.py) takes the bus's call events in batches and folds each batch here
into one change per call plus the batch's voicemails and callback requests; the store then writes a
whole batch in one transaction (tickets/interactions.py `Calls.write`). The rules:

- A call's interaction is written once the call **counts**: it reached a queue, an agent or a
  voicemail, or we placed it (a callback, a click-to-call). A caller who hangs up in the greeting
  or the menu opens no ticket and makes no customer: with `store.short_calls: file` a known
  customer's short call is kept on their file (no ticket), with `none` it is not stored (it is
  in Asterisk's CDR and the day's counters either way).
- A caller who withheld their number counts only once an agent answered or they left a voicemail:
  nobody can call them back and nothing of theirs is known, so a withheld caller who gives up in
  the queue makes no customer and no ticket (a burst of withheld calls is not a burst of
  customers). One who did reach someone gets an unidentified customer of their own.
- Steps only move forward (started → queued → answered → ended); later values of the same batch
  win; the call's final record (`CallEnded`) carries every column.
- A call's ticket topic (and the queue that works its ticket) is the queue it reached — the flow's
  choice: a caller who pressed 4 for billing gets a billing ticket —, else the queue of its DID.
- Internal calls (agent to agent) are not a customer contact: nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from callcenter.core import events as ev
from callcenter.core.events import CallRecord
from callcenter.tickets import identity

OUTBOUND = ("callback", "outbound")  # calls we placed: the other party is the customer
STEPS = ("started", "queued", "answered", "ended")
EVENTS = (ev.CallStarted, ev.CallerQueued, ev.AgentConnected, ev.CallEnded, ev.VoicemailRecorded,
          ev.CallbackRequested, ev.PictureRebuilt)


@dataclass(frozen=True)
class Contact:
    """Who a call is from and what it is about: what its first write needs."""

    caller_id: str
    caller_name: str
    did: str
    topic: str  # the ticket topic: the queue the call reached (the flow's choice), else the one its DID serves
    direction: str  # inbound | outbound (we placed it: a callback, a click-to-call)
    started_at: float
    callback_of: str = ""  # a callback: the Linkedid of the call that asked for it
    ticket_id: int | None = None  # a click-to-call: the ticket it was made on


@dataclass
class CallState:
    """What the log knows of a live call across batches."""

    contact: Contact | None
    counts: bool = False  # reached a queue, an agent or a voicemail, or we placed it
    stored: bool = False  # its interaction is in the store


@dataclass
class CallChange:
    """One call's change in a batch: the furthest step, the columns to set, and whether it is new,
    counts, ended."""

    call_id: str
    contact: Contact | None
    step: str = "started"
    values: dict[str, Any] = field(default_factory=dict)
    first_response: bool = False  # an agent answered: the ticket's first response
    counts: bool = False
    stored: bool = False  # already in the store before this batch
    ended: CallRecord | None = None


@dataclass(frozen=True)
class Voicemail:
    call_id: str
    caller_id: str
    did: str
    topic: str
    at: float  # when the message ended
    seconds: float
    path: str
    empty: str  # why it is empty ("" = a message to transcribe)


@dataclass
class Batch:
    """What one batch of events writes, in the order it must be written."""

    calls: list[CallChange] = field(default_factory=list)
    voicemails: list[Voicemail] = field(default_factory=list)
    callbacks: list[tuple[str, str]] = field(default_factory=list)  # (call id, request id)
    resync: bool = False  # a resync happened: reconcile with Asterisk's CDR after this batch


def seconds_between(start: float | None, end: float | None) -> int | None:
    return None if start is None or end is None else max(0, round(end - start))


def ended_values(record: CallRecord) -> dict[str, Any]:
    """The interaction's columns from a call's final record (durations in whole seconds)."""
    waited_until = record.agent_answered_at or record.ended_at
    return {"ended_at": record.ended_at, "did": record.did, "queue": record.queue or "", "agent": record.agent or "",
            "flow": record.flow, "ivr_path": list(record.ivr_path), "variables": dict(record.variables),
            "wait_seconds": seconds_between(record.queued_at, waited_until) if record.queue else None,
            "talk_seconds": seconds_between(record.agent_answered_at, record.ended_at),
            "hangup_cause": record.hangup_cause, "hangup_cause_text": record.hangup_cause_text,
            "hung_up_by": record.hung_up_by, "abandoned": record.abandoned,
            "callback_request": record.callback_request, "record": record.as_dict()}


def record_counts(record: CallRecord, reachable: bool = True) -> bool:
    """Did this call reach a queue, an agent or a voicemail, or did we place it? A caller who
    cannot be called back (`reachable` False: withheld) counts once an agent or a voicemail took it."""
    if not reachable:
        return bool(record.agent or record.voicemail)
    return bool(record.queue or record.agent or record.voicemail or record.callback_of
                or record.direction in OUTBOUND or record.outbound_ticket is not None)


def identified_in(region: str) -> Callable[[str], bool]:
    """`identified(caller_id)` for `Folder`: does the caller ID name a number (not withheld)?
    `region`: ISO 3166 code for national numbers (tickets/identity.py `phone`)."""
    return lambda caller_id: identity.caller(caller_id, region) is not None


def contact_of(record: CallRecord, topic_of: Callable[[str], str]) -> Contact:
    return Contact(record.caller_id, record.caller_name, record.did, topic_of(record.did),
                   "outbound" if record.direction in OUTBOUND else "inbound", record.started_at,
                   record.callback_of, record.outbound_ticket)


class Folder:
    """Folds batches of events into `Batch`es; keeps each live call's state between batches."""

    def __init__(self, topic_of: Callable[[str], str], identified: Callable[[str], bool] = lambda caller_id: True
                 ) -> None:
        """`topic_of(did)`: the ticket topic; `identified(caller_id)`: False for a withheld or
        unusable caller ID (tickets/identity.py `phone`)."""
        self.topic_of, self.identified = topic_of, identified
        self.live: dict[str, CallState] = {}
        self.internal: set[str] = set()

    def fold(self, events: Iterable[Any]) -> Batch:
        batch = Batch()
        changes: dict[str, CallChange] = {}
        for event in events:
            if isinstance(event, ev.PictureRebuilt):
                batch.resync = True
            elif isinstance(event, ev.CallStarted):
                self._started(event)
            elif isinstance(event, ev.VoicemailRecorded):
                self._change(changes, event.call_id).counts = True  # its voicemail joins its ticket
                batch.voicemails.append(Voicemail(event.call_id, event.caller_id, event.did,
                                                  self.topic_of_call(event.call_id, event.did),
                                                  event.at, event.seconds, event.path, event.empty))
            elif isinstance(event, ev.CallbackRequested):
                self._change(changes, event.call_id).counts = True
                batch.callbacks.append((event.call_id, event.request_id))
            elif _call_id(event) in self.internal:
                if isinstance(event, ev.CallEnded):
                    self.internal.discard(event.record.call_id)
            else:
                self._step(changes, event)
        batch.calls = list(changes.values())
        return batch

    def _started(self, event: ev.CallStarted) -> None:
        if event.direction == "internal":
            self.internal.add(event.call_id)
            return
        direction = "outbound" if event.direction in OUTBOUND else "inbound"
        contact = Contact(event.caller_id, event.caller_name, event.did, self.topic_of(event.did), direction,
                          event.at, event.callback_of, event.outbound_ticket)
        state = self.live.setdefault(event.call_id, CallState(contact))
        state.contact = state.contact or contact
        state.counts = state.counts or direction == "outbound"

    def _change(self, changes: dict[str, CallChange], call_id: str) -> CallChange:
        if call_id not in changes:
            # A call the log never saw start (adopted after a restart, or a late voicemail of a call
            # already ended): its first write finds or creates its interaction by Linkedid.
            state = self.live.get(call_id) or CallState(None)
            changes[call_id] = CallChange(call_id, state.contact, counts=state.counts, stored=state.stored)
        return changes[call_id]

    def _step(self, changes: dict[str, CallChange], event: Any) -> None:
        if isinstance(event, ev.CallerQueued):
            change = self._change(changes, event.call_id)
            change.counts = change.counts or self.reachable(change.contact)  # a withheld caller: once answered
            change.values["queue"] = event.queue
            self._reached(change, event.queue)
            change.step = _later(change.step, "queued")
        elif isinstance(event, ev.AgentConnected) and event.via == "queue":
            # (A transfer's target answering is in the call's legs at its end; the call's agent,
            # wait and first response stay those of the queue's answer.)
            change = self._change(changes, event.call_id)
            change.counts, change.first_response = True, True
            change.values.update(queue=event.queue, agent=event.agent, wait_seconds=event.hold_seconds)
            self._reached(change, event.queue)
            change.step = _later(change.step, "answered")
        elif isinstance(event, ev.CallEnded):
            record = event.record
            if record.direction == "internal":
                return
            change = self._change(changes, record.call_id)
            change.contact = change.contact or contact_of(record, self.topic_of)
            if record.queue:
                self._reached(change, record.queue)
            change.counts = change.counts or record_counts(record, self.reachable(change.contact))
            change.values.update(ended_values(record))
            change.step, change.ended = "ended", record

    def _reached(self, change: CallChange, queue: str) -> None:
        """A call not stored yet takes the queue it reached as its topic (a caller who chose
        billing gets a billing ticket, not the DID's); a stored one keeps the ticket it has."""
        if change.stored or change.contact is None or not queue or change.contact.topic == queue:
            return
        change.contact = replace(change.contact, topic=queue)
        state = self.live.get(change.call_id)
        if state is not None and not state.stored:
            state.contact = change.contact

    def topic_of_call(self, call_id: str, did: str) -> str:
        """The topic of a call's voicemail: the queue the call reached, else its DID's."""
        state = self.live.get(call_id)
        return state.contact.topic if state is not None and state.contact is not None else self.topic_of(did)

    def reachable(self, contact: Contact | None) -> bool:
        """Can the caller be called back (not withheld)? Unknown contacts (adopted calls) are."""
        return contact is None or contact.direction == "outbound" or self.identified(contact.caller_id)

    def written(self, batch: Batch) -> None:
        """The batch is in the store: remember what is stored, forget the calls that ended."""
        for change in batch.calls:
            if change.ended is not None:
                self.live.pop(change.call_id, None)
            elif change.call_id in self.live:
                state = self.live[change.call_id]
                state.counts = state.counts or change.counts
                state.stored = state.stored or change.counts
            # A change of a call the log does not follow (a voicemail that comes after its call
            # ended) is not remembered: its next write finds its interaction by Linkedid.


def _call_id(event: Any) -> str:
    return event.record.call_id if isinstance(event, ev.CallEnded) else str(getattr(event, "call_id", ""))


def _later(a: str, b: str) -> str:
    return a if STEPS.index(a) >= STEPS.index(b) else b
