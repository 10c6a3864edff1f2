"""The controller's web server (aiohttp): the REST API, and the agent and wallboard pages
(web/workspace.py). Every /api/ request needs the API token (the CLI; generated at first start in
the runtime folder's secrets.yaml) or a logged-in browser session with its CSRF token and a role
that may (web/access.py), except /api/health, /api/openapi.json (the description of every route:
web/openapi.py) and /api/login.

This is the only place where our errors become HTTP statuses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from callcenter.core.errors import Kind, CallcenterError, Forbidden, NotFound, Refused
from callcenter.web import access
from callcenter.channels.chat import routes as chat
from callcenter.tickets import routes as store_api
from callcenter.channels.sms import routes as webhooks
from callcenter.workspace import routes as workspace
from callcenter.web.openapi import SPEC

if TYPE_CHECKING:
    from callcenter.app import Callcenter

log = logging.getLogger(__name__)

# The one table from an error's kind to an HTTP status (core/errors.py says what each kind means).
STATUS_OF_KIND: dict[Kind, int] = {
    Kind.REFUSED: 400, Kind.UNAUTHORIZED: 401, Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404, Kind.CONFLICT: 409,
    Kind.RULE: 422, Kind.LIMITED: 429, Kind.UPSTREAM: 502, Kind.UNAVAILABLE: 503, Kind.TIMEOUT: 504,
}
# TEMPORARY (until the ticket store's errors carry their kinds): the statuses of its ids.
_LEGACY_STATUS = {
    "not-found": 404,
    "unknown-call": 404,
    "unauthorized": 401,
    "ami-disconnected": 503,
    "ami-timeout": 504,
    "no-flows": 404,
    "unknown-queue": 404,
    "unknown-agent": 404,
    "not-a-member": 409,
    "not-recorded": 409,
    "invalid-text": 400,
    "unknown-customer": 404,
    "unknown-ticket": 404,
    "unknown-merge": 404,
    "unknown-voicemail": 404,
    "no-store": 404,
    "ticket-conflict": 409,
    "identity-taken": 409,
    "merge-undone": 409,
    "same-customer": 409,
    "merge-loop": 409,
    "invalid-transition": 422,
    "store-unavailable": 503,
    "bad-login": 401,
    "csrf": 403,
    "forbidden": 403,
    "unknown-user": 404,
    "user-exists": 409,
    "no-audio": 404,
    "unknown-interaction": 404,
    "opted-out": 409,
    "no-address": 409,
    "sms-send-failed": 502,
    "mail-send-failed": 502,
    "no-trunk": 409,
    "phone-not-registered": 409,
    "too-many-pages": 429,
    "unknown-chat": 404,
    "chat-ended": 409,
    "not-yours": 403,
    "agent-busy": 409,
    "no-number": 409,
    "no-telephony": 409,
    "rate-limited": 429,
}


def status_of(exc: CallcenterError) -> int:
    """The HTTP status of one of our errors, from its kind."""
    if exc.kind is Kind.REFUSED and exc.error_id in _LEGACY_STATUS:
        return _LEGACY_STATUS[exc.error_id]
    return STATUS_OF_KIND[exc.kind]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


MAX_JSON_DEPTH = 64
MAX_BODY = 64 * 1024  # bytes; every request body here is a few fields


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _error(status: int, error_id: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message, "details": details or {}}, status=status)


def make_app(parts: "Callcenter", token: str,
             reload_config: Callable[[], Awaitable[dict[str, Any]]] | None = None,
             config_status: Callable[[], dict[str, Any]] | None = None,
             sms_token: Callable[[], str] = lambda: "") -> web.Application:
    view = parts.view
    accounts = parts.accounts

    async def session_of(cookie: str) -> dict[str, str] | None:
        if accounts is None:
            return None
        return await accounts.session(cookie, parts.config.web.session_idle_minutes * 60.0)

    def agent_names() -> frozenset[str]:
        return frozenset(parts.config.agents)

    @web.middleware
    async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path.startswith("/api/") and request.path not in access.PUBLIC:
                request[access.PRINCIPAL] = await access.who(request, token, session_of, agent_names)
            elif request.path == "/api/login" and not access.same_origin(request):
                raise Forbidden("csrf", "a login from another site")
            return await handler(request)
        except CallcenterError as exc:
            status = status_of(exc)
            return _error(status, exc.error_id, str(exc), exc.details)
        except web.HTTPException as exc:  # unknown route, wrong method, body too large: JSON too
            return _error(exc.status, "not-found" if exc.status == 404 else f"http-{exc.status}", exc.reason)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(SPEC)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "ami": parts.ami.state})

    async def status(request: web.Request) -> web.Response:
        data = await view.status()
        if config_status is not None:
            data["config"] = config_status()
        return web.json_response(data)

    async def calls(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "bad-limit", "limit must be an integer")
        if not 1 <= limit <= 10_000:
            return _error(400, "bad-limit", "limit must be 1 to 10000")
        return web.json_response(await view.calls(limit))

    async def call(request: web.Request) -> web.Response:
        return web.json_response(await view.call(request.match_info["call_id"]))

    async def recording(request: web.Request) -> web.Response:
        body = await json_body(request)
        action = body.get("action")
        if action not in ("pause", "resume"):
            raise Refused("bad-request", 'action must be "pause" or "resume"')
        record = parts.tracker.get(request.match_info["call_id"])
        access.own_agent(request, record.agent if record is not None else None, "pause the recording of a call")
        return web.json_response(await parts.recordings.set_paused(request.match_info["call_id"], action == "pause"))

    async def flows(request: web.Request) -> web.Response:
        if parts.flows is None:
            raise NotFound("no-flows", "this controller runs no IVR flows")
        return web.json_response(parts.flows.describe())

    async def reload_flows(request: web.Request) -> web.Response:
        if parts.flows is None:
            raise NotFound("no-flows", "this controller runs no IVR flows")
        changed = await asyncio.to_thread(parts.flows.reload)
        return web.json_response({"reloaded": changed, **parts.flows.describe()},
                                 status=200 if changed else 422)

    async def json_body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()  # aiohttp refuses bodies over client_max_size with 413
        try:
            body = json.loads(raw, parse_constant=_no_constant)  # NaN / Infinity are not JSON
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise Refused("bad-request", "the body must be JSON (at most 64 levels deep)") from None
        if _depth(body) > MAX_JSON_DEPTH:
            raise Refused("bad-request", f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(body, dict):
            raise Refused("bad-request", "the body must be a JSON object")
        return body

    async def queues(request: web.Request) -> web.Response:
        return web.json_response(view.queues())

    async def queue(request: web.Request) -> web.Response:
        return web.json_response(view.queue(request.match_info["name"]))

    async def add_member(request: web.Request) -> web.Response:
        body = await json_body(request)
        penalty = body.get("penalty", 0)
        if not isinstance(penalty, int) or isinstance(penalty, bool):
            raise Refused("bad-penalty", f"penalty must be an integer, not {penalty!r}")
        await parts.queue_control.add(request.match_info["name"], str(body.get("agent", "")), penalty)
        return web.json_response(view.queue(request.match_info["name"]))

    async def remove_member(request: web.Request) -> web.Response:
        await parts.queue_control.remove(request.match_info["name"], request.match_info["agent"])
        return web.json_response(view.queue(request.match_info["name"]))

    async def agents(request: web.Request) -> web.Response:
        return web.json_response(view.agents())

    async def agent(request: web.Request) -> web.Response:
        return web.json_response(view.agent(request.match_info["name"]))

    async def pause(request: web.Request) -> web.Response:
        body = await json_body(request)
        queue = body.get("queue") or ""
        if not isinstance(queue, str):
            raise Refused("bad-request", "queue must be a queue name")
        access.own_agent(request, request.match_info["name"], "pause")
        me = access.principal(request)
        if me.via == "session" and body.get("reason", "") not in parts.config.web.pause_reasons:
            raise Refused("bad-reason", "a pause from the page needs one of web.pause_reasons: "
                                  f"{', '.join(parts.config.web.pause_reasons)}")
        await parts.queue_control.pause(request.match_info["name"], body.get("reason", ""), queue)
        return web.json_response(view.agent(request.match_info["name"]))

    async def unpause(request: web.Request) -> web.Response:
        access.own_agent(request, request.match_info["name"], "unpause")
        await parts.queue_control.unpause(request.match_info["name"])
        return web.json_response(view.agent(request.match_info["name"]))

    async def config_reload(request: web.Request) -> web.Response:
        if reload_config is None:
            raise Refused("not-supported", "this controller cannot reload its config")
        result = await reload_config()
        return web.json_response(result, status=200 if result["reloaded"] else 422)

    async def callbacks(request: web.Request) -> web.Response:
        return web.json_response(view.callback_requests())

    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.content_type == "text/html":  # what a response set itself stays (an email's sandboxed view)
            for key, value in workspace.PAGE_HEADERS.items():
                response.headers.setdefault(key, value)

    app = web.Application(middlewares=[auth_and_errors], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers)
    if parts.live is not None:
        live = parts.live

        async def close_pages(app: web.Application) -> None:
            await live.close_all()  # else the server waits for every open page before it stops
        app.on_shutdown.append(close_pages)
    if accounts is not None and parts.live is not None:
        workspace.add_routes(app, accounts=accounts, live=parts.live, config=lambda: parts.config,
                             json_body=json_body, parts=parts)
    if parts.messages is not None:
        webhooks.add_routes(app, messages=parts.messages, provider=parts.sms, config=lambda: parts.config,
                            token=sms_token, publish=parts.bus.publish, json_body=json_body, clock=parts.view.clock,
                            intake=lambda: parts.intake)
    if parts.chat is not None:
        desk = parts.chat

        async def dial(agent: str, number: str, ticket: int) -> str:
            return await workspace.dial_customer(parts, agent, number, ticket)
        desk.call_out = dial
        chat.add_routes(app, desk=desk, config=lambda: parts.config, json_body=json_body,
                        runtime_dir=parts.config.runtime_dir, clock=parts.view.clock)
    store_api.add_routes(app, parts.store, json_body,
                         parts.transcriber.wake if parts.transcriber is not None else None)
    app.router.add_get("/api/callbacks", callbacks)
    app.router.add_post("/api/config/reload", config_reload)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/queues/{name}", queue)
    app.router.add_post("/api/queues/{name}/members", add_member)
    app.router.add_delete("/api/queues/{name}/members/{agent}", remove_member)
    app.router.add_get("/api/agents", agents)
    app.router.add_get("/api/agents/{name}", agent)
    app.router.add_post("/api/agents/{name}/pause", pause)
    app.router.add_post("/api/agents/{name}/unpause", unpause)
    app.router.add_get("/api/flows", flows)
    app.router.add_post("/api/flows/reload", reload_flows)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/calls/{call_id}", call)
    app.router.add_post("/api/calls/{call_id}/recording", recording)
    return app


async def start_api(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
