"""The controller's REST API (aiohttp). Every request needs the API token, except /api/health.

The token is generated at first start (runtime folder, secrets.yaml); the CLI reads it there.
This is the only place where our errors become HTTP statuses.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from callcenter.controller import Controller
from callcenter.errors import CallcenterError

log = logging.getLogger(__name__)

STATUS_OF_ERROR = {
    "not-found": 404,
    "unknown-call": 404,
    "unauthorized": 401,
    "ami-disconnected": 503,
    "ami-timeout": 504,
    "no-flows": 404,
    "unknown-queue": 404,
    "unknown-agent": 404,
    "not-a-member": 409,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error_id: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message, "details": details or {}}, status=status)


def make_app(controller: Controller, token: str,
             reload_config: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> web.Application:
    @web.middleware
    async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/api/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "unauthorized", "missing or wrong API token (Authorization: Bearer <token>; "
                              "the token is in the runtime folder's secrets.yaml)")
        try:
            return await handler(request)
        except CallcenterError as exc:
            return _error(STATUS_OF_ERROR.get(exc.error_id, 400), exc.error_id, str(exc), exc.details)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "ami": controller.ami.state})

    async def status(request: web.Request) -> web.Response:
        return web.json_response(await controller.status())

    async def calls(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "bad-limit", "limit must be an integer")
        return web.json_response({
            "active": [c.as_dict() for c in controller.tracker.active()],
            "recent": [c.as_dict() for c in controller.tracker.recent()[:max(0, limit)]],
        })

    async def call(request: web.Request) -> web.Response:
        record = controller.tracker.get(request.match_info["call_id"])
        if record is None:
            raise CallcenterError("unknown-call", f"no call {request.match_info['call_id']!r}",
                                  {"call_id": request.match_info["call_id"]})
        return web.json_response(record.as_dict())

    async def flows(request: web.Request) -> web.Response:
        if controller.flows is None:
            raise CallcenterError("no-flows", "this controller runs no IVR flows")
        return web.json_response(controller.flows.describe())

    async def reload_flows(request: web.Request) -> web.Response:
        if controller.flows is None:
            raise CallcenterError("no-flows", "this controller runs no IVR flows")
        changed = await asyncio.to_thread(controller.flows.reload)
        return web.json_response({"reloaded": changed, **controller.flows.describe()},
                                 status=200 if changed else 422)

    async def json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise CallcenterError("bad-request", "the body must be JSON") from None
        if not isinstance(body, dict):
            raise CallcenterError("bad-request", "the body must be a JSON object")
        return body

    def _queue_or_404(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        for row in rows:
            if row["name"] == name:
                return row
        raise CallcenterError("unknown-queue", f"no queue '{name}' (queues: {', '.join(r['name'] for r in rows)})",
                              {"queue": name})

    async def queues(request: web.Request) -> web.Response:
        return web.json_response(controller.queues())

    async def queue(request: web.Request) -> web.Response:
        return web.json_response(_queue_or_404(request.match_info["name"], controller.queues()))

    async def add_member(request: web.Request) -> web.Response:
        body = await json_body(request)
        penalty = body.get("penalty", 0)
        if not isinstance(penalty, int) or isinstance(penalty, bool):
            raise CallcenterError("bad-penalty", f"penalty must be an integer, not {penalty!r}")
        await controller.queue_control.add(request.match_info["name"], str(body.get("agent", "")), penalty)
        return web.json_response(_queue_or_404(request.match_info["name"], controller.queues()))

    async def remove_member(request: web.Request) -> web.Response:
        await controller.queue_control.remove(request.match_info["name"], request.match_info["agent"])
        return web.json_response(_queue_or_404(request.match_info["name"], controller.queues()))

    def _agent_or_404(name: str) -> dict[str, Any]:
        for row in controller.agents():
            if row["name"] == name:
                return row
        raise CallcenterError("unknown-agent", f"no agent '{name}'", {"agent": name})

    async def agents(request: web.Request) -> web.Response:
        return web.json_response(controller.agents())

    async def agent(request: web.Request) -> web.Response:
        return web.json_response(_agent_or_404(request.match_info["name"]))

    async def pause(request: web.Request) -> web.Response:
        body = await json_body(request)
        await controller.queue_control.pause(request.match_info["name"], str(body.get("reason", "")),
                                             str(body.get("queue") or ""))
        return web.json_response(_agent_or_404(request.match_info["name"]))

    async def unpause(request: web.Request) -> web.Response:
        await controller.queue_control.unpause(request.match_info["name"])
        return web.json_response(_agent_or_404(request.match_info["name"]))

    async def config_reload(request: web.Request) -> web.Response:
        if reload_config is None:
            raise CallcenterError("not-supported", "this controller cannot reload its config")
        result = await reload_config()
        return web.json_response(result, status=200 if result["reloaded"] else 422)

    async def callbacks(request: web.Request) -> web.Response:
        return web.json_response([vars(r) for r in controller.callbacks.requests.values()])

    app = web.Application(middlewares=[auth_and_errors])
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
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/calls/{call_id}", call)
    return app


async def start_api(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
