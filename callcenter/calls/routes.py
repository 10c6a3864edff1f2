"""HTTP routes of calls (web/openapi.py gives their shapes): live and recent calls, one call, and
pausing a live call's recording (the agent on the call, or a supervisor)."""

from __future__ import annotations

from aiohttp import web

from callcenter.calls.recording import Recordings
from callcenter.calls.service import Calls
from callcenter.core.errors import Refused
from callcenter.core.feature import Route
from callcenter.web import access
from callcenter.web.http import json_body, limit


class CallsRoutes:
    def __init__(self, calls: Calls, recordings: Recordings) -> None:
        self.calls, self.recordings = calls, recordings

    def table(self) -> list[Route]:
        return [Route("GET", "/api/calls", self.list_calls),
                Route("GET", "/api/calls/{call_id}", self.call, "agent"),
                Route("POST", "/api/calls/{call_id}/recording", self.recording, "agent")]

    async def list_calls(self, request: web.Request) -> web.Response:
        return web.json_response(await self.calls.calls(limit(request, 50, 10_000)))

    async def call(self, request: web.Request) -> web.Response:
        return web.json_response(await self.calls.call(request.match_info["call_id"]))

    async def recording(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        action = body.get("action")
        if action not in ("pause", "resume"):
            raise Refused("bad-request", 'action must be "pause" or "resume"')
        call_id = request.match_info["call_id"]
        record = self.calls.tracker.get(call_id)
        access.own_agent(request, record.agent if record is not None else None, "pause the recording of a call")
        return web.json_response(await self.recordings.set_paused(call_id, action == "pause"))
