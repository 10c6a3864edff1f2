"""The inbox's wiring: the offer rounds (service.py) kicked by the bus, its routes, its `status`
part. Its items are the store's (tickets/work.py); its pages' pushes go through the workspace's
live hub; live chats are the chat desk's."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.inbox import service as service_mod
from callcenter.inbox.routes import InboxRoutes
from callcenter.inbox.service import Inbox, Push, Search
from callcenter.tickets.core import TicketCore


class InboxFeature(Feature):
    name = "inbox"

    def __init__(self, deps: Deps, core: TicketCore, *, tracker: CallTracker, pages: Callable[[], set[str]],
                 availability: Callable[[str], tuple[bool, bool]], chats: Callable[[], Iterable[Mapping[str, Any]]],
                 push: Push, watched: Callable[[], bool] = lambda: True,
                 search: Search | None = None) -> None:
        """`pages()`: agents with a page open; `availability(agent)`: (paused, on a call);
        `chats()`: the live chats; `push(who, message)`: the live hub's; `watched()`: any page open."""
        self.inbox = Inbox(core.work, core.tickets, deps.config, deps.clock, pages=pages, availability=availability,
                           chats=chats, calls=lambda: [c.as_dict() for c in tracker.active()], push=push,
                           publish=deps.bus.publish, search=search, watched=watched)
        deps.bus.subscribe("inbox", self.inbox.on_event, *service_mod.EVENTS)

    def routes(self) -> list[Route]:
        return InboxRoutes(self.inbox).table()

    def tasks(self) -> list[Task]:
        return [(self.inbox.run(), "inbox")]

    async def describe(self) -> dict[str, Any]:
        return {"inbox": self.inbox.describe()}
