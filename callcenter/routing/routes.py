"""HTTP routes of routing (web/openapi.py gives their shapes): queues and their members, agents
and their pauses, callback requests, click-to-call.

Agents may read queues and agents and pause themselves (only themselves: `access.own_agent`);
supervisors change memberships and anyone's pause."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from callcenter.config import Config
from callcenter.core.errors import Refused
from callcenter.core.feature import Route
from callcenter.routing.queues import QueueControl
from callcenter.routing.service import Routing
from callcenter.web import access
from callcenter.web.http import json_body


class RoutingRoutes:
    def __init__(self, routing: Routing, queues: QueueControl, config: Callable[[], Config]) -> None:
        self.routing, self.queue_control, self.config = routing, queues, config

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/queues", self.queues, "agent"),
            Route("GET", "/api/queues/{name}", self.queue, "agent"),
            Route("POST", "/api/queues/{name}/members", self.add_member),
            Route("DELETE", "/api/queues/{name}/members/{agent}", self.remove_member),
            Route("GET", "/api/agents", self.agents, "agent"),
            Route("GET", "/api/agents/{name}", self.agent, "agent"),
            Route("POST", "/api/agents/{name}/pause", self.pause, "agent"),
            Route("POST", "/api/agents/{name}/unpause", self.unpause, "agent"),
            Route("GET", "/api/callbacks", self.callbacks, "agent"),
            Route("POST", "/api/originate", self.originate, "agent"),
        ]

    async def queues(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.queues())

    async def queue(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.queue(request.match_info["name"]))

    async def add_member(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        penalty = body.get("penalty", 0)
        if not isinstance(penalty, int) or isinstance(penalty, bool):
            raise Refused("bad-penalty", f"penalty must be an integer, not {penalty!r}")
        await self.queue_control.add(request.match_info["name"], str(body.get("agent", "")), penalty)
        return web.json_response(self.routing.queue(request.match_info["name"]))

    async def remove_member(self, request: web.Request) -> web.Response:
        await self.queue_control.remove(request.match_info["name"], request.match_info["agent"])
        return web.json_response(self.routing.queue(request.match_info["name"]))

    async def agents(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.agents())

    async def agent(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.agent(request.match_info["name"]))

    async def pause(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        queue = body.get("queue") or ""
        if not isinstance(queue, str):
            raise Refused("bad-request", "queue must be a queue name")
        name = request.match_info["name"]
        access.own_agent(request, name, "pause")
        reasons = self.config().web.pause_reasons
        if access.principal(request).via == "session" and body.get("reason", "") not in reasons:
            raise Refused("bad-reason", f"a pause from the page needs one of web.pause_reasons: {', '.join(reasons)}")
        await self.queue_control.pause(name, body.get("reason", ""), queue)
        return web.json_response(self.routing.agent(name))

    async def unpause(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        access.own_agent(request, name, "unpause")
        await self.queue_control.unpause(name)
        return web.json_response(self.routing.agent(name))

    async def callbacks(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.callback_requests())

    async def originate(self, request: web.Request) -> web.Response:
        """Click-to-call: the agent's phone rings, then the customer's number through the trunk."""
        body = await json_body(request)
        me = access.principal(request)
        agent = me.agent if me.via == "session" else body.get("agent")
        if not isinstance(agent, str) or not agent:
            raise Refused("bad-request", "click-to-call needs an agent's phone (log in as an agent, or give "
                          "`agent` with the API token)")
        number, ticket = body.get("number"), body.get("ticket_id")
        if not isinstance(number, str) or (ticket is not None and (not isinstance(ticket, int)
                                                                    or isinstance(ticket, bool))):
            raise Refused("bad-request", "number must be a string and ticket_id an integer")
        call_id = await self.routing.call_customer(agent, number, ticket)
        return web.json_response({"call_id": call_id, "agent": agent, "number": number, "ticket_id": ticket})
