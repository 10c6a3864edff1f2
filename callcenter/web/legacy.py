"""TEMPORARY, while the last features move to Route tables: the routes an old-style
`add_routes(app, ...)` registers, read back as `Route`s with the access they had."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from aiohttp import web

from callcenter.core.feature import Access, Route, StaticFolder

AGENT_ROUTES = frozenset({
    ("POST", "/api/tickets/{id}/reply"),
    ("GET", "/api/interactions/{id}/html"),
    ("GET", "/api/chats"), ("GET", "/api/chats/canned"), ("POST", "/api/chats/{id}/messages"),
    ("POST", "/api/chats/{id}/typing"), ("POST", "/api/chats/{id}/transfer"), ("POST", "/api/chats/{id}/end"),
    ("POST", "/api/chats/{id}/verify"), ("POST", "/api/chats/{id}/call"), ("GET", "/api/chat-files/{key}"),
})
ADMIN_PREFIXES = ("/api/email/quarantine",)


def _access(method: str, path: str) -> Access:
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
