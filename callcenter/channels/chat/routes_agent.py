"""The agents' side of web chat over HTTP (docs/chat.md, "Agents"; web/openapi.py gives the shapes):
`/api/chats...` and `/api/chat-files/{key}`, all at agent level (web/access.py: a login or the API
token). An agent works the chats they hold, a supervisor any (`not-yours` otherwise, service.py):
their list, canned replies, answers, typing, transfer, end, verifying the visitor's email or
phone, chat → call, and the visitors' attachments as downloads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from aiohttp import web

from callcenter.channels.chat import rules
from callcenter.channels.chat.service import AgentSide
from callcenter.config import Config
from callcenter.core.errors import NotFound, Refused
from callcenter.core.feature import Route
from callcenter.core.text import clean_text
from callcenter.web import access
from callcenter.web.http import json_body, path_id

FILE_KEY = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16), as routes_visitor.py names a file


class AgentRoutes:
    def __init__(self, agents: AgentSide, config: Callable[[], Config], files: Path) -> None:
        """`files`: the attachments' folder (<runtime>/chat-attachments, written by routes_visitor.py)."""
        self.agents, self.config, self.files = agents, config, files

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/chats", self.list_chats, "agent"),
            Route("GET", "/api/chats/canned", self.canned, "agent"),
            Route("POST", "/api/chats/{id}/messages", self.say, "agent"),
            Route("POST", "/api/chats/{id}/typing", self.typing, "agent"),
            Route("POST", "/api/chats/{id}/transfer", self.transfer, "agent"),
            Route("POST", "/api/chats/{id}/end", self.end, "agent"),
            Route("POST", "/api/chats/{id}/verify", self.verify, "agent"),
            Route("POST", "/api/chats/{id}/call", self.call, "agent"),
            Route("GET", "/api/chat-files/{key}", self.attachment, "agent"),
        ]

    @staticmethod
    def _me(request: web.Request) -> tuple[str, bool]:
        """(who acts: the agent, else the user's name; may they act on any chat)."""
        p = access.principal(request)
        return p.agent or p.name, p.may("supervisor")

    async def list_chats(self, request: web.Request) -> web.Response:
        p = access.principal(request)
        return web.json_response({"chats": await self.agents.for_page(p.agent, p.may("supervisor"))})

    async def canned(self, request: web.Request) -> web.Response:
        return web.json_response({"replies": [{"key": k, "text": v}
                                              for k, v in self.config().chat.canned_replies.items()]})

    async def say(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        text, max_text = body.get("text"), self.config().chat.max_text
        if not isinstance(text, str) or not text.strip() or len(text) > max_text:
            raise Refused("bad-request", f"text: 1 to {max_text} characters")
        actor, sup = self._me(request)
        message = await self.agents.says(path_id(request.match_info["id"], "chat"), actor, clean_text(text).strip(),
                                         supervisor=sup)
        return web.json_response(message, status=201)

    async def typing(self, request: web.Request) -> web.Response:
        actor, sup = self._me(request)
        await self.agents.typing(path_id(request.match_info["id"], "chat"), actor, supervisor=sup)
        return web.Response(status=204)

    async def transfer(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        agent, queue = body.get("agent", ""), body.get("queue", "")
        if not isinstance(agent, str) or not isinstance(queue, str) or bool(agent) == bool(queue):
            raise Refused("bad-request", "give either `agent` or `queue`")
        actor, sup = self._me(request)
        return web.json_response(await self.agents.transfer(path_id(request.match_info["id"], "chat"), actor,
                                                            agent=agent, queue=queue, supervisor=sup))

    async def end(self, request: web.Request) -> web.Response:
        actor, sup = self._me(request)
        return web.json_response(await self.agents.end(path_id(request.match_info["id"], "chat"), actor,
                                                       supervisor=sup))

    async def verify(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        kind, value = body.get("kind"), body.get("value")
        if kind not in ("email", "phone") or not isinstance(value, str) or not value.strip() or len(value) > 320:
            raise Refused("bad-request", "kind must be email or phone, and value the address or number")
        actor, sup = self._me(request)
        return web.json_response(await self.agents.verify(path_id(request.match_info["id"], "chat"), actor,
                                                          str(kind), value, supervisor=sup))

    async def call(self, request: web.Request) -> web.Response:
        """Chat → call: the agent's own phone rings first, so only an agent's login may."""
        body = await json_body(request)
        number = body.get("number", "")
        if not isinstance(number, str):
            raise Refused("bad-request", "number must be a string")
        p = access.principal(request)
        if p.agent is None:
            raise Refused("bad-request", "chat → call rings the agent's phone: log in as an agent")
        chat_id = path_id(request.match_info["id"], "chat")
        call_id = await self.agents.call(chat_id, p.agent, number, supervisor=p.may("supervisor"))
        return web.json_response({"call_id": call_id, "chat": chat_id})

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        """A visitor's file as a download, never shown inline (sandboxed, its type told by its bytes)."""
        key = request.match_info["key"]
        path = self.files / key[:2] / key
        if not FILE_KEY.fullmatch(key) or not path.is_file():
            raise NotFound("not-found", "no such attachment")
        with path.open("rb") as file:
            kind = rules.sniff(file.read(16)) or "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Type": kind, "Content-Disposition": "attachment",
                                               "Content-Security-Policy": "sandbox"})
