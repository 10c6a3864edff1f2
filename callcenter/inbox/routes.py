"""REST routes of the inbox (docs/inbox.md; web/openapi.py says their shapes): an agent's view of
the pending work, accept / decline / next, and a supervisor's assignment."""

from __future__ import annotations

from aiohttp import web

from callcenter.core.errors import Refused
from callcenter.core.feature import Route
from callcenter.inbox.service import Inbox
from callcenter.web import access
from callcenter.web.http import json_body, path_id, text_field

MAX_QUERY = 200  # characters of a search


class InboxRoutes:
    """/api/inbox, /api/inbox/next, /api/inbox/{id}/accept|decline|assign."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/inbox", self.view, "agent"),
            Route("POST", "/api/inbox/next", self.next, "agent"),
            Route("POST", "/api/inbox/{id}/accept", self.accept, "agent"),
            Route("POST", "/api/inbox/{id}/decline", self.decline, "agent"),
            Route("POST", "/api/inbox/{id}/assign", self.assign),
        ]

    async def view(self, request: web.Request) -> web.Response:
        """`?view=mine|queues|search` (default queues), `?q=` (search), `?status= &channel= &queue=
        &sla=`, `?agent=` (supervisors) → `{calls, items, offers}`."""
        q = request.query
        text = q.get("q", "")
        if len(text) > MAX_QUERY:
            raise Refused("bad-request", f"a search is at most {MAX_QUERY} characters")
        filters = {k: q[k] for k in ("status", "channel", "queue", "sla") if k in q}
        data = await self.inbox.view(access.principal(request), q.get("view", "queues"), text=text,
                                     agent=q.get("agent") or None, filters=filters)
        return web.json_response(data)

    async def accept(self, request: web.Request) -> web.Response:
        """→ `{ticket}` (assigned to the caller, open)."""
        ticket_id = path_id(request.match_info["id"], "ticket")
        return web.json_response({"ticket": await self.inbox.accept(access.principal(request), ticket_id)})

    async def decline(self, request: web.Request) -> web.Response:
        """→ `{ticket, declined: true}`: offered to the next agent."""
        ticket_id = path_id(request.match_info["id"], "ticket")
        return web.json_response(await self.inbox.decline(access.principal(request), ticket_id))

    async def next(self, request: web.Request) -> web.Response:
        """→ `{item}`: the most urgent item of the caller's queues, accepted for them."""
        return web.json_response(await self.inbox.next(access.principal(request)))

    async def assign(self, request: web.Request) -> web.Response:
        """`{agent}` ("" : back to the queue) → `{ticket}`."""
        body = await json_body(request)
        agent = text_field(body, "agent")
        if agent is None:
            raise Refused("bad-request", "agent is needed (\"\" puts the ticket back in its queue)")
        ticket_id = path_id(request.match_info["id"], "ticket")
        return web.json_response({"ticket": await self.inbox.assign(access.principal(request).name, ticket_id, agent)})
