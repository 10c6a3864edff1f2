"""The public side of web chat over HTTP (docs/chat.md): the widget's endpoints, which run on
other sites with no login (web/openapi.py gives their shapes).

- `GET /chat/widget.js`, `GET /chat/demo.html`: the widget and a page that embeds it.
- `GET /chat/ws`: the visitor's WebSocket (JSON frames; first `{"type": "hello", "visitor": TOKEN}`).
  The TOKEN is the visitor's secret (kept in the browser); their id is a hash of it
  (rules.visitor_id), so neither the agents nor the store hold a token that would open someone's chat.
- `POST /chat/upload` (multipart `file`, header `X-Chat-Visitor: TOKEN`): an attachment (PNG, JPEG,
  GIF, WebP, PDF, told by content; at most `chat.max_attachment_bytes`).
- `POST /chat/offline` (JSON name, email, phone, text): the leave-a-message form → a ticket.
- `OPTIONS` on both POSTs: the CORS preflight of `chat.allowed_origins`.
A browser's Origin must be this server or one of `chat.allowed_origins` (403 `origin`); with
`chat.enabled` off everything here is 404 `chat-off`; limits per address and per visitor
(`Limits`, docs/chat.md#limits) answer 429 `rate-limited`. The two POSTs answer with CORS headers,
errors too, so a page of an allowed site can read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any, Callable

from aiohttp import BodyPartReader, WSMsgType, web

from callcenter.channels.chat import rules
from callcenter.channels.chat.service import VisitorSide
from callcenter.config import Config
from callcenter.core.errors import CallcenterError, Forbidden, Limited, NotFound, Refused
from callcenter.core.feature import Route
from callcenter.core.text import clean_text
from callcenter.tickets.rows import OfflineMessage
from callcenter.web import access
from callcenter.web.http import json_body
from callcenter.web.server import STATUS_OF_KIND, json_error
from callcenter.web.throttle import RateLimit

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
HELLO_SECONDS = 10.0  # a socket that says nothing this long is closed (4000, as one that falls behind)
QUEUE_SIZE = 256  # frames waiting for one visitor socket; more: it is closed and reconnects


class Limits:
    """The public endpoints' rate limits (per minute unless said); per address from
    `chat.connections_per_address`."""

    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self.connects = RateLimit(per_address, 60.0)  # per address
        self.messages = RateLimit(20, 60.0)  # per visitor
        self.messages_by_address = RateLimit(6 * per_address, 60.0)
        self.typing = RateLimit(1, 1.0)  # per visitor, per second
        self.contact = RateLimit(10, 600.0)  # per visitor, per 10 minutes
        self.uploads = RateLimit(10, 600.0)  # per visitor, per 10 minutes
        self.offline = RateLimit(5, 600.0)  # per address, per 10 minutes


class Outbox:
    """One visitor socket's frames on their way out, in order: `put` is the desk's sink for this
    socket (never blocks), `pump` sends them (a task of the socket's handler)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)

    def put(self, message: dict[str, Any]) -> None:
        try:
            self.frames.put_nowait(message)
        except asyncio.QueueFull:  # this page is not reading: it reconnects and gets the history
            asyncio.get_running_loop().create_task(self.ws.close(code=4000, message=b"fell behind: reconnect"))

    async def pump(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                await self.ws.send_str(json.dumps(await self.frames.get()))


class VisitorRoutes:
    """The widget's routes; the rate limits and the open sockets per address live here."""

    def __init__(self, visitors: VisitorSide, config: Callable[[], Config], clock: Callable[[], float],
                 files: Path) -> None:
        """`files`: the attachments' folder (<runtime>/chat-attachments; routes_agent.py serves them)."""
        self.visitors, self.config, self.clock, self.files = visitors, config, clock, files
        self.limits = Limits(config().chat.connections_per_address)
        self.sockets_of: dict[str, int] = {}  # address → open visitor sockets
        self.open: set[web.WebSocketResponse] = set()  # every open widget socket (closed when the server stops)

    def table(self) -> list[Route]:
        return [
            Route("GET", "/chat/widget.js", self.widget, "public"),
            Route("GET", "/chat/demo.html", self.widget, "public"),
            Route("GET", "/chat/ws", self.visitor_socket, "public"),
            Route("POST", "/chat/upload", self.upload, "public"),
            Route("POST", "/chat/offline", self.offline, "public"),
            Route("OPTIONS", "/chat/upload", self.preflight, "public"),
            Route("OPTIONS", "/chat/offline", self.preflight, "public"),
        ]

    def current_limits(self) -> Limits:
        per_address = self.config().chat.connections_per_address
        if self.limits.per_address != per_address:  # a config reload changed it
            self.limits = Limits(per_address)
        return self.limits

    # -- who may use the chat ------------------------------------------------------------------

    def origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or access.same_origin(request) or origin in self.config().chat.allowed_origins

    def cors(self, request: web.Request) -> dict[str, str]:
        """The CORS headers for an allowed Origin ({} for none or another)."""
        origin = request.headers.get("Origin")
        if origin is None or not self.origin_ok(request):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Allow-Headers": "Content-Type, X-Chat-Visitor",
                "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Max-Age": "600"}

    def check_open(self, request: web.Request) -> None:
        """Errors: NotFound `chat-off` (chat.enabled off), Forbidden `origin` (another site's page)."""
        if not self.config().chat.enabled:
            raise NotFound("chat-off", "web chat is turned off (chat.enabled)")
        if not self.origin_ok(request):
            log.warning("chat: %s from a page of %s refused (not in chat.allowed_origins)", request.path,
                        request.headers.get("Origin", "")[:100])
            raise Forbidden("origin", "this site may not use the chat (chat.allowed_origins)")

    async def widget(self, request: web.Request) -> web.StreamResponse:
        name = "widget.js" if request.path.endswith(".js") else "demo.html"
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "max-age=300"})

    async def preflight(self, request: web.Request) -> web.Response:
        headers = self.cors(request)
        return web.Response(status=204 if headers else 403, headers=headers)

    # -- the visitor's socket ------------------------------------------------------------------

    async def visitor_socket(self, request: web.Request) -> web.StreamResponse:
        """The widget's WebSocket: hello, then the visitor's frames until it closes."""
        self.check_open(request)
        address = request.remote or "?"
        per_address = self.current_limits().per_address
        if not self.limits.connects.hit(address, self.clock()) or self.sockets_of.get(address, 0) >= per_address:
            raise Limited("rate-limited", "too many chat connections from this address; try again in a minute")
        # A character may come JSON-escaped as two \\uXXXX (12 bytes): a legal message always fits.
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=self.config().chat.max_text * 12 + 1024)
        await ws.prepare(request)
        self.sockets_of[address] = self.sockets_of.get(address, 0) + 1
        self.open.add(ws)
        outbox = Outbox(ws)
        sink, visitor = outbox.put, ""
        sender = asyncio.get_running_loop().create_task(outbox.pump())
        try:
            hello = await _first_frame(ws)
            if hello is None:
                return ws
            token = hello.get("visitor")
            if not isinstance(token, str) or not TOKEN.fullmatch(token):
                token = secrets.token_urlsafe(32)
            visitor = rules.visitor_id(token)
            queue = hello.get("queue") if isinstance(hello.get("queue"), str) else ""
            origin = request.headers.get("Origin", "")[:200]
            self.visitors.attach(visitor, sink)
            sink({**await self.visitors.welcome(visitor, str(queue)), "visitor": token})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                reply = await self.visitor_frame(msg.data, visitor, address, str(queue), origin)
                if reply is not None:
                    sink(reply)
        finally:
            if visitor:
                self.visitors.detach(visitor, sink)
            self.open.discard(ws)
            self.sockets_of[address] -= 1
            if not self.sockets_of[address]:
                del self.sockets_of[address]
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def close_all(self) -> None:
        """The server stops: every widget is told (1001 going away) and reconnects to the next one;
        else the web server waits for each open socket before it stops."""
        await asyncio.gather(*(ws.close(code=1001, message=b"server stopping") for ws in list(self.open)),
                             return_exceptions=True)

    async def visitor_frame(self, data: str, visitor: str, address: str, queue: str,
                            origin: str) -> dict[str, Any] | None:
        """One frame of the visitor's: the frame to answer with (an error, a contact's ok), or None."""
        frame = _frame(data)
        if frame is None:
            return {"type": "error", "error_id": "bad-request", "message": "frames are JSON objects with a type"}
        kind, now, limits, config = frame.get("type"), self.clock(), self.limits, self.config()
        try:
            if kind == "message":
                text = frame.get("text")
                if not isinstance(text, str) or not clean_text(text).strip():
                    return {"type": "error", "error_id": "bad-request", "message": "a message needs text"}
                if len(text) > config.chat.max_text:
                    return {"type": "error", "error_id": "too-long",
                            "message": f"at most {config.chat.max_text} characters"}
                if not limits.messages.hit(visitor, now) or not limits.messages_by_address.hit(address, now):
                    return {"type": "error", "error_id": "rate-limited", "message": "too many messages: wait a moment"}
                await self.visitors.says(visitor, clean_text(text).strip(), queue=queue, origin=origin)
            elif kind == "typing":
                if limits.typing.hit(visitor, now):
                    await self.visitors.typing(visitor)
            elif kind == "contact":
                if not limits.contact.hit(visitor, now):
                    return {"type": "error", "error_id": "rate-limited", "message": "too many changes: wait a while"}
                await self.visitors.contact(visitor, rules.contact(frame, config.store.default_region))
                return {"type": "contact", "ok": True}
            elif kind == "end":
                await self.visitors.ends(visitor)
            else:
                return {"type": "error", "error_id": "bad-request", "message": f"unknown frame type {str(kind)[:20]!r}"}
        except CallcenterError as exc:
            return {"type": "error", "error_id": exc.error_id, "message": str(exc)}
        except Exception:  # noqa: BLE001 - e.g. the store away: the visitor is told, the socket stays (docs/design.md#11)
            log.exception("chat: a %s frame of visitor %s failed", kind, visitor[:8])
            return {"type": "error", "error_id": "failed", "message": "not delivered: please try again"}
        return None

    # -- uploads and the offline form --------------------------------------------------------
    # Their errors carry the CORS headers (json_error): a page of an allowed site reads them.

    async def upload(self, request: web.Request) -> web.Response:
        """An attachment from a visitor with the chat open: kept, then sent as their message (201)."""
        headers = self.cors(request)
        self.check_open(request)
        token = request.headers.get("X-Chat-Visitor", "")
        if not TOKEN.fullmatch(token):
            return json_error(400, "bad-request", "X-Chat-Visitor must be the widget's visitor token", headers=headers)
        visitor = rules.visitor_id(token)
        if not self.visitors.has_page(visitor):
            return json_error(400, "bad-request", "open the chat first (its WebSocket)", headers=headers)
        if not self.limits.uploads.hit(visitor, self.clock()):
            return json_error(429, "rate-limited", "too many files: wait a while", headers=headers)
        limit = self.config().chat.max_attachment_bytes
        part = await _file_part(request)
        if part is None:
            return json_error(400, "bad-request", "send the file as multipart/form-data field `file`",
                              headers=headers)
        data = await _read_at_most(part, limit)
        if data is None:
            return json_error(413, "too-large", f"a file may have at most {limit} bytes", headers=headers)
        kind = rules.sniff(data[:16])
        if kind is None:
            return json_error(415, "bad-type", "only PNG, JPEG, GIF, WebP images and PDF files", headers=headers)
        key = secrets.token_hex(16)
        await asyncio.to_thread(_keep, self.files, key, data)
        name = clean_text(getattr(part, "filename", None) or "file")[:120] or "file"
        attachment = {"name": name, "type": kind, "bytes": len(data), "key": key, "url": f"/api/chat-files/{key}"}
        message = await self.visitors.says(visitor, "", origin=request.headers.get("Origin", "")[:200],
                                           attachments=[attachment])
        return web.json_response({"message": message}, status=201, headers=headers)

    async def offline(self, request: web.Request) -> web.Response:
        """The leave-a-message form → a ticket (201 `{ticket}`)."""
        headers = self.cors(request)
        self.check_open(request)
        try:
            done = await self._offline(request)
        except CallcenterError as exc:
            return json_error(STATUS_OF_KIND[exc.kind], exc.error_id, str(exc), exc.details, headers)
        log.info("chat: a message left offline → ticket #%s", done["ticket"])
        return web.json_response({"ticket": done["ticket"]}, status=201, headers=headers)

    async def _offline(self, request: web.Request) -> OfflineMessage:
        """Errors: Refused `bad-request`, `too-long`, `no-address`, IdentityError, Limited
        `rate-limited`, and the store's."""
        body = await json_body(request)
        config = self.config()
        text = body.get("text")
        if not isinstance(text, str) or not clean_text(text).strip():
            raise Refused("bad-request", "the message needs text")
        if len(text) > config.chat.max_text:
            raise Refused("too-long", f"at most {config.chat.max_text} characters")
        contact = rules.contact(body, config.store.default_region)
        if not contact.get("email") and not contact.get("phone"):
            raise Refused("no-address", "an email or a phone number is needed to answer the message")
        # Counted once the form is right: a visitor's typos do not lock them out.
        if not self.limits.offline.hit(request.remote or "?", self.clock()):
            raise Limited("rate-limited", "too many messages from this address: try again later")
        token = body.get("visitor")
        visitor = rules.visitor_id(token if isinstance(token, str) and TOKEN.fullmatch(token)
                                   else secrets.token_urlsafe(32))
        asked = body.get("queue")
        return await self.visitors.offline(visitor, asked if isinstance(asked, str) else "", clean_text(text).strip(),
                                           contact, request.headers.get("Origin", "")[:200])


