"""The workspace's wiring: web logins (synced from callcenter.yaml), the pages' live push (screen
pop, wallboard), the agent and wallboard pages and their routes (workspace/routes.py; docs/web.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Mapping, Sequence

from callcenter.calls.service import Calls
from callcenter.calls.tracker import CallTracker
from callcenter.core.credentials import Credentials
from callcenter.core.feature import Feature, Route, StaticFolder, Task
from callcenter.deps import Deps
from callcenter.routing.presence import Presence
from callcenter.routing.service import Routing
from callcenter.tickets.core import TicketCore
from callcenter.workspace import live as live_mod
from callcenter.workspace.live import LiveHub
from callcenter.workspace.logins import sync_logins
from callcenter.workspace.routes import LiveRoutes, PageRoutes

log = logging.getLogger(__name__)


class WorkspaceFeature(Feature):
    name = "workspace"

    def __init__(self, deps: Deps, core: TicketCore, *, routing: Routing, tracker: CallTracker, presence: Presence,
                 calls: Calls, credentials: Credentials | None = None,
                 call_log: Callable[[], Mapping[str, Any]] | None = None,
                 call_stored: Callable[[str, float], Awaitable[bool]] | None = None) -> None:
        """`credentials`: the generated secrets (agents' and the first admin's web passwords);
        None: logins are not synced (unit tests add users themselves). `call_log()`: the store's
        call log's state (its backlog, for the wallboard); `call_stored`: CallLog.stored (a pop
        waits for its call's row)."""
        self.config, self.clock, self.calls, self.credentials = deps.config, deps.clock, calls, credentials
        self.accounts = core.accounts
        self.live = LiveHub(deps.config, routing, tracker, presence, core, self.accounts.today, deps.clock,
                            publish=deps.bus.publish, call_log=call_log, call_stored=call_stored,
                            backlog=core.work.backlog)
        deps.bus.subscribe("web", self.live.on_event, *live_mod.EVENTS)

    async def session_of(self, cookie: str) -> dict[str, Any] | None:
        """The browser session of a cookie, if it is live (it ends idle after web.session_idle_minutes)."""
        return await self.accounts.session(cookie, self.config().web.session_idle_minutes * 60.0)

    def routes(self) -> Sequence[Route | StaticFolder]:
        return [*PageRoutes(self.accounts, self.live, self.config, self.clock).table(),
                *LiveRoutes(self.accounts, self.live, self.calls, self.config, self.clock).table()]

    async def _sync_logins(self) -> None:
        if self.credentials is None:
            return
        logins = await sync_logins(self.accounts, self.config(), self.credentials)
        if any(logins.values()):
            log.info("web logins: %(created)d created, %(updated)d updated, %(disabled)d disabled", logins)

    async def start(self) -> None:
        await self._sync_logins()

    async def apply_config(self) -> None:
        """New agents get their web login, removed ones lose it."""
        if self.credentials is not None:  # the file may have gained agents whose passwords are new
            self.credentials = await asyncio.to_thread(Credentials.load_or_create, self.config().runtime_dir,
                                                       self.config().agents, self.config().supervisors)
        await self._sync_logins()

    def tasks(self) -> list[Task]:
        return [(self.live.run(), "web live")]

    async def stop(self) -> None:
        await self.live.close_all()  # else the server waits for every open page before it stops
