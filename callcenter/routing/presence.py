"""Agents' live state and queues' live numbers, from the AMI event stream. Pure: events and `now` in,
domain events (callcenter/core/events.py) out.

Agent state, as a supervisor reads it (first that applies):
  logged_out   no registered contact (softphone not registered)
  unreachable  registered, but no contact answers (qualify OPTIONS time out): not offered calls
  ringing      a queue is offering it a call, or its phone rings
  on_call      its phone is busy: a queue call, or any direct, outbound or transferred call
  wrapup       after a queue call, for the queue's wrap-up time (app_queue offers nothing meanwhile)
  paused       paused (with a reason) in its queues
  ready        registered, reachable, idle, not paused

The truth comes from the device, not only from queue events (docs/asterisk.md#device-state): registrations are
tracked per contact (`ContactStatus`; a re-registration that replaces a contact never logs the
agent out), busy/idle from `DeviceStateChange`, and after every (re)connect `rebuild()` takes
Asterisk's own lists (contacts, device states, queue members and waiting callers).

Auto-pause: an agent who lets `auto_pause_after` offers in a row ring out is paused with a
reason; `apply()` returns an `AutoPauseDecided` event and the routing side carries it out.

Queue numbers: waiting callers and the longest wait, offered, answered, abandoned, overflowed,
service level (answered within `service_level_seconds`), average speed of answer, average handle
time. Computed from the events as they come, not rebuilt later.

Two phones: an agent's desk phone (endpoint `<agent>`) and browser softphone (`<agent>-webrtc`,
docs/softphone.md) are tracked apart (contacts, device state); the agent's state is the state of
the phone they chose (`set_phone`), the one app_queue rings (routing/queues.py). So presence and
queue offers read the same for both phones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

from callcenter.core import events as ev
from callcenter.ami.actions import ContactRow, DeviceRow, QueueStatus
from callcenter.ami.events import (AgentConnected, AgentMissed, AgentOffered, CallerAbandonedQueue,
                                   CallerJoinedQueue, CallerLeftQueue, ChannelHungUp, ContactChanged,
                                   DeviceStateChanged, Event, HangupRequested, MemberChanged)
from callcenter.core.endpoints import PHONES, Phone, endpoint_of_device, phone_of_device, phone_of_endpoint
from callcenter.core.events import AgentStateName

# Device states (Asterisk's devicestate.h names) that mean the phone is on a call, or rings.
BUSY_DEVICE = frozenset({"INUSE", "BUSY", "ONHOLD", "RINGINUSE"})
RINGING_DEVICE = frozenset({"RINGING"})
Activity = Literal["idle", "ringing", "on_call", "wrapup"]


@dataclass
class AgentState:
    """One agent's live state; `state(now)` is what a supervisor sees."""

    name: str
    phone: Phone = "desk"  # the phone the agent chose; `contacts` and `device` are that phone's
    # per phone: contact URI → reachable; the last DeviceStateChange of PJSIP/<name>[-webrtc]
    phone_contacts: dict[Phone, dict[str, bool]] = field(default_factory=lambda: {p: {} for p in PHONES})
    phone_devices: dict[Phone, str] = field(default_factory=lambda: dict.fromkeys(PHONES, "UNKNOWN"))
    paused: bool = False
    pause_reason: str = ""
    paused_at: float | None = None
    activity: Activity = "idle"
    activity_since: float = 0.0
    ringing_for: str = ""  # the Linkedid of the call offered to it
    wrapup_until: float = 0.0
    missed_in_row: int = 0
    declined_in_row: int = 0  # offers answered busy / declined in a row
    calls: int = 0
    talk_seconds: float = 0.0
    pause_seconds: dict[str, float] = field(default_factory=dict)  # by reason

    last_state: AgentStateName = "logged_out"  # the last one announced (AgentStateChanged)

    @property
    def contacts(self) -> dict[str, bool]:
        """The chosen phone's contacts (URI → reachable)."""
        return self.phone_contacts[self.phone]

    @contacts.setter
    def contacts(self, value: dict[str, bool]) -> None:
        self.phone_contacts[self.phone] = value

    @property
    def device(self) -> str:
        """The chosen phone's device state."""
        return self.phone_devices[self.phone]

    @device.setter
    def device(self, value: str) -> None:
        self.phone_devices[self.phone] = value

    @property
    def registered(self) -> bool:
        return bool(self.contacts)

    @property
    def reachable(self) -> bool:
        return any(self.contacts.values())

    def state(self, now: float) -> AgentStateName:
        if not self.registered:
            return "logged_out"
        if not self.reachable:
            return "unreachable"
        if self.activity == "ringing" or self.device in RINGING_DEVICE:
            return "ringing"
        if self.activity == "on_call" or self.device in BUSY_DEVICE:
            return "on_call"
        if self.activity == "wrapup" and now < self.wrapup_until:
            return "wrapup"
        if self.paused:
            return "paused"
        return "ready"

    def as_dict(self, now: float) -> dict[str, Any]:
        pauses = dict(self.pause_seconds)
        if self.paused and self.paused_at is not None:
            pauses[self.pause_reason or "-"] = pauses.get(self.pause_reason or "-", 0.0) + now - self.paused_at
        return {"name": self.name, "state": self.state(now), "registered": self.registered,
                "reachable": self.reachable, "contacts": len(self.contacts), "device": self.device,
                "phone": self.phone,
                "phones": {p: {"registered": bool(c), "reachable": any(c.values())}
                           for p, c in self.phone_contacts.items()},
                "paused": self.paused,
                "pause_reason": self.pause_reason, "calls": self.calls, "talk_seconds": round(self.talk_seconds, 1),
                "pause_seconds": {k: round(v, 1) for k, v in pauses.items()}}