async def _first_frame(ws: web.WebSocketResponse) -> dict[str, Any] | None:
    """The socket's hello frame, or None once the socket is closed for not saying it in time."""
    try:
        msg = await ws.receive(timeout=HELLO_SECONDS)
    except asyncio.TimeoutError:
        await ws.close(code=4000, message=b"say hello first")
        return None
    frame = _frame(msg.data) if msg.type == WSMsgType.TEXT else None
    if frame is None or frame.get("type") != "hello":
        await ws.close(code=4000, message=b"say hello first")
        return None
    return frame


def _frame(data: Any) -> dict[str, Any] | None:
    """A frame: a JSON object with a string `type`, else None."""
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError, TypeError):
        return None
    return frame if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None


async def _file_part(request: web.Request) -> BodyPartReader | None:
    """The multipart body's `file` field, or None (no such field, not multipart)."""
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
    except (ValueError, AssertionError, KeyError):
        part = None
    return part if isinstance(part, BodyPartReader) else None


async def _read_at_most(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as they pass `limit` (the rest is not read)."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _keep(files: Path, key: str, data: bytes) -> None:
    """The attachment written whole under files/<key[:2]>/<key> (a temporary file renamed)."""
    folder = files / key[:2]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{key}.tmp"
    tmp.write_bytes(data)
    tmp.replace(folder / key)
