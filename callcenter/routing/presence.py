"""Agents' live state and queues' live numbers, from the AMI event stream. Pure: events and `now` in.

Agent state, as a supervisor reads it:
  logged_out  the softphone is not registered
  paused      paused (with a reason) in its queues
  ringing     a queue is offering it a call
  on_call     talking to a caller
  wrapup      after a call, for the queue's wrap-up time (app_queue offers nothing meanwhile)
  ready       registered, idle, not paused

Auto-pause: an agent who lets `auto_pause_after` offers in a row ring out is paused with a
reason; `apply()` returns that decision and the I/O side carries it out.

Queue numbers: waiting callers and the longest wait, offered, answered, abandoned, overflowed,
service level (answered within `service_level_seconds`), average speed of answer, average handle
time. Computed from the events as they come, not rebuilt later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from callcenter.ami.events import (AgentCompleted, AgentConnected, AgentMissed, AgentOffered, CallerAbandonedQueue,
                                   CallerJoinedQueue, CallerLeftQueue, ChannelHungUp, ContactChanged, Event,
                                   HangupRequested, MemberChanged)

UNREGISTERED = ("Removed", "Unreachable")


@dataclass(frozen=True)
class AutoPause:
    """Decision: pause this agent (in all its queues) for this reason."""

    agent: str
    reason: str


@dataclass
class AgentState:
    name: str
    registered: bool = False
    paused: bool = False
    pause_reason: str = ""
    paused_at: float | None = None
    activity: str = "idle"  # idle | ringing | on_call | wrapup
    activity_since: float = 0.0
    ringing_for: str = ""  # the Linkedid of the call offered to it
    wrapup_until: float = 0.0
    missed_in_row: int = 0
    calls: int = 0
    talk_seconds: float = 0.0
    pause_seconds: dict[str, float] = field(default_factory=dict)  # by reason

    def state(self, now: float) -> str:
        if not self.registered:
            return "logged_out"
        if self.activity in ("ringing", "on_call"):
            return self.activity
        if self.activity == "wrapup" and now < self.wrapup_until:
            return "wrapup"
        if self.paused:
            return "paused"
        return "ready"

    def as_dict(self, now: float) -> dict[str, Any]:
        pauses = dict(self.pause_seconds)
        if self.paused and self.paused_at is not None:
            pauses[self.pause_reason or "-"] = pauses.get(self.pause_reason or "-", 0.0) + now - self.paused_at
        return {"name": self.name, "state": self.state(now), "registered": self.registered, "paused": self.paused,
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
    total_handle: float = 0.0  # talk time of completed calls
    _answered_ids: set[str] = field(default_factory=set)

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

    def update(self, agents: Iterable[str], queues: Iterable[str], wrapup: Mapping[str, int],
               ring_timeout: Mapping[str, int]) -> None:
        """Agents and queues were added or removed (config reload): keep the others' numbers."""
        agents, queues = list(agents), list(queues)
        self.agents = {a: self.agents.get(a) or AgentState(a) for a in agents}
        self.queues = {q: self.queues.get(q) or QueueNumbers(q) for q in queues}
        self.wrapup, self.ring_timeout = dict(wrapup), dict(ring_timeout)

    def apply(self, event: Event, now: float) -> list[AutoPause]:
        decisions: list[AutoPause] = []
        agent = self.agents.get(getattr(event, "agent", "") or getattr(event, "endpoint", ""))
        queue = self.queues.get(getattr(event, "queue", ""))
        if isinstance(event, ContactChanged) and agent is not None:
            agent.registered = event.status not in UNREGISTERED
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
                agent.ringing_for = ""
            if queue is not None:
                queue.answered += 1
                queue.total_hold += event.hold_time
                queue.answered_in_sl += event.hold_time <= self.service_level_seconds
                queue._answered_ids.add(event.linkedid)
        elif isinstance(event, HangupRequested) and not event.soft:
            self._caller_hung_up.add(event.uniqueid)
        elif isinstance(event, ChannelHungUp):
            self._caller_hung_up.discard(event.uniqueid)
        elif isinstance(event, AgentMissed) and agent is not None:
            if agent.activity == "ringing":
                self._stop_ringing(agent, now)
            # Asterisk also says "no answer" when the caller left (hung up, overflowed) while the
            # phone rang: only a full ring timeout is the agent's miss.
            if event.ring_time_ms < self.ring_timeout.get(event.queue, 0) * 1000 - 500:
                return decisions
            agent.missed_in_row += 1
            if self.auto_pause_after and agent.missed_in_row >= self.auto_pause_after and not agent.paused:
                decisions.append(AutoPause(agent.name, f"auto: {agent.missed_in_row} missed calls"))
        elif isinstance(event, AgentCompleted):
            if agent is not None:
                agent.calls += 1
                agent.talk_seconds += event.talk_time
                agent.activity, agent.activity_since = "wrapup", now
                agent.wrapup_until = now + self.wrapup.get(event.queue, 0)
            if queue is not None:
                queue.completed += 1
                queue.total_handle += event.talk_time
        elif isinstance(event, CallerJoinedQueue) and queue is not None:
            queue.offered += 1
            queue.waiting[event.uniqueid] = (now, event.caller_id)
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
        return decisions

    @staticmethod
    def _stop_ringing(agent: AgentState, now: float) -> None:
        agent.activity, agent.activity_since, agent.ringing_for = "idle", now, ""

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
            agent.missed_in_row = 0
        elif paused and reason and reason != agent.pause_reason:
            close_period()
            agent.pause_reason, agent.paused_at = reason, now
