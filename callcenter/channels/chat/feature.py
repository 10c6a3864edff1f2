"""Web chat's wiring: the chat desk (chats kept in the store, desk.py), its visitors' and agents'
sides (service.py), the router that hands chats to agents by skill and capacity (router.py), the
visitor's widget and socket (routes_visitor.py) and the agents' chat API (routes_agent.py)."""

from __future__ import annotations

from typing import Awaitable, Callable

from callcenter.channels.chat import router as router_mod
from callcenter.channels.chat.desk import ChatDesk
from callcenter.channels.chat.router import ChatRouter
from callcenter.channels.chat.routes_agent import AgentRoutes
from callcenter.channels.chat.routes_visitor import VisitorRoutes
from callcenter.channels.chat.service import AgentSide, VisitorSide
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore


class ChatFeature(Feature):
    name = "chat"

    def __init__(self, deps: Deps, core: TicketCore, *, pages: Callable[[], set[str]],
                 availability: Callable[[str], tuple[bool, bool]],
                 call: Callable[[str, str, int | None], Awaitable[str]] | None = None) -> None:
        """`pages()`: agents with a workspace page open; `availability(agent)`: (paused, on a call
        or ringing); `call(agent, number, ticket)`: click-to-call (chat → call)."""
        self.deps = deps
        self.desk = ChatDesk(core.chats, deps.config, deps.bus.publish, deps.clock, pages=pages,
                             agent_state=availability)
        self.visitors = VisitorSide(self.desk)
        self.agents = AgentSide(self.desk, call=call)
        self.router = ChatRouter(self.desk)
        deps.bus.subscribe("chat", self.router.on_event, *router_mod.EVENTS)
        self.files = deps.config().runtime_dir / "chat-attachments"
        self.widget = VisitorRoutes(self.visitors, deps.config, deps.clock, self.files)

    def routes(self) -> list[Route]:
        return [*self.widget.table(), *AgentRoutes(self.agents, self.deps.config, self.files).table()]

    async def stop(self) -> None:
        await self.widget.close_all()  # else the server waits for every open widget before it stops

    async def start(self) -> None:
        await self.desk.load()  # the chats a previous run left open

    def tasks(self) -> list[Task]:
        return [(self.router.run(), "chat desk")]
