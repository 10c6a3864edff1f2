"""REST routes of the ticket store (docs/tickets.md, docs/web.md; web/openapi.py says their
shapes): customers and merges, tickets, retention.

Bodies are JSON objects; a wrong type is a 400 `bad-request`, never a repr stored. The actor of a
change is the body's `actor` (default `api`), or the logged-in person at a page. Agents find,
create, update and merge customers and work tickets assigned to them or to nobody
(`access.own_ticket`); undoing a merge needs a supervisor, retention an admin.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.core.errors import NotFound, Refused
from callcenter.core.feature import Route
from callcenter.tickets.core import TicketCore
from callcenter.web import access
from callcenter.web.http import int_field, json_body, limit, path_id, strings_field, text_field


def _identities(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The body's `identities`: at most 50 `{"kind", "value"}` strings, as (kind, value). Errors:
    Refused `bad-request`."""
    value = body.get("identities", [])
    if not isinstance(value, list) or len(value) > 50 or not all(
            isinstance(i, dict) and isinstance(i.get("kind"), str) and isinstance(i.get("value"), str) for i in value):
        raise Refused("bad-request", 'identities must be a list of {"kind": ..., "value": ...} (at most 50)')
    return [(i["kind"], i["value"]) for i in value]


def _actor(body: dict[str, Any]) -> str:
    """The body's `actor` (default `api`). Errors: Refused `bad-request`."""
    return text_field(body, "actor", "api") or "api"


class CustomerRoutes:
    """/api/customers (find, list, create), /api/customers/{id} (file, update, merge), and
    /api/merges/{id}/undo."""

    def __init__(self, core: TicketCore) -> None:
        self.core = core

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/customers", self.find, "agent"),
            Route("POST", "/api/customers", self.create, "agent"),
            Route("GET", "/api/customers/{id}", self.file, "agent"),
            Route("PATCH", "/api/customers/{id}", self.update, "agent"),
            Route("POST", "/api/customers/{id}/merge", self.merge, "agent"),
            Route("POST", "/api/merges/{id}/undo", self.unmerge),
        ]

    async def find(self, request: web.Request) -> web.Response:
        """`?q=` a phone, an email or `#id` → that customer's file; without `q`, the customers with
        the latest activity first (`?limit=`, default 100). Errors: NotFound `unknown-customer`."""
        q = request.query.get("q", "")
        if not q:
            return web.json_response(await self.core.customers.recent(limit(request, 100)))
        found = await self.core.customers.screen_pop(q, limit(request))
        if found is None:
            raise NotFound("unknown-customer", f"no customer {q!r}")
        return web.json_response(found)

    async def file(self, request: web.Request) -> web.Response:
        """`{customer, identities, open_tickets, timeline}` (`?limit=` timeline entries, default 50)."""
        cid = path_id(request.match_info["id"], "customer")
        return web.json_response(await self.core.customers.file(cid, limit(request)))

    async def create(self, request: web.Request) -> web.Response:
        """`{name?, identities?, actor?}` → the new customer's file, 201."""
        body = await json_body(request)
        created = await self.core.customers.create(text_field(body, "name", "") or "", _identities(body), _actor(body))
        return web.json_response(await self.core.customers.file(created["id"]), status=201)

    async def update(self, request: web.Request) -> web.Response:
        """`{name?, add_tags?, remove_tags?, identities?}` (identities are added) → the file."""
        body = await json_body(request)
        cid = path_id(request.match_info["id"], "customer")
        await self.core.customers.update(cid, name=text_field(body, "name"), add_tags=strings_field(body, "add_tags"),
                                         remove_tags=strings_field(body, "remove_tags"),
                                         add_identities=_identities(body))
        return web.json_response(await self.core.customers.file(cid))

    async def merge(self, request: web.Request) -> web.Response:
        """`{source: customer id, actor?}`: `source` is merged into this customer → the merge (its id
        undoes it). Errors: Refused `bad-request`, NotFound `unknown-customer`, Conflict
        `same-customer`, `merge-loop`."""
        body = await json_body(request)
        source = body.get("source")
        if not isinstance(source, int) or isinstance(source, bool):
            raise Refused("bad-request", "source must be a customer id (an integer)")
        target = path_id(request.match_info["id"], "customer")
        return web.json_response(await self.core.customers.merge(target, source, _actor(body)))

    async def unmerge(self, request: web.Request) -> web.Response:
        """`{actor?}`: the merge is undone → what moved back. Errors: NotFound `unknown-merge`,
        Conflict `merge-undone`."""
        body = await json_body(request)
        merge_id = path_id(request.match_info["id"], "merge")
        return web.json_response(await self.core.customers.unmerge(merge_id, _actor(body)))


class TicketRoutes:
    """/api/tickets (list), /api/tickets/{id} (read, update), /api/retention/apply."""

    def __init__(self, core: TicketCore) -> None:
        self.core = core

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/tickets", self.tickets, "agent"),
            Route("GET", "/api/tickets/{id}", self.ticket, "agent"),
            Route("PATCH", "/api/tickets/{id}", self.update, "agent"),
            Route("POST", "/api/retention/apply", self.retention, "admin"),
        ]

    async def tickets(self, request: web.Request) -> web.Response:
        """Latest first; `?status=`, `?customer=` (a phone, an email or `#id`), `?assignee=`,
        `?limit=` (default 100). Errors: NotFound `unknown-customer`, Refused `bad-limit`."""
        q = request.query
        customer_id = None
        if "customer" in q:
            found = await self.core.customers.find(q["customer"])
            if found is None:
                raise NotFound("unknown-customer", f"no customer {q['customer']!r}")
            customer_id = found["id"]
        return web.json_response(await self.core.tickets.recent(status=q.get("status"), customer_id=customer_id,
                                                                assignee=q.get("assignee"), limit=limit(request, 100)))

    async def ticket(self, request: web.Request) -> web.Response:
        return web.json_response(await self.core.tickets.get(path_id(request.match_info["id"], "ticket")))

    async def update(self, request: web.Request) -> web.Response:
        """`{status?, priority?, assignee?, queue?, note?, add_tags?, remove_tags?, version?, edits?, actor?}`
        → the ticket. A person at a page is the actor, and an agent changes only tickets of theirs
        or nobody's. Errors: Refused `bad-request`, `forbidden`, and the store's (docs/tickets.md)."""
        body = await json_body(request)
        version, edits = int_field(body, "version"), int_field(body, "edits")
        tid = path_id(request.match_info["id"], "ticket")
        me = request.get(access.PRINCIPAL)
        actor = _actor(body)
        if me is not None and me.via == "session":  # a person at the page: they are the actor
            actor = me.name
            if not me.may("supervisor"):
                access.own_ticket(request, (await self.core.tickets.get(tid))["assignee"], text_field(body, "assignee"))
        await self.core.tickets.update(tid, actor, status=text_field(body, "status"),
                                       priority=text_field(body, "priority"), assignee=text_field(body, "assignee"),
                                       note=text_field(body, "note"), add_tags=strings_field(body, "add_tags"),
                                       remove_tags=strings_field(body, "remove_tags"), expected_version=version,
                                       expected_edits=edits, queue=text_field(body, "queue"))
        return web.json_response(await self.core.tickets.get(tid))

    async def retention(self, request: web.Request) -> web.Response:
        """`{dry_run?: bool}` → what retention removed (or would). Errors: Refused `bad-request`."""
        body = await json_body(request)
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise Refused("bad-request", "dry_run must be true or false")
        return web.json_response(await self.core.retention.apply(dry_run=dry_run))
