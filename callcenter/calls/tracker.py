"""Follow calls by Linkedid, from the first channel to the last hangup, and keep their records.

Pure: feed it translated AMI events and `now`; read `active()` and `recent()`. A call is every
channel that shares the first channel's Linkedid (the caller's leg, the agent legs the queue
rings, ...). The record is what a supervisor asks about a call: who called which number, when the
system answered, which queue and agent, when and why it ended.

`apply()` returns domain events (callcenter/core/events.py): CallStarted, CallerQueued, AgentOffered,
AgentConnected, CallEnded (with a copy of the final record).

After the AMI connection comes back (Asterisk restarted, the network blipped, or this controller
started and adopted a running Asterisk) `resync()` takes the live channels from Asterisk (with
their bridges and the DID the dialplan set) and settles the records: calls whose channels are
gone are ended with the cause "lost"; live channels we did not know become calls, rebuilt as
they are: a caller bridged with an agent is `connected` to that agent, with its DID and queue.
"""

from __future__ import annotations

import collections
import copy
from typing import Collection, Iterable

from callcenter.core import events as ev
from callcenter.core.endpoints import endpoint_of_channel
from callcenter.core.events import CallRecord
from callcenter.ami.actions import LiveChannel
from callcenter.ami.events import (AgentConnected, AgentOffered, CallerAbandonedQueue, CallerJoinedQueue,
                                   ChannelCreated, ChannelHungUp, ChannelStateChanged, Event, HangupRequested)

# The channel variable the dialplan sets to the DID dialed (extensions.conf.j2, [from-trunk]).
DID_VARIABLE = "CC_DID"

RECENT_LIMIT = 1000

# Q.850 causes, for the hangups where Asterisk's Hangup event says 0 but the request had the cause.
CAUSE_TEXT = {1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
              18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
              27: "Destination out of order", 31: "Normal, unspecified", 34: "Circuit/channel congestion",
              38: "Network out of order", 41: "Temporary failure", 127: "Interworking, unspecified"}


