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
from typing import Any, Collection, Iterable, Mapping

from callcenter.core import events as ev
from callcenter.core.endpoints import endpoint_of_channel
from callcenter.core.events import AgentLeg, CallRecord
from callcenter.ami.actions import LiveChannel
from callcenter.ami.events import (AgentConnected, AgentOffered, BridgeChanged, CallerAbandonedQueue, CallerJoinedQueue,
                                   ChannelCreated, ChannelHungUp, ChannelStateChanged, Event, HangupRequested, HoldMusic,
                                   SpyChanged, TransferDone)

# The channel variable the dialplan sets to the DID dialed (extensions.conf.j2, [from-trunk]).
DID_VARIABLE = "CC_DID"

RECENT_LIMIT = 1000

# Where the controller's hold keeps a call's two legs (extensions.conf.j2): seen again at a resync.
PARKING_CONTEXTS = ("cc-hold", "cc-held")

# Q.850 causes, for the hangups where Asterisk's Hangup event says 0 but the request had the cause.
CAUSE_TEXT = {1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
              18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
              27: "Destination out of order", 31: "Normal, unspecified", 34: "Circuit/channel congestion",
              38: "Network out of order", 41: "Temporary failure", 127: "Interworking, unspecified"}


class CallTracker:
    """Every live call by Linkedid and the last RECENT_LIMIT ended ones (pure; `apply`, `resync`)."""

    def __init__(self, inbound_context: str = "from-trunk", recent_limit: int = RECENT_LIMIT,
                 agents: Collection[str] = ()) -> None:
        """`agents`: the agents' endpoint names (a channel of one of them is an agent's leg)."""
        self.inbound_context = inbound_context
        self.agents = frozenset(agents)
        self.extensions: dict[str, str] = {}  # an agent's extension → the agent (a phone transfers to digits)
        self._hold: dict[str, float] = {}  # uniqueid of a customer's channel hearing hold music → since when
        self._bridge: dict[str, str] = {}  # uniqueid → the bridge it is in
        self._monitors: dict[str, tuple[str, dict[str, object]]] = {}  # supervisor's uniqueid → (call, session)
        self._consulting: dict[str, str] = {}  # call id → whom the controller's attended transfer consults
        self._handed: dict[str, str] = {}  # call id → the agent who blind-transferred it (the next leg is theirs)
        self.parked: dict[str, str] = {}  # at the last resync: uniqueid → cc-hold | cc-held (a hold before it)
        self._ignored: set[str] = set()  # the controller's helper channels (a monitored call's beeper)
        self._joins: dict[str, tuple[str, str]] = {}  # uniqueid of a party called into a call → (call, by whom)
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

    def set_agents(self, agents: Mapping[str, Any]) -> None:
        """The agents (name → settings with `.extension`): whose phone a channel is, and the agent a
        transfer to an extension reached."""
        self.agents = frozenset(agents)
        self.extensions = {a.extension: name for name, a in agents.items()}

    def bridge_of(self, uniqueid: str) -> str:
        """The bridge a live channel is in ("" if none: in the dialplan, on hold, ringing)."""
        return self._bridge.get(uniqueid, "")

    def on_hold(self, uniqueid: str) -> bool:
        """Whether a customer's channel hears music on hold after an agent answered."""
        return uniqueid in self._hold

    def expect_monitor(self, uniqueid: str, call_id: str, supervisor: str, mode: str) -> None:
        """The channel `uniqueid` (an Originate's ChannelId) is `supervisor`'s phone monitoring
        `call_id` in `mode`: a monitor session on that call, not a call of its own."""
        self._monitors[uniqueid] = (call_id, {"supervisor": supervisor, "mode": mode, "modes": [mode],
                                              "started_at": None, "ended_at": None})

    def expect_consultation(self, call_id: str, target: str) -> None:
        """The controller's attended transfer on `call_id` consults `target` (Asterisk names only
        the extension "*" that dialed it)."""
        self._consulting[call_id] = target

    def expect_join(self, uniqueid: str, call_id: str, by: str) -> None:
        """The channel `uniqueid` (an Originate's ChannelId) is a party `by` calls into `call_id`
        (a conference): a leg of that call, not a call of its own."""
        self._joins[uniqueid] = (call_id, by)

    def ignore(self, *uniqueids: str) -> None:
        """Channels (an Originate's ChannelId / OtherChannelId) that are no call of their own and
        no party of one: the controller's helpers, e.g. a monitored call's beeper."""
        self._ignored.update(uniqueids)

    def forget(self, uniqueid: str) -> None:
        """An expected channel (monitor, conference party) that Asterisk never made."""
        self._monitors.pop(uniqueid, None)
        self._joins.pop(uniqueid, None)

    def monitor_mode(self, uniqueid: str, mode: str) -> None:
        """The monitor session on `uniqueid` switched to `mode` (listen | whisper | barge)."""
        if uniqueid in self._monitors:
            session = self._monitors[uniqueid][1]
            session["mode"] = mode
            session["modes"].append(mode)  # type: ignore[attr-defined]

    def monitor_of(self, uniqueid: str) -> dict[str, object] | None:
        entry = self._monitors.get(uniqueid)
        return entry[1] if entry else None

    def call_of(self, uniqueid: str) -> CallRecord | None:
        call_id = self._by_channel.get(uniqueid)
        return self._active.get(call_id) if call_id else None

    # -- feeding ----------------------------------------------------------------------------

    def apply(self, event: Event, now: float) -> list[ev.DomainEvent]:
        """Apply one AMI event; returns the domain events it caused (often none)."""
        aside = self._aside(event, now)
        if aside is not None:
            return aside
        if isinstance(event, ChannelCreated):
            return self._created(event, now)
        call = self._active.get(getattr(event, "linkedid", "")) or self.call_of(getattr(event, "uniqueid", ""))
        if call is None:
            return []
        out: list[ev.DomainEvent] = []
        if isinstance(event, ChannelStateChanged):
            if event.state == "Up" and event.uniqueid == call.call_id and call.answered_at is None:
                call.answered_at = now
            if event.state == "Up":
                out += self._leg_answered(call, event.uniqueid, now)
        elif isinstance(event, HoldMusic):
            if event.on and self._owner(call) is not None and not self.agent_of(call.channels.get(event.uniqueid, "")):
                self._hold.setdefault(event.uniqueid, now)
            elif not event.on:
                self._settle_hold(call, event.uniqueid, now, stop=True)
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
            leg = next((x for x in call.legs if x.agent == event.agent and x.ended_at is None), None)
            if leg is None:
                leg = AgentLeg(event.agent, "", answered_at=now)
                call.legs.append(leg)
            leg.via, leg.queue = "queue", event.queue  # (`by` stays: a caller transferred to this queue)
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
            out += self._leg_ended(call, event.uniqueid, now)
            self._settle_hold(call, event.uniqueid, now, stop=True)
            if self._hangup(call, event.uniqueid, event.cause, event.cause_text, now):
                out.append(ev.CallEnded(copy.deepcopy(call), now))
        return out

    def _aside(self, event: Event, now: float) -> list[ev.DomainEvent] | None:
        """Events beside a call's own course (the controller's helper channels, monitor sessions,
        bridges, transfers): their domain events, or None for the call's course to take it."""
        uniqueid = getattr(event, "uniqueid", "")
        if uniqueid in self._ignored:
            if isinstance(event, ChannelHungUp):
                self._ignored.discard(uniqueid)
            return []
        if uniqueid in self._monitors or isinstance(event, SpyChanged):
            return self._monitor(event, now)
        if isinstance(event, ChannelHungUp):  # whatever the call: nothing is kept for a channel that is gone
            self._bridge.pop(uniqueid, None)
            self._joins.pop(uniqueid, None)
        if isinstance(event, BridgeChanged):
            if event.joined:
                self._bridge[uniqueid] = event.bridge
            elif self._bridge.get(uniqueid) == event.bridge:
                del self._bridge[uniqueid]
            return []
        if isinstance(event, TransferDone):
            return self._transferred(event, now)
        return None

    def _created(self, event: ChannelCreated, now: float) -> list[ev.DomainEvent]:
        new = event.linkedid not in self._active and event.uniqueid not in self._joins
        created = self._channel(event.channel, event.uniqueid, event.linkedid, event.caller_id,
                                event.caller_name, event.context, event.exten, event.state, now)
        agent = self.agent_of(event.channel)
        handed = created.call_id in self._handed or self._owner(created) is not None
        if not new and agent and created.direction != "internal" and handed:
            # A transfer's or a conference's target rings: its screen pop, on the same call.
            return [ev.AgentOffered(created.call_id, created.queue or "", agent, now)]
        return [self._started(created, now)] if new else []

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
        # Who shares a bridge with whom is Asterisk's word now (a consultation going on, a hold).
        self._bridge = {c.uniqueid: c.bridge_id for c in live.values() if c.bridge_id}
        self.parked = {c.uniqueid: c.context for c in live.values() if c.context in PARKING_CONTEXTS}
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
        for leg in sorted(legs, key=lambda c: -c.duration):  # the agent who answered first, first
            agent = endpoint_of_channel(leg.channel)
            if leg is caller or agent not in agents:
                continue
            if leg.state == "Up" and not any(x.uniqueid == leg.uniqueid for x in call.legs):
                # An agent's leg that is up is theirs from its answer on, whatever bridge it is in now
                # (talking to the caller, or consulting a colleague while the caller holds).
                owner = self._owner(call)
                call.legs.append(AgentLeg(agent, leg.uniqueid, via="transfer" if owner else "queue" if call.queue else
                                          "direct", by=owner.agent if owner else "", queue=call.queue or "",
                                          answered_at=now - leg.duration))
            if caller.bridge_id and leg.bridge_id == caller.bridge_id and leg.state == "Up":
                call.agent, call.agent_answered_at = agent, now - leg.duration
                call.path.append(f"agent:{agent}")

    # -- agents' legs, hold, transfers, monitoring ----------------------------------------------

    def agent_of(self, channel: str) -> str:
        """The agent whose phone `channel` is ("" if none)."""
        name = endpoint_of_channel(channel)
        return name if name in self.agents else ""

    @staticmethod
    def _owner(call: CallRecord) -> AgentLeg | None:
        """The agent who has the customer now: the earliest answered leg still live."""
        return next((x for x in call.legs if x.answered_at is not None and x.ended_at is None), None)

    def _leg_answered(self, call: CallRecord, uniqueid: str, now: float) -> list[ev.DomainEvent]:
        agent = self.agent_of(call.channels.get(uniqueid, ""))
        if not agent or any(x.uniqueid == uniqueid for x in call.legs):
            return []
        # A queue leg may be known already (AgentConnect came first, without the channel).
        leg = next((x for x in call.legs if x.agent == agent and not x.uniqueid and x.ended_at is None), None)
        if leg is not None:
            leg.uniqueid = uniqueid
            return []
        owner = self._owner(call) if call.direction != "internal" else None
        leg = AgentLeg(agent, uniqueid, answered_at=now, queue=call.queue or "")
        joining = self._joins.pop(uniqueid, None)
        handed = self._handed.pop(call.call_id, "")
        if joining is not None:
            leg.via, leg.by = "conference", joining[1]
        elif handed:
            leg.via, leg.by = "transfer", handed
        elif owner is not None:  # someone had the customer: a transfer's (or consultation's) target
            leg.via, leg.by = "transfer", owner.agent
        call.legs.append(leg)
        if leg.via == "direct":
            return []
        call.path.append(f"agent:{agent}")
        return [ev.AgentConnected(call.call_id, call.queue or "", agent, 0, now, via=leg.via)]

    def _leg_ended(self, call: CallRecord, uniqueid: str, now: float) -> list[ev.DomainEvent]:
        leg = next((x for x in call.legs if x.uniqueid == uniqueid and x.ended_at is None), None)
        if leg is None:
            return []
        if leg is self._owner(call):  # the customer's hold so far was this agent's
            for held in [u for u in self._hold if u in call.channels]:
                self._settle_hold(call, held, now, stop=False)
        leg.ended_at = now
        return [ev.AgentLegEnded(call.call_id, leg.agent, leg.queue, leg.via, round(leg.talk_seconds, 1),
                                 round(leg.hold_seconds, 1), now)]

    def _settle_hold(self, call: CallRecord, uniqueid: str, now: float, *, stop: bool) -> None:
        """Credit the customer's hold music so far to the agent who has them."""
        since = self._hold.pop(uniqueid, None) if stop else self._hold.get(uniqueid)
        if since is None:
            return
        owner = self._owner(call)
        if owner is not None:
            owner.hold_seconds += max(0.0, now - since)
        if not stop:
            self._hold[uniqueid] = now

    def _transferred(self, event: TransferDone, now: float) -> list[ev.DomainEvent]:
        calls = list({x: self._active[x] for x in event.linkedids if x in self._active}.values())
        if not calls or not event.ok:
            return []
        call = calls[0]
        for other in calls[1:]:  # a phone's own consultation call joins the caller's
            self._merge(other, into=call)
        by = self.agent_of(event.transferer_channel)
        to = _target(event.target)
        to = self.extensions.get(to, to)
        consulted = self._consulting.pop(call.call_id, "")
        if to in ("*", ""):  # the controller's consultation (Asterisk names its "*", or no target channel)
            # ... whose target we asked for, or (asked before a restart) the other agent on the call
            others = [x.agent for x in call.legs if x.ended_at is None and x.agent != by]
            to = consulted or (others[-1] if others else to)
        if event.kind == "threeway":
            for leg in call.legs:
                if leg.ended_at is None and leg.agent == to:
                    leg.via = "conference"
        if event.kind == "blind":
            self._handed[call.call_id] = by
        call.transfers.append({"kind": event.kind, "by": by, "to": to, "at": now})
        call.path.append(f"transfer:{event.kind}:{by or '?'}>{to}")
        return [ev.CallTransferred(call.call_id, event.kind, by, to, now)]

    def note_transfer(self, call_id: str, kind: str, by: str, to: str, now: float) -> ev.CallTransferred | None:
        """A step the controller did itself (a conference add, a held caller sent on), recorded like
        Asterisk's transfers."""
        call = self._active.get(call_id)
        if call is None:
            return None
        if kind == "blind":  # the next agent to answer was handed the caller by `by`
            self._handed[call_id] = by
        call.transfers.append({"kind": kind, "by": by, "to": to, "at": now})
        call.path.append(f"transfer:{kind}:{by or '?'}>{to}")
        return ev.CallTransferred(call_id, kind, by, to, now)

    def _merge(self, other: CallRecord, into: CallRecord) -> None:
        """An agent's consultation call (its own Linkedid) became part of `into` by an attended
        transfer from the phone: its channels and the target's leg move; the consulting agent's
        second leg overlaps their first and is dropped."""
        first_channel = other.call_id
        for uniqueid, channel in other.channels.items():
            into.channels[uniqueid] = channel
            self._by_channel[uniqueid] = into.call_id
        for leg in other.legs:
            if leg.uniqueid != first_channel:
                leg.via, leg.by = "transfer", self.agent_of(other.channels.get(first_channel, "")) or leg.by
                into.legs.append(leg)
        del self._active[other.call_id]

    def _monitor(self, event: Event, now: float) -> list[ev.DomainEvent]:
        if isinstance(event, SpyChanged):
            entry = self._monitors.get(event.spyer)
            if entry is not None and event.started and entry[1]["started_at"] is None:
                entry[1]["started_at"] = now
                call = self._active.get(entry[0])
                if call is not None:
                    call.monitors.append(entry[1])
            return []
        if isinstance(event, ChannelHungUp):
            _, session = self._monitors.pop(event.uniqueid)
            if session["started_at"] is not None:
                session["ended_at"] = now
        return []

    # -- internals --------------------------------------------------------------------------

    def _channel(self, channel: str, uniqueid: str, linkedid: str, caller_id: str, caller_name: str, context: str,
                 exten: str, state: str, now: float) -> CallRecord:
        joining = self._joins.get(uniqueid)
        if joining is not None and joining[0] in self._active:
            linkedid = joining[0]
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
            self._handed.pop(call.call_id, None)
            self._consulting.pop(call.call_id, None)
            self._recent.append(call)
            return True
        return False


def _target(channel_or_exten: str) -> str:
    """Who a transfer went to: 'PJSIP/agent2-0000001f' → 'agent2', 'Local/queue-sales@cc-transfer-…;1'
    and 'queue-sales' → 'queue:sales', an extension as it is."""
    if channel_or_exten.startswith("Local/"):
        channel_or_exten = channel_or_exten[6:].split("@", 1)[0]
    elif endpoint_of_channel(channel_or_exten):
        return endpoint_of_channel(channel_or_exten)
    # [cc-transfer]'s queue-NAME is the queue NAME, as the API names it
    return f"queue:{channel_or_exten[6:]}" if channel_or_exten.startswith("queue-") else channel_or_exten
