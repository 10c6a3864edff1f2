"""TEMPORARY, while the last features move to Route tables: the routes an old-style
`add_routes(app, ...)` registers, read back as `Route`s with the access they had."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from aiohttp import web

from callcenter.core.feature import Access, Route, StaticFolder

AGENT_ROUTES = frozenset({
    ("GET", "/api/session"), ("POST", "/api/logout"), ("GET", "/api/ws"),
    ("GET", "/api/customers"), ("POST", "/api/customers"), ("GET", "/api/customers/{id}"),
    ("PATCH", "/api/customers/{id}"), ("POST", "/api/customers/{id}/merge"),
    ("GET", "/api/tickets"), ("GET", "/api/tickets/{id}"), ("PATCH", "/api/tickets/{id}"),
    ("POST", "/api/calls/{call_id}/wrapup"),
    ("GET", "/api/voicemails"), ("GET", "/api/voicemails/{id}"), ("POST", "/api/voicemails/{id}/handled"),
    ("GET", "/api/interactions/{id}/audio"),
})
ADMIN_PREFIXES = ("/api/users", "/api/retention/")
PUBLIC = frozenset({"/api/login"})


def _access(method: str, path: str) -> Access:
    if path in PUBLIC:
        return "public"
    if (method, path) in AGENT_ROUTES:
        return "agent"
    if path.startswith(ADMIN_PREFIXES):
        return "admin"
    return "supervisor"


def routes_of(add: Callable[[web.Application], None]) -> list[Route | StaticFolder]:
    """What `add(app)` registers on an application, as routes to mount elsewhere."""
    app = web.Application()
    add(app)
    out: list[Route | StaticFolder] = []
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource):
            info = resource.get_info()
            out.append(StaticFolder(str(info["prefix"]) + "/", Path(info["directory"])))
            continue
        for route in resource:
            out.append(Route(route.method, resource.canonical, route.handler, _access(route.method, resource.canonical)))
    return out
