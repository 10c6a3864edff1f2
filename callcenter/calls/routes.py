"""HTTP routes of calls (web/openapi.py gives their shapes): live and recent calls, one call,
pausing a live call's recording, and live call control (docs/call-control.md): hold, resume,
mute, hang up, transfers, conference, monitoring. An agent acts on their own leg of a call;
supervisors and admins on anyone's (naming `agent`, else as the agent who has the customer);
only supervisors and admins monitor."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.calls import rules
from callcenter.calls.control import CallControl
from callcenter.calls.recording import Recordings
from callcenter.calls.service import Calls
from callcenter.core.errors import NotFound, Refused
from callcenter.core.feature import Route
from callcenter.core.text import clean_text
from callcenter.web import access
from callcenter.web.access import NotAllowed
from callcenter.web.http import json_body, limit


def _text(body: dict[str, Any], key: str, max_length: int = 64) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > max_length:
        raise Refused("bad-request", f"{key} must be text of at most {max_length} characters")
    return value


class CallsRoutes:
    def __init__(self, calls: Calls, recordings: Recordings, control: CallControl) -> None:
        self.calls, self.recordings, self.control = calls, recordings, control

    def table(self) -> list[Route]:
        base = "/api/calls/{call_id}"
        return [Route("GET", "/api/calls", self.list_calls),
                Route("GET", base, self.call, "agent"),
                Route("POST", f"{base}/recording", self.recording, "agent"),
                Route("GET", f"{base}/parties", self.parties, "agent"),
                Route("POST", f"{base}/hold", self.hold, "agent"),
                Route("POST", f"{base}/resume", self.resume, "agent"),
                Route("POST", f"{base}/mute", self.mute, "agent"),
                Route("POST", f"{base}/hangup", self.hangup, "agent"),
                Route("POST", f"{base}/transfer", self.transfer, "agent"),
                Route("POST", f"{base}/conference", self.conference, "agent"),
                Route("POST", f"{base}/monitor", self.monitor),
                Route("POST", base + "/monitor/{monitor}", self.monitor_mode)]

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

    # -- call control ---------------------------------------------------------------------------

    async def _actor(self, request: web.Request) -> tuple[str, str | None, dict[str, Any]]:
        """The call, the acting agent (None: the one who has the customer) and the body. An agent
        acts only on a call they are on (`forbidden` otherwise)."""
        call_id = request.match_info["call_id"]
        body = await json_body(request) if request.can_read_body else {}
        p = access.principal(request)
        if p.may("supervisor"):
            return call_id, _text(body, "agent") or None, body
        record = self.control.tracker.get(call_id)
        if p.agent is None or record is None:
            raise NotAllowed(f"{p.name} may act only on their own calls")
        try:
            rules.live_leg(record, p.agent)
        except NotFound:
            raise NotAllowed(f"call {call_id} is not {p.agent}'s") from None
        return call_id, p.agent, body

    async def parties(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        record = self.control.tracker.get(call_id)
        access.own_agent(request, rules.owner(record) if record is not None else None, "see the parties of a call")
        return web.json_response(self.control.picture(call_id))

    async def hold(self, request: web.Request) -> web.Response:
        call_id, actor, _ = await self._actor(request)
        return web.json_response(await self.control.hold(call_id, actor))

    async def resume(self, request: web.Request) -> web.Response:
        call_id, actor, _ = await self._actor(request)
        return web.json_response(await self.control.resume(call_id, actor))

    async def mute(self, request: web.Request) -> web.Response:
        call_id, actor, body = await self._actor(request)
        muted = body.get("muted", True)
        if not isinstance(muted, bool):
            raise Refused("bad-request", "muted must be true or false")
        return web.json_response(await self.control.mute(call_id, actor, muted))

    async def hangup(self, request: web.Request) -> web.Response:
        call_id, actor, _ = await self._actor(request)
        return web.json_response(await self.control.hangup(call_id, actor))

    async def transfer(self, request: web.Request) -> web.Response:
        call_id, actor, body = await self._actor(request)
        if "action" in body:
            return web.json_response(await self.control.finish(call_id, actor, _text(body, "action")))
        attended = body.get("attended", False)
        if not isinstance(attended, bool):
            raise Refused("bad-request", "attended must be true or false")
        note = clean_text(_text(body, "note", 2000))
        return web.json_response(await self.control.transfer(call_id, actor, _text(body, "to"), attended=attended,
                                                             note=note))

    async def conference(self, request: web.Request) -> web.Response:
        call_id, actor, body = await self._actor(request)
        if body.get("add"):
            return web.json_response(await self.control.add_party(call_id, actor, _text(body, "add")))
        if body.get("drop"):
            return web.json_response(await self.control.drop_party(call_id, actor, _text(body, "drop")))
        raise Refused("bad-request", 'give "add" (an agent or +E164 number) or "drop" (a party)')

    async def monitor(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        p = access.principal(request)
        # Who monitors: the logged-in supervisor; through the CLI's token, whoever sits at the phone.
        who = p.name if p.via == "session" else ""
        return web.json_response(await self.control.monitor(
            request.match_info["call_id"], _text(body, "phone"), _text(body, "mode") or "listen", who))

    async def monitor_mode(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        return web.json_response(await self.control.monitor_mode(
            request.match_info["call_id"], request.match_info["monitor"], _text(body, "mode")))
