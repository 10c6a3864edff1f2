"""Web chat's wiring: the chat desk (chats kept in the store, routed to agents by skill and
capacity), the visitor's widget and socket, the agents' chat API."""

from __future__ import annotations

from typing import Awaitable, Callable, Sequence

from callcenter.channels.chat import routes as chat_routes
from callcenter.channels.chat.desk import ChatDesk
from callcenter.core import events as ev
from callcenter.core.feature import Feature, Route, StaticFolder, Task
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore
from callcenter.web.http import json_body
from callcenter.web.legacy import routes_of


class ChatFeature(Feature):
    name = "chat"

    def __init__(self, deps: Deps, core: TicketCore, *, pages: Callable[[], set[str]],
                 availability: Callable[[str], tuple[bool, bool]],
                 call: Callable[[str, str, int | None], Awaitable[str]] | None = None) -> None:
        """`pages()`: agents with a workspace page open; `availability(agent)`: (paused, on a call
        or ringing); `call(agent, number, ticket)`: click-to-call (chat → call)."""
        self.deps = deps
        self.desk = ChatDesk(core.chats, deps.config, deps.bus.publish, deps.clock, pages=pages,
                             agent_state=availability, call=call)
        deps.bus.subscribe("chat", self.desk.on_event, ev.AgentStateChanged, ev.CallEnded, ev.PagesChanged)

    def routes(self) -> Sequence[Route | StaticFolder]:
        config = self.deps.config
        return routes_of(lambda app: chat_routes.add_routes(app, desk=self.desk, config=config, json_body=json_body,
                                                            runtime_dir=config().runtime_dir, clock=self.deps.clock))

    async def start(self) -> None:
        await self.desk.load()  # the chats a previous run left open

    def tasks(self) -> list[Task]:
        return [(self.desk.run(), "chat desk")]
