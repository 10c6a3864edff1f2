"""HTTP routes of the browser softphone (web/openapi.py gives their shapes): the page's softphone
settings, and an agent's choice of phone.

`GET /api/softphone` answers only the logged-in agent (it holds their SIP password: never anyone
else's, not even a supervisor's view). `POST /api/agents/{name}/phone`: an agent for themselves,
supervisors and the API token for anyone."""

from __future__ import annotations

from aiohttp import web

from callcenter.core.errors import Refused
from callcenter.core.feature import Route
from callcenter.softphone.service import Softphone
from callcenter.web import access
from callcenter.web.http import json_body


class SoftphoneRoutes:
    def __init__(self, softphone: Softphone) -> None:
        self.softphone = softphone

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/softphone", self.settings, "agent"),
            Route("POST", "/api/agents/{name}/phone", self.choose, "agent"),
        ]

    async def settings(self, request: web.Request) -> web.Response:
        me = access.principal(request)
        if me.agent is None:
            raise Refused("not-an-agent", "the softphone's settings are an agent's own: log in as the agent")
        return web.json_response(self.softphone.settings(me.agent), headers={"Cache-Control": "no-store"})

    async def choose(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        access.own_agent(request, name, "choose the phone")
        body = await json_body(request)
        phone = await self.softphone.choose(name, body.get("phone"))  # type: ignore[arg-type]  # checked inside
        return web.json_response({"agent": name, "phone": phone})
