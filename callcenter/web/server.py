"""The controller's web server (aiohttp): it mounts every feature's routes (the REST API, the
agent and wallboard pages, the chat widget, the providers' webhooks) behind one middleware.

Every /api/ request needs the API token (the CLI; generated at first start in the runtime
folder's secrets.yaml) or a logged-in browser session with its CSRF token and a role that may
(web/access.py), except the routes a feature marks public (/api/health, /api/openapi.json — the
description of every route, web/openapi.py — and /api/login).

This is the only place where our errors become HTTP statuses: one table from an error's kind.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Sequence

from aiohttp import web

from callcenter.core.errors import CallcenterError, Forbidden, Kind, Refused
from callcenter.core.feature import Handler, Route, StaticFolder
from callcenter.web import access
from callcenter.web.http import MAX_BODY
from callcenter.web.openapi import SPEC

log = logging.getLogger(__name__)

# The one table from an error's kind to an HTTP status (core/errors.py says what each kind means).
STATUS_OF_KIND: dict[Kind, int] = {
    Kind.REFUSED: 400, Kind.UNAUTHORIZED: 401, Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404, Kind.CONFLICT: 409,
    Kind.RULE: 422, Kind.LIMITED: 429, Kind.UPSTREAM: 502, Kind.UNAVAILABLE: 503, Kind.TIMEOUT: 504,
}
# What the pages (text/html) are served with: nothing from elsewhere, no inline script, no
# framing (clickjacking), no sniffing. A response that sets its own (an email's sandboxed view) keeps it.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def error_response(exc: CallcenterError) -> web.Response:
    """One of our errors as the API answers it: its kind's status, `{error_id, message, details}`."""
    return json_error(STATUS_OF_KIND[exc.kind], exc.error_id, str(exc), exc.details)


def json_error(status: int, error_id: str, message: str, details: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message, "details": details or {}}, status=status,
                             headers=headers)


class SystemRoutes:
    """The server's own routes: health, the OpenAPI description, the status, a config reload."""

    def __init__(self, ami_state: Callable[[], str], status: Callable[[], Awaitable[dict[str, Any]]],
                 reload_config: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.ami_state, self.status_of, self.reload_config = ami_state, status, reload_config

    def table(self) -> list[Route]:
        return [Route("GET", "/api/health", self.health, "public"),
                Route("GET", "/api/openapi.json", self.openapi, "public"),
                Route("GET", "/api/status", self.status),
                Route("POST", "/api/config/reload", self.config_reload, "admin")]

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "ami": self.ami_state()})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(SPEC)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(await self.status_of())

    async def config_reload(self, request: web.Request) -> web.Response:
        if self.reload_config is None:
            raise Refused("not-supported", "this controller cannot reload its config")
        result = await self.reload_config()
        return web.json_response(result, status=200 if result["reloaded"] else 422)


def make_app(routes: Sequence[Route | StaticFolder], *, token: str, session_of: access.SessionLookup,
             agents: Callable[[], frozenset[str]],
             on_shutdown: Sequence[Callable[[], Awaitable[None]]] = ()) -> web.Application:
    """The application serving `routes` (each feature's and the system's). `token` is the API
    token; `session_of(cookie)` finds a browser session; `agents()` names the agents (an agent's
    login acts as that agent); `on_shutdown` closes what would keep the server waiting (open
    WebSockets)."""
    policy = {(r.method, r.path): r.access for r in routes if isinstance(r, Route)}

    @web.middleware
    async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            needed = access.needed(request, policy)
            if request.path.startswith("/api/") and needed != "public":
                request[access.PRINCIPAL] = await access.who(request, needed, token, session_of, agents)
            elif request.path == "/api/login" and not access.same_origin(request):
                raise Forbidden("csrf", "a login from another site")
            return await handler(request)
        except CallcenterError as exc:
            return error_response(exc)
        except web.HTTPException as exc:  # unknown route, wrong method, body too large: JSON too
            return json_error(exc.status, "not-found" if exc.status == 404 else f"http-{exc.status}", exc.reason)

    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.content_type == "text/html":
            for key, value in PAGE_HEADERS.items():
                response.headers.setdefault(key, value)

    app = web.Application(middlewares=[auth_and_errors], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers)
    for close in on_shutdown:
        app.on_shutdown.append(_on_shutdown(close))
    for route in routes:
        if isinstance(route, StaticFolder):
            app.router.add_static(route.prefix, route.folder, follow_symlinks=False, show_index=False)
        elif route.method == "GET":  # and HEAD, as aiohttp serves every GET
            app.router.add_get(route.path, route.handler)
        else:
            app.router.add_route(route.method, route.path, route.handler)
    return app


def _on_shutdown(close: Callable[[], Awaitable[None]]) -> Callable[[web.Application], Awaitable[None]]:
    async def handler(app: web.Application) -> None:
        await close()
    return handler


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port. Errors: OSError (the port is taken)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