@dataclass
class QueueNumbers:
    name: str
    waiting: dict[str, tuple[float, str]] = field(default_factory=dict)  # uniqueid → (joined at, caller id)
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    total_hold: float = 0.0  # of answered calls
    completed: int = 0
    total_handle: float = 0.0  # talk + hold + wrap-up of every agent's part of its answered calls (seconds)

    def as_dict(self, now: float, service_level_seconds: int) -> dict[str, Any]:
        waits = sorted(((now - t, cid, uid) for uid, (t, cid) in self.waiting.items()), reverse=True)
        return {
            "name": self.name, "waiting": len(self.waiting),
            "longest_wait_seconds": round(waits[0][0], 1) if waits else 0.0,
            "callers": [{"caller_id": cid, "wait_seconds": round(w, 1), "uniqueid": uid} for w, cid, uid in waits],
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "overflowed": self.overflowed,
            "service_level": round(self.answered_in_sl / self.answered, 3) if self.answered else None,
            "service_level_seconds": service_level_seconds,
            "average_speed_of_answer": round(self.total_hold / self.answered, 1) if self.answered else None,
            "average_handle_time": round(self.total_handle / self.completed, 1) if self.completed else None,
        }


class Presence:
    """The agents' and queues' live picture. Feed `apply()` AMI events and `rebuild()` Asterisk's
    lists after a (re)connect; both return domain events. `next_wakeup()` / `tick()` end wrap-ups."""

    def __init__(self, agents: Iterable[str], queues: Iterable[str], *, wrapup: Mapping[str, int] | None = None,
                 ring_timeout: Mapping[str, int] | None = None, auto_pause_after: int = 2,
                 service_level_seconds: int = 20) -> None:
        self.agents = {a: AgentState(a) for a in agents}
        self.queues = {q: QueueNumbers(q) for q in queues}
        self.wrapup = dict(wrapup or {})
        self.ring_timeout = dict(ring_timeout or {})
        self._caller_hung_up: set[str] = set()  # callers' channels that asked to hang up themselves
        self.auto_pause_after = auto_pause_after
        self.service_level_seconds = service_level_seconds
        self._touched: set[str] = set()

    def update(self, agents: Iterable[str], queues: Iterable[str], wrapup: Mapping[str, int],
               ring_timeout: Mapping[str, int]) -> None:
        """Agents and queues were added or removed (config reload): keep the others' numbers."""
        agents, queues = list(agents), list(queues)
        self.agents = {a: self.agents.get(a) or AgentState(a) for a in agents}
        self.queues = {q: self.queues.get(q) or QueueNumbers(q) for q in queues}
        self.wrapup, self.ring_timeout = dict(wrapup), dict(ring_timeout)

    # -- events in, events out ----------------------------------------------------------------

    def apply(self, event: Event, now: float) -> list[ev.DomainEvent]:
        """Apply one AMI event; returns what changed (AgentStateChanged, QueueChanged, AutoPauseDecided)."""
        out: list[ev.DomainEvent] = []
        name = getattr(event, "agent", "") or getattr(event, "endpoint", "")
        if isinstance(event, DeviceStateChanged):
            name = endpoint_of_device(event.device)
        elif isinstance(event, ContactChanged):
            name = endpoint_of_device(f"PJSIP/{event.endpoint}")  # agent1-webrtc is agent1's too
        agent = self.agents.get(name)
        if agent is not None:
            self._touched.add(agent.name)
        queue = self.queues.get(getattr(event, "queue", ""))
        if isinstance(event, ContactChanged) and agent is not None:
            contacts = agent.phone_contacts[phone_of_endpoint(event.endpoint)]
            if event.status == "Removed":
                contacts.pop(event.uri, None)
            else:  # Created | Updated | Reachable | NonQualified | Unknown: there, answering; Unreachable: not
                contacts[event.uri] = event.status != "Unreachable"
        elif isinstance(event, DeviceStateChanged) and agent is not None:
            agent.phone_devices[phone_of_device(event.device)] = event.state
            # (the other phone's state is kept, and decides nothing)
            if phone_of_device(event.device) == agent.phone and event.state not in BUSY_DEVICE | RINGING_DEVICE \
                    and agent.activity in ("on_call", "ringing"):
                agent.activity, agent.activity_since, agent.ringing_for = "idle", now, ""
        elif isinstance(event, MemberChanged) and agent is not None:
            self._pause(agent, event.paused, event.pause_reason, now)
            if agent.activity == "ringing" and event.status not in (6, 7) and not event.in_call:
                self._stop_ringing(agent, now)  # its device stopped ringing (the offer was withdrawn)
        elif isinstance(event, AgentOffered) and agent is not None:
            agent.activity, agent.activity_since, agent.ringing_for = "ringing", now, event.linkedid
        elif isinstance(event, AgentConnected):
            # With ringall, the others rang for the same caller: their offers ended without an event.
            for other in self.agents.values():
                if other is not agent and other.activity == "ringing" and other.ringing_for == event.linkedid:
                    self._stop_ringing(other, now)
            if agent is not None:
                agent.activity, agent.activity_since, agent.missed_in_row = "on_call", now, 0
                agent.declined_in_row = 0
                agent.ringing_for = ""
            if queue is not None:
                queue.answered += 1
                queue.total_hold += event.hold_time
                queue.answered_in_sl += event.hold_time <= self.service_level_seconds
        elif isinstance(event, HangupRequested) and not event.soft:
            self._caller_hung_up.add(event.uniqueid)
        elif isinstance(event, ChannelHungUp):
            self._caller_hung_up.discard(event.uniqueid)
        elif isinstance(event, AgentMissed) and agent is not None:
            if agent.activity == "ringing":
                self._stop_ringing(agent, now)
            # Asterisk also says "no answer" when the caller left (hung up, overflowed) while the
            # phone rang: only a full ring timeout is the agent's miss.
            if queue is not None and event.linkedid in queue.waiting and \
                    event.ring_time_ms < self.ring_timeout.get(event.queue, 0) * 1000 - 500:
                # Ended early while the caller still waits: the phone answered busy or declined
                # (486/603). A phone doing that to every offer is paused too, with its own reason.
                agent.declined_in_row += 1
                if self.auto_pause_after and agent.declined_in_row >= self.auto_pause_after and not agent.paused:
                    out.append(ev.AutoPauseDecided(agent.name, f"auto: {agent.declined_in_row} calls declined", now))
            elif event.ring_time_ms >= self.ring_timeout.get(event.queue, 0) * 1000 - 500:
                agent.missed_in_row += 1
                if self.auto_pause_after and agent.missed_in_row >= self.auto_pause_after and not agent.paused:
                    out.append(ev.AutoPauseDecided(agent.name, f"auto: {agent.missed_in_row} missed calls", now))
        elif isinstance(event, ev.AgentLegEnded):
            self._credit(event, now)
        elif isinstance(event, CallerJoinedQueue) and queue is not None:
            queue.offered += 1
            queue.waiting[event.uniqueid] = (now, event.caller_id)
            out.append(ev.QueueChanged(queue.name, len(queue.waiting), now))
        elif isinstance(event, CallerAbandonedQueue) and queue is not None:
            # Asterisk reports a max-wait timeout as an "abandon" too: only a caller who hung up abandoned.
            if event.uniqueid in self._caller_hung_up:
                queue.abandoned += 1
            else:
                queue.overflowed += 1
        elif isinstance(event, CallerLeftQueue) and queue is not None:
            queue.waiting.pop(event.uniqueid, None)
            for other in self.agents.values():  # a caller who left is offered to nobody any more
                if other.activity == "ringing" and other.ringing_for == event.linkedid:
                    self._stop_ringing(other, now)
            out.append(ev.QueueChanged(queue.name, len(queue.waiting), now))
        out.extend(self._changes(now))
        return out

    def rebuild(self, status: QueueStatus, devices: Iterable[DeviceRow], contacts: Iterable[ContactRow],
                now: float) -> list[ev.DomainEvent]:
        """Take Asterisk's truth after a (re)connect: contacts, device states, queue members
        (pauses, in-call) and the callers waiting in each queue, replacing what we believed."""
        by_agent: dict[str, dict[Phone, dict[str, bool]]] = {a: {p: {} for p in PHONES} for a in self.agents}
        for c in contacts:
            endpoint = c.endpoint or c.aor
            name = endpoint_of_device(f"PJSIP/{endpoint}")
            if name in by_agent and c.uri:
                by_agent[name][phone_of_endpoint(endpoint)][c.uri] = c.status != "Unreachable"
        for name, agent in self.agents.items():
            agent.phone_contacts = by_agent[name]
            agent.phone_devices = dict.fromkeys(PHONES, "UNKNOWN")
            self._touched.add(name)
        for d in devices:
            device_owner = self.agents.get(endpoint_of_device(d.device))
            if device_owner is not None:
                phone = phone_of_device(d.device)
                device_owner.phone_devices[phone] = d.state
                if d.state == "UNAVAILABLE":
                    # A contact Asterisk kept from before its restart is listed as it was; the device
                    # says whether anything answers now. Qualify reports Reachable once it does.
                    device_owner.phone_contacts[phone] = dict.fromkeys(device_owner.phone_contacts[phone], False)
        paused: dict[str, tuple[bool, str]] = {}
        in_call: set[str] = set()
        for m in status.members:
            if m.agent in self.agents:
                was = paused.get(m.agent, (False, ""))
                paused[m.agent] = (was[0] or m.paused, was[1] or m.pause_reason)
                if m.in_call:
                    in_call.add(m.agent)
        for name, agent in self.agents.items():
            if name in paused:
                self._pause(agent, paused[name][0], paused[name][1], now)
            busy = agent.device in BUSY_DEVICE or name in in_call
            if agent.activity in ("on_call", "ringing") and not busy and agent.device not in RINGING_DEVICE:
                agent.activity, agent.activity_since, agent.ringing_for = "idle", now, ""
            elif busy and agent.activity != "on_call":
                agent.activity, agent.activity_since = "on_call", now
        out: list[ev.DomainEvent] = []
        waiting: dict[str, dict[str, tuple[float, str]]] = {q: {} for q in self.queues}
        for e in status.entries:
            if e.queue in waiting:
                waiting[e.queue][e.uniqueid] = (now - e.wait, e.caller_id)
        for name, q in self.queues.items():
            if q.waiting != waiting[name]:
                q.waiting = waiting[name]
                out.append(ev.QueueChanged(name, len(q.waiting), now))
        out.extend(self._changes(now))
        return out

    def set_phone(self, name: str, phone: Phone, now: float) -> list[ev.DomainEvent]:
        """The agent now takes calls on `phone` (routing/queues.py switched the queue members): their
        state is that phone's from now on (e.g. logged_out if the browser has not registered).
        An unknown agent: nothing."""
        agent = self.agents.get(name)
        if agent is None or agent.phone == phone:
            return []
        agent.phone = phone
        if agent.device not in BUSY_DEVICE | RINGING_DEVICE and agent.activity in ("on_call", "ringing"):
            agent.activity, agent.activity_since, agent.ringing_for = "idle", now, ""
        self._touched.add(name)
        return self._changes(now)

    def _credit(self, event: ev.AgentLegEnded, now: float) -> None:
        """Each agent's part of a call, as the call tracker measured it (a transfer's target and a
        conference's parties too, not only the queue's first agent): talk + hold; wrap-up follows."""
        handled = event.talk_seconds + event.hold_seconds
        agent = self.agents.get(event.agent)
        queue = self.queues.get(event.queue)
        if agent is not None:
            agent.calls += 1
            agent.talk_seconds += handled
            if event.queue in self.wrapup:
                agent.activity, agent.activity_since = "wrapup", now
                agent.wrapup_until = now + self.wrapup.get(event.queue, 0)
                self._touched.add(agent.name)
        if queue is not None:
            queue.completed += int(event.via == "queue")  # one per answered queue call ...
            # ... and every agent's part of it, with the wrap-up that follows: AHT = talk + hold + wrap-up
            queue.total_handle += handled + self.wrapup.get(event.queue, 0)

    def next_wakeup(self) -> float | None:
        """When the next wrap-up ends (epoch seconds), for the shell's timer; None if none runs."""
        ends = [a.wrapup_until for a in self.agents.values() if a.activity == "wrapup"]
        return min(ends) if ends else None

    def tick(self, now: float) -> list[ev.DomainEvent]:
        """Time passed: wrap-ups that ended make their agents ready again."""
        for a in self.agents.values():
            if a.activity == "wrapup" and now >= a.wrapup_until:
                a.activity, a.activity_since = "idle", now
                self._touched.add(a.name)
        return self._changes(now)

    def _changes(self, now: float) -> list[ev.DomainEvent]:
        out: list[ev.DomainEvent] = []
        for name in self._touched:
            agent = self.agents.get(name)
            if agent is None:
                continue
            state = agent.state(now)
            if state != agent.last_state:
                out.append(ev.AgentStateChanged(name, state, agent.last_state,
                                                agent.pause_reason if state == "paused" else "", now))
                agent.last_state = state
        self._touched.clear()
        return out

    def _stop_ringing(self, agent: AgentState, now: float) -> None:
        agent.activity, agent.activity_since, agent.ringing_for = "idle", now, ""
        self._touched.add(agent.name)

    @staticmethod
    def _pause(agent: AgentState, paused: bool, reason: str, now: float) -> None:
        def close_period() -> None:
            key = agent.pause_reason or "-"
            agent.pause_seconds[key] = agent.pause_seconds.get(key, 0.0) + now - (agent.paused_at or now)

        if paused and not agent.paused:
            agent.paused, agent.pause_reason, agent.paused_at = True, reason, now
        elif not paused and agent.paused:
            close_period()
            agent.paused, agent.pause_reason, agent.paused_at = False, "", None
            agent.missed_in_row = agent.declined_in_row = 0
        elif paused and reason and reason != agent.pause_reason:
            close_period()
            agent.pause_reason, agent.paused_at = reason, now
