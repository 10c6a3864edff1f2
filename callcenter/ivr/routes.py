"""HTTP routes of the IVR flows: the flows running (and the errors of a refused reload), and a
reload now (admins)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from callcenter.core.errors import NotFound
from callcenter.core.feature import Route
from callcenter.ivr.flows import FlowLibrary


class FlowRoutes:
    def __init__(self, flows: FlowLibrary | None) -> None:
        self.flows = flows

    def table(self) -> list[Route]:
        return [Route("GET", "/api/flows", self.list_flows), Route("POST", "/api/flows/reload", self.reload, "admin")]

    def _library(self) -> FlowLibrary:
        if self.flows is None:
            raise NotFound("no-flows", "this controller runs no IVR flows")
        return self.flows

    async def list_flows(self, request: web.Request) -> web.Response:
        return web.json_response(self._library().describe())

    async def reload(self, request: web.Request) -> web.Response:
        library = self._library()
        changed = await asyncio.to_thread(library.reload)
        return web.json_response({"reloaded": changed, **library.describe()}, status=200 if changed else 422)