class CallTracker:
    """Every live call by Linkedid and the last RECENT_LIMIT ended ones (pure; `apply`, `resync`)."""

    def __init__(self, inbound_context: str = "from-trunk", recent_limit: int = RECENT_LIMIT) -> None:
        self.inbound_context = inbound_context
        self._active: dict[str, CallRecord] = {}
        self._by_channel: dict[str, str] = {}  # uniqueid → call_id
        self._requested_cause: dict[str, int] = {}  # uniqueid → first non-zero cause of a hangup request
        self._recent: collections.deque[CallRecord] = collections.deque(maxlen=recent_limit)
        self._callbacks: dict[str, tuple[str, str, str]] = {}  # uniqueid → (original call, request, number)
        self._outbound: dict[str, tuple[str, str, int | None]] = {}  # uniqueid → (agent, number, ticket)

    def expect_outbound(self, uniqueid: str, agent: str, number: str, ticket_id: int | None) -> None:
        """The channel `uniqueid` (an Originate's ChannelId) is `agent`'s click-to-call to `number`."""
        self._outbound[uniqueid] = (agent, number, ticket_id)

    def expect_callback(self, uniqueid: str, original_call: str, request_id: str, number: str) -> None:
        """The channel `uniqueid` (an Originate's ChannelId) is the callback of `original_call`."""
        self._callbacks[uniqueid] = (original_call, request_id, number)

    # -- reading ----------------------------------------------------------------------------

    def active(self) -> list[CallRecord]:
        return sorted(self._active.values(), key=lambda c: c.started_at)

    def recent(self) -> list[CallRecord]:
        """Ended calls, newest first."""
        return list(reversed(self._recent))

    def get(self, call_id: str) -> CallRecord | None:
        if call_id in self._active:
            return self._active[call_id]
        return next((c for c in self._recent if c.call_id == call_id), None)

    def call_of(self, uniqueid: str) -> CallRecord | None:
        call_id = self._by_channel.get(uniqueid)
        return self._active.get(call_id) if call_id else None

    # -- feeding ----------------------------------------------------------------------------

    def apply(self, event: Event, now: float) -> list[ev.DomainEvent]:
        """Apply one AMI event; returns the domain events it caused (often none)."""
        if isinstance(event, ChannelCreated):
            new = event.linkedid not in self._active
            created = self._channel(event.channel, event.uniqueid, event.linkedid, event.caller_id,
                                    event.caller_name, event.context, event.exten, event.state, now)
            return [self._started(created, now)] if new else []
        call = self._active.get(getattr(event, "linkedid", "")) or self.call_of(getattr(event, "uniqueid", ""))
        if call is None:
            return []
        out: list[ev.DomainEvent] = []
        if isinstance(event, ChannelStateChanged):
            if event.state == "Up" and event.uniqueid == call.call_id and call.answered_at is None:
                call.answered_at = now
        elif isinstance(event, CallerJoinedQueue):
            call.queue, call.queued_at = event.queue, now
            call.path.append(f"queue:{event.queue}")
            out.append(ev.CallerQueued(call.call_id, event.queue, call.caller_id, now))
        elif isinstance(event, AgentOffered):
            call.path.append(f"offered:{event.agent}")
            out.append(ev.AgentOffered(call.call_id, event.queue, event.agent, now))
        elif isinstance(event, AgentConnected):
            call.agent, call.agent_answered_at = event.agent, now
            call.path.append(f"agent:{event.agent}")
            out.append(ev.AgentConnected(call.call_id, event.queue, event.agent, event.hold_time, now))
        elif isinstance(event, CallerAbandonedQueue):
            # Asterisk says "abandon" for a max-wait timeout too: only a caller who hung up abandoned.
            if call.hung_up_by == "caller":
                call.abandoned = True
                call.path.append("abandoned")
            else:
                call.path.append(f"overflow:{event.queue}")
        elif isinstance(event, HangupRequested):
            # A soft hangup request's Cause may be Asterisk's internal soft-hangup flag (32,
            # AST_SOFTHANGUP_EXPLICIT, after AGI HANGUP: docs/asterisk.md#softhangup-cause), not a Q.850 cause: from a
            # soft request only a known Q.850 cause is taken.
            usable = event.cause and (not event.soft or event.cause in CAUSE_TEXT)
            if usable and event.uniqueid not in self._requested_cause:
                self._requested_cause[event.uniqueid] = event.cause
            if not call.hung_up_by:
                call.hung_up_by = "system" if event.soft else "caller" if event.uniqueid == call.call_id else "agent"
        elif isinstance(event, ChannelHungUp):
            if self._hangup(call, event.uniqueid, event.cause, event.cause_text, now):
                out.append(ev.CallEnded(copy.deepcopy(call), now))
        return out

    @staticmethod
    def _started(call: CallRecord, now: float) -> ev.CallStarted:
        return ev.CallStarted(call.call_id, call.caller_id, call.caller_name, call.did, call.direction, now,
                              call.callback_of, call.outbound_ticket)

    def note(self, call_id: str, step: str) -> None:
        """Add a step to a call's path (the controller's own decisions, e.g. 'greeting')."""
        call = self._active.get(call_id)
        if call is not None:
            call.path.append(step)

    def set_did(self, call_id: str, did: str) -> None:
        """The configured DID the call reached (the dialed form may differ: `+8005550100`)."""
        call = self.get(call_id)
        if call is not None:
            call.did, call.direction = did, "inbound"

    def end_ivr(self, call_id: str, end: str) -> None:
        """Where the IVR let go of the caller, unless already said (a hangup before the flow began)."""
        call = self.get(call_id)
        if call is not None and not call.ivr_end:
            call.ivr_end = end

    def ivr(self, call_id: str, *, flow: str, version: int, path: list[str], variables: dict[str, str],
            end: str = "", voicemail: str = "") -> None:
        """Record the caller's way through the IVR (the controller calls this as the flow runs; the
        last word may come just after the hangup, so ended calls take it too)."""
        call = self.get(call_id)
        if call is None:
            return
        call.flow, call.flow_version = flow, version
        call.ivr_path, call.variables = list(path), dict(variables)
        if end:
            call.ivr_end = end
        if voicemail:
            call.voicemail = voicemail

    def resync(self, channels: Iterable[LiveChannel], now: float,
               agents: Collection[str] = ()) -> list[ev.DomainEvent]:
        """Settle the records with the channels Asterisk has now (CoreShowChannels, with each
        channel's CC_DID variable if known). Returns CallEnded for calls that ended unseen and
        CallStarted for live calls we did not know (adopted). `agents` names the agents' endpoints,
        so a leg `PJSIP/agent1-...` bridged with the caller makes the call `connected` to agent1."""
        live = {c.uniqueid: c for c in channels}
        out: list[ev.DomainEvent] = []
        for call in list(self._active.values()):
            for uniqueid in list(call.channels):
                if uniqueid not in live:
                    if self._hangup(call, uniqueid, 0, "lost while the controller could not see Asterisk", now):
                        out.append(ev.CallEnded(copy.deepcopy(call), now))
        adopted: dict[str, CallRecord] = {}
        for c in sorted(live.values(), key=lambda c: c.uniqueid != c.linkedid):  # the caller's leg first
            if c.uniqueid in self._by_channel:
                continue
            new = c.linkedid not in self._active
            call = self._channel(c.channel, c.uniqueid, c.linkedid, c.caller_id, c.caller_name, c.context, c.exten,
                                 c.state, now - c.duration)
            if new:
                adopted[call.call_id] = call
        by_call: dict[str, list[LiveChannel]] = {}
        for c in live.values():
            by_call.setdefault(c.linkedid, []).append(c)
        for call in adopted.values():
            legs = by_call.get(call.call_id, [])
            caller = next((c for c in legs if c.uniqueid == call.call_id), None)
            if caller is not None:
                self._adopt(call, caller, legs, agents, now)
            out.append(self._started(call, call.started_at))  # when it began (Asterisk's duration), not now
        return out

    def _adopt(self, call: CallRecord, caller: LiveChannel, legs: list[LiveChannel], agents: Collection[str],
               now: float) -> None:
        """Rebuild an adopted call from its live channels: DID, answer time, queue, agent."""
        did = caller.variables.get(DID_VARIABLE, "")
        if did:
            call.did, call.direction = did, "inbound"
        call.started_at = now - caller.duration
        if caller.state == "Up" and call.answered_at is None:
            call.answered_at = call.started_at  # at the latest; Asterisk does not say
        if caller.application == "Queue" and call.queue is None:
            call.queue = caller.application_data.split(",")[0]
            call.queued_at = call.started_at
            call.path.append(f"queue:{call.queue}")
        for leg in legs:
            agent = endpoint_of_channel(leg.channel)
            if leg is caller or agent not in agents:
                continue
            if caller.bridge_id and leg.bridge_id == caller.bridge_id and leg.state == "Up":
                call.agent, call.agent_answered_at = agent, now - leg.duration
                call.path.append(f"agent:{agent}")

    # -- internals --------------------------------------------------------------------------

    def _channel(self, channel: str, uniqueid: str, linkedid: str, caller_id: str, caller_name: str, context: str,
                 exten: str, state: str, now: float) -> CallRecord:
        call = self._active.get(linkedid)
        if call is None:
            inbound = context == self.inbound_context
            call = CallRecord(call_id=linkedid, caller_id=caller_id, caller_name=caller_name,
                              did=exten if inbound else "", direction="inbound" if inbound else "internal",
                              started_at=now)
            callback = self._callbacks.pop(uniqueid, None)
            if callback is not None:
                call.callback_of, call.callback_request, call.caller_id = callback
                call.caller_name, call.direction = "", "callback"
            outbound = self._outbound.pop(uniqueid, None)
            if outbound is not None:  # the customer is the other party: they are the "caller" on file
                call.agent, call.caller_id, call.outbound_ticket = outbound
                call.caller_name, call.direction = "", "outbound"
            self._active[linkedid] = call
        call.channels[uniqueid] = channel
        self._by_channel[uniqueid] = linkedid
        return call

    def _hangup(self, call: CallRecord, uniqueid: str, cause: int, cause_text: str, now: float) -> bool:
        """One channel of the call hung up; True if that ended the call."""
        call.channels.pop(uniqueid, None)
        self._by_channel.pop(uniqueid, None)
        requested = self._requested_cause.pop(uniqueid, 0)
        if cause == 0 and requested:
            cause, cause_text = requested, CAUSE_TEXT.get(requested, f"cause {requested}")
        elif cause == 0 and cause_text in ("", "Unknown"):
            cause, cause_text = 16, CAUSE_TEXT[16]  # ended on purpose (by the IVR, an agent, Asterisk)
        if uniqueid == call.call_id or call.hangup_cause is None and not call.channels:
            # The caller's own leg says why the call ended.
            call.hangup_cause, call.hangup_cause_text = cause, cause_text
        if not call.channels:
            call.ended_at = now
            del self._active[call.call_id]
            self._recent.append(call)
            return True
        return False
