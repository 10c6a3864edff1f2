"""What the routes, the CLI and other features ask of routing: queues and agents with their live
numbers, callback requests, click-to-call, and an agent's availability for other work.

Plain dicts shaped for JSON (the REST API's answers); times are epoch seconds, durations seconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Awaitable, Callable

from callcenter.ami.port import AmiPort
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core.errors import Conflict, Refused, UnknownAgent, UnknownQueue
from callcenter.routing.callbacks import CallbackBook, dialable
from callcenter.routing.clicktocall import click_to_call
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl
from callcenter.routing.settings import AgentSettings, QueueSettings


class Routing:
    """Read-only views over presence, memberships and callbacks; click-to-call."""

    def __init__(self, config: Callable[[], Config], ami: AmiPort, tracker: CallTracker, presence: Presence,
                 queues: QueueControl, callbacks: CallbackBook, clock: Callable[[], float],
                 ticket_exists: Callable[[int], Awaitable[object]] | None = None) -> None:
        """`ticket_exists(id)`: raises `unknown-ticket` for a ticket the store does not have."""
        self.config, self.ami, self.tracker, self.presence = config, ami, tracker, presence
        self.queue_control, self.callbacks, self.clock, self.ticket_exists = queues, callbacks, clock, ticket_exists

    def queues(self) -> list[dict[str, Any]]:
        """Per queue: settings, members with their state, callers waiting, live numbers."""
        now = self.clock()
        return [self._queue(name, settings, now) for name, settings in self.config().queues.items()]

    def queue(self, name: str) -> dict[str, Any]:
        """One queue as `queues()` shows it (computed alone: the live pages ask per event). Errors: `unknown-queue`."""
        queues = self.config().queues
        settings = queues.get(name)
        if settings is None:
            raise UnknownQueue(name, list(queues))
        return self._queue(name, settings, self.clock())

    def _queue(self, name: str, settings: QueueSettings, now: float) -> dict[str, Any]:
        members = [self._member(name, agent, penalty, now)
                   for agent, penalty in sorted(self.queue_control.state.members.get(name, {}).items())
                   if agent in self.presence.agents]
        numbers = self.presence.queues[name].as_dict(now, self.presence.service_level_seconds)
        numbers["callbacks"] = [{"id": r.id, "number": r.number, "state": r.state, "attempts": r.attempts,
                                 "kept_wait_seconds": round(now - r.joined_at, 1)} for r in self.callbacks.open(name)]
        return {**numbers, "strategy": settings.strategy, "wrapup": settings.wrapup, "members": members,
                "agents_logged_in": sum(m["state"] not in ("logged_out", "unreachable") for m in members),
                "agents_available": sum(m["state"] == "ready" for m in members)}

    def _member(self, queue: str, agent: str, penalty: int, now: float) -> dict[str, Any]:
        live = self.presence.agents[agent]
        state, reason = live.state(now), live.pause_reason  # what its as_dict(now) says, without the rest
        pause = self.queue_control.state.paused.get(agent)
        if pause and pause["queue"] not in ("", queue):  # paused in another queue only: ready here
            state, reason = ("ready" if state == "paused" else state), ""
        return {"agent": agent, "penalty": penalty, "state": state, "pause_reason": reason}

    def agents(self) -> list[dict[str, Any]]:
        """Every agent: state, extension, name, queues and penalties, the pause in force."""
        now = self.clock()
        return [self._agent(name, a, now) for name, a in self.config().agents.items() if name in self.presence.agents]

    def agent(self, name: str) -> dict[str, Any]:
        """One agent as `agents()` shows it (computed alone: the live pages ask per event). Errors: `unknown-agent`."""
        agents = self.config().agents
        settings = agents.get(name)
        if settings is None or name not in self.presence.agents:
            raise UnknownAgent(name, list(agents))
        return self._agent(name, settings, self.clock())

    def _agent(self, name: str, settings: AgentSettings, now: float) -> dict[str, Any]:
        return {**self.presence.agents[name].as_dict(now), "extension": settings.extension,
                "full_name": settings.full_name, "queues": self.queue_control.memberships(name),
                "pause": self.queue_control.state.paused.get(name)}

    def callback_requests(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(r) for r in self.callbacks.requests.values()]

    def availability(self, name: str) -> tuple[bool, bool]:
        """(paused, on a call or ringing) for work offered outside app_queue (chats)."""
        agent = self.presence.agents.get(name)
        return (agent.paused, agent.state(self.clock()) in ("ringing", "on_call")) if agent else (False, False)

    async def call_customer(self, agent: str, number: str, ticket: int | None) -> str:
        """Click-to-call once what it needs is there: the ticket, a carrier, the agent's registered
        phone. Returns the call's id. Errors: `bad-number`, `unknown-ticket`, `no-trunk`,
        `phone-not-registered`, `unknown-agent`, AMI errors."""
        if not dialable(number.strip().replace(" ", "").replace("-", "")):
            raise Refused("bad-number", f"{number[:30]!r} cannot be dialed: 3 to 20 digits, an optional leading +")
        if ticket is not None and self.ticket_exists is not None:
            await self.ticket_exists(ticket)  # unknown-ticket before anyone's phone rings
        config = self.config()
        if not config.trunk.host:
            raise Conflict("no-trunk", "click-to-call needs a carrier: set trunk.host in callcenter.yaml")
        state = self.presence.agents.get(agent)
        if state is None or not state.registered:
            raise Conflict("phone-not-registered", f"{agent}'s phone is not registered: it must ring first")
        return await click_to_call(self.ami, self.tracker, config, agent, number, ticket,
                                   self.queue_control.interface(agent))
