"""Routing's wiring: presence (who can take a call), queue memberships and pauses, callbacks and
their dialer, auto-pause, click-to-call; `/api/queues`, `/api/agents`, `/api/callbacks`,
`/api/originate`; the `queues` part of the status."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Sequence

from callcenter.calls.tracker import CallTracker
from callcenter.core import events as ev
from callcenter.core.feature import Feature, Route, Task
from callcenter.core.keeper import Keeper
from callcenter.deps import Deps
from callcenter.routing import dialer as dialer_mod
from callcenter.routing.callbacks import CallbackBook, CallbackRequest
from callcenter.routing.dialer import CallbackDialer
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl
from callcenter.routing.routes import RoutingRoutes
from callcenter.routing.service import Routing

log = logging.getLogger(__name__)

STATUS_KEYS = ("name", "strategy", "agents_logged_in", "agents_available", "waiting", "longest_wait_seconds")


class RoutingFeature(Feature):
    name = "routing"

    def __init__(self, deps: Deps, tracker: CallTracker, *, routing_keeper: Keeper | None = None,
                 callback_keeper: Keeper | None = None, callback_requests: Sequence[CallbackRequest] = (),
                 routing_document: str | None = None,
                 ticket_exists: Callable[[int], Awaitable[object]] | None = None) -> None:
        """With a store, memberships, pauses and callback requests are kept in it through the
        keepers (`routing_document`, `callback_requests`: what it holds); without, in
        <runtime>/routing.json and callbacks.json."""
        config = deps.config()
        self.config = deps.config
        self.presence = Presence(config.agents, config.queues, wrapup={q: s.wrapup for q, s in config.queues.items()},
                                 ring_timeout={q: s.ring_timeout for q, s in config.queues.items()},
                                 auto_pause_after=config.routing.auto_pause_after,
                                 service_level_seconds=config.routing.service_level_seconds)
        self.queue_control = QueueControl(config, deps.ami, config.runtime_dir / "routing.json", keeper=routing_keeper,
                                          stored=routing_document)
        self.callbacks = CallbackBook(None if callback_keeper else config.runtime_dir / "callbacks.json",
                                      config.routing.callback_attempts, config.routing.callback_retry_seconds,
                                      keeper=callback_keeper, requests=callback_requests)
        self.dialer = CallbackDialer(config, deps.ami, deps.bus, self.callbacks, self.presence, self.queue_control,
                                     tracker, deps.clock)
        self.keepers = tuple(k for k in (routing_keeper, callback_keeper) if k is not None)
        self.service = Routing(deps.config, deps.ami, tracker, self.presence, self.queue_control, self.callbacks,
                               deps.clock, ticket_exists)
        deps.bus.subscribe("callback dialer", self.dialer.on_event, *dialer_mod.EVENTS)
        deps.bus.subscribe_queued("auto-pause", self._auto_pause, ev.AutoPauseDecided, on_full="wait")

    async def _auto_pause(self, event: ev.AutoPauseDecided) -> None:
        log.warning("agent %s: %s; pausing", event.agent, event.reason)
        await self.queue_control.pause(event.agent, event.reason)

    def routes(self) -> list[Route]:
        return RoutingRoutes(self.service, self.queue_control, self.config).table()

    def tasks(self) -> list[Task]:
        return [(self.dialer.run(), "callback dialer"), *((k.run(), k.name) for k in self.keepers)]

    async def describe(self) -> dict[str, Any]:
        return {"queues": [{k: q[k] for k in STATUS_KEYS} for q in self.service.queues()]}

    async def apply_config(self) -> None:
        config = self.config()
        self.dialer.config = config
        self.presence.update(config.agents, config.queues, {q: s.wrapup for q, s in config.queues.items()},
                             {q: s.ring_timeout for q, s in config.queues.items()})
        self.queue_control.apply_config(config)
        await self.queue_control.flush()
        await self.queue_control.restore()
