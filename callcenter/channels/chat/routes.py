"""Web chat over HTTP (docs/chat.md): the public widget's endpoints and the agents'
chat API. The desk (channels/chatdesk.py) holds the chats; this module checks who may ask.

Public (no login; the widget runs on other sites):
- `GET /chat/widget.js`, `GET /chat/demo.html`: the widget and a page that embeds it.
- `GET /chat/ws`: the visitor's WebSocket (JSON frames; first `{"type": "hello", "visitor": TOKEN}`).
  The TOKEN is the visitor's secret (kept in the browser); their id is a hash of it, so neither the
  agents nor the store hold a token that would open someone's chat.
- `POST /chat/upload` (multipart `file`, header `X-Chat-Visitor: TOKEN`): an attachment (PNG, JPEG,
  GIF, WebP, PDF, told by content; at most `chat.max_attachment_bytes`).
- `POST /chat/offline` (JSON name, email, phone, text): the leave-a-message form → a ticket.
A browser's Origin must be this server or one of `chat.allowed_origins` (403 `origin`); limits per
address and per visitor answer 429 `rate-limited`.

Agents (login; `/api/chats...`): their chats (a supervisor all), messages, typing, transfer, end,
verify the visitor's email or phone, chat → call, canned replies, attachments.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import BodyPartReader, WSMsgType, web

from callcenter.web.throttle import RateLimit
from callcenter.channels.chat import rules
from callcenter.core.text import clean_text
from callcenter.channels.chat.desk import ChatDesk
from callcenter.config import Config
from callcenter.core.errors import CallcenterError, Conflict, NotFound, Refused
from callcenter.tickets import identity
from callcenter.web import access
from callcenter.tickets.routes import path_id

log = logging.getLogger(__name__)

JsonBody = Callable[[web.Request], Awaitable[dict[str, Any]]]
STATIC = Path(__file__).resolve().parent / "static"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
FILE_KEY = re.compile(r"[0-9a-f]{32}")
HELLO_SECONDS = 10.0  # a socket that says nothing this long is closed (4000, as one that falls behind)
QUEUE_SIZE = 256  # frames waiting for one visitor socket; more: it is closed and reconnects


def visitor_id(token: str) -> str:
    """The visitor's id in the store: sha256 of their token, 32 hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


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


def _error(error_id: str, message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message, "details": {}}, status=status,
                             headers=headers)


def add_routes(app: web.Application, *, desk: ChatDesk, config: Callable[[], Config], json_body: JsonBody,
               runtime_dir: Path, clock: Callable[[], float]) -> None:
    limits = Limits(config().chat.connections_per_address)

    def current_limits() -> Limits:
        nonlocal limits
        if limits.per_address != config().chat.connections_per_address:  # a config reload changed it
            limits = Limits(config().chat.connections_per_address)
        return limits
    sockets_of: dict[str, int] = {}  # address → open visitor sockets
    files = runtime_dir / "chat-attachments"

    def origin_ok(request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or access.same_origin(request) or origin in config().chat.allowed_origins

    def cors(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or not origin_ok(request):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Allow-Headers": "Content-Type, X-Chat-Visitor",
                "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Max-Age": "600"}

    def refused(request: web.Request) -> web.Response | None:
        if not config().chat.enabled:
            return _error("chat-off", "web chat is turned off (chat.enabled)", 404)
        if not origin_ok(request):
            log.warning("chat: %s from a page of %s refused (not in chat.allowed_origins)", request.path,
                        request.headers.get("Origin", "")[:100])
            return _error("origin", "this site may not use the chat (chat.allowed_origins)", 403)
        return None

    async def widget(request: web.Request) -> web.StreamResponse:
        name = "widget.js" if request.path.endswith(".js") else "demo.html"
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "max-age=300"})

    async def preflight(request: web.Request) -> web.Response:
        headers = cors(request)
        return web.Response(status=204 if headers else 403, headers=headers)

    # -- the visitor's socket ------------------------------------------------------------------

    async def visitor_socket(request: web.Request) -> web.StreamResponse:
        no = refused(request)
        if no is not None:
            return no
        address = request.remote or "?"
        per_address = current_limits().per_address
        if not limits.connects.hit(address, clock()) or sockets_of.get(address, 0) >= per_address:
            return _error("rate-limited", "too many chat connections from this address; try again in a minute", 429)
        # A character may come JSON-escaped as two \\uXXXX (12 bytes): a legal message always fits.
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=config().chat.max_text * 12 + 1024)
        await ws.prepare(request)
        sockets_of[address] = sockets_of.get(address, 0) + 1
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        visitor = ""

        def sink(message: dict[str, Any]) -> None:
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:  # this page is not reading: it reconnects and gets the history
                asyncio.get_running_loop().create_task(ws.close(code=4000, message=b"fell behind: reconnect"))

        async def pump() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                while True:
                    await ws.send_str(json.dumps(await outbox.get()))

        sender = asyncio.get_running_loop().create_task(pump())
        try:
            hello = await _first_frame(ws)
            if hello is None:
                return ws
            token = hello.get("visitor")
            if not isinstance(token, str) or not TOKEN.fullmatch(token):
                token = secrets.token_urlsafe(32)
            visitor = visitor_id(token)
            queue = hello.get("queue") if isinstance(hello.get("queue"), str) else ""
            origin = request.headers.get("Origin", "")[:200]
            desk.attach(visitor, sink)
            sink({**await desk.welcome(visitor, str(queue)), "visitor": token})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                reply = await _visitor_frame(msg.data, visitor, address, str(queue), origin)
                if reply is not None:
                    sink(reply)
        finally:
            if visitor:
                desk.detach(visitor, sink)
            sockets_of[address] -= 1
            if not sockets_of[address]:
                del sockets_of[address]
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def _first_frame(ws: web.WebSocketResponse) -> dict[str, Any] | None:
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

    async def _visitor_frame(data: str, visitor: str, address: str, queue: str,
                             origin: str) -> dict[str, Any] | None:
        frame = _frame(data)
        if frame is None:
            return {"type": "error", "error_id": "bad-request", "message": "frames are JSON objects with a type"}
        kind, now = frame.get("type"), clock()
        try:
            if kind == "message":
                text = frame.get("text")
                if not isinstance(text, str) or not clean_text(text).strip():
                    return {"type": "error", "error_id": "bad-request", "message": "a message needs text"}
                if len(text) > config().chat.max_text:
                    return {"type": "error", "error_id": "too-long",
                            "message": f"at most {config().chat.max_text} characters"}
                if not limits.messages.hit(visitor, now) or not limits.messages_by_address.hit(address, now):
                    return {"type": "error", "error_id": "rate-limited", "message": "too many messages: wait a moment"}
                await desk.visitor_says(visitor, clean_text(text).strip(), queue=queue, origin=origin)
            elif kind == "typing":
                if limits.typing.hit(visitor, now):
                    await desk.visitor_typing(visitor)
            elif kind == "contact":
                if not limits.contact.hit(visitor, now):
                    return {"type": "error", "error_id": "rate-limited", "message": "too many changes: wait a while"}
                await desk.visitor_contact(visitor, _contact(frame, config().store.default_region))
                return {"type": "contact", "ok": True}
            elif kind == "end":
                await desk.visitor_ends(visitor)
            else:
                return {"type": "error", "error_id": "bad-request", "message": f"unknown frame type {str(kind)[:20]!r}"}
        except CallcenterError as exc:
            return {"type": "error", "error_id": exc.error_id, "message": str(exc)}
        except Exception:  # noqa: BLE001 - e.g. the store away: the visitor is told, the socket stays (docs/design.md#11)
            log.exception("chat: a %s frame of visitor %s failed", kind, visitor[:8])
            return {"type": "error", "error_id": "failed", "message": "not delivered: please try again"}
        return None

    # -- uploads and the offline form --------------------------------------------------------

    async def upload(request: web.Request) -> web.Response:
        headers = cors(request)
        no = refused(request)
        if no is not None:
            return no
        token = request.headers.get("X-Chat-Visitor", "")
        if not TOKEN.fullmatch(token):
            return _error("bad-request", "X-Chat-Visitor must be the widget's visitor token", 400, headers)
        visitor = visitor_id(token)
        if visitor not in desk.sinks:
            return _error("bad-request", "open the chat first (its WebSocket)", 400, headers)
        if not limits.uploads.hit(visitor, clock()):
            return _error("rate-limited", "too many files: wait a while", 429, headers)
        limit = config().chat.max_attachment_bytes
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and getattr(part, "name", None) != "file":
                part = await reader.next()
        except (ValueError, AssertionError, KeyError):
            part = None
        if not isinstance(part, BodyPartReader):
            return _error("bad-request", "send the file as multipart/form-data field `file`", 400, headers)
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                return _error("too-large", f"a file may have at most {limit} bytes", 413, headers)
        kind = rules.sniff(bytes(data[:16]))
        if kind is None:
            return _error("bad-type", "only PNG, JPEG, GIF, WebP images and PDF files", 415, headers)
        key = secrets.token_hex(16)
        await asyncio.to_thread(_keep, files, key, bytes(data))
        name = clean_text(getattr(part, "filename", None) or "file")[:120] or "file"
        attachment = {"name": name, "type": kind, "bytes": len(data), "key": key, "url": f"/api/chat-files/{key}"}
        message = await desk.visitor_says(visitor, "", origin=request.headers.get("Origin", "")[:200],
                                          attachments=[attachment])
        return web.json_response({"message": message}, status=201, headers=headers)

    async def offline(request: web.Request) -> web.Response:
        headers = cors(request)
        no = refused(request)
        if no is not None:
            return no
        try:
            body = await json_body(request)
            text = body.get("text")
            if not isinstance(text, str) or not clean_text(text).strip():
                raise Refused("bad-request", "the message needs text")
            if len(text) > config().chat.max_text:
                raise Refused("too-long", f"at most {config().chat.max_text} characters")
            contact = _contact(body, config().store.default_region)
            if not contact.get("email") and not contact.get("phone"):
                raise Conflict("no-address", "an email or a phone number is needed to answer the message")
            # Counted once the form is right: a visitor's typos do not lock them out.
            if not limits.offline.hit(request.remote or "?", clock()):
                return _error("rate-limited", "too many messages from this address: try again later", 429, headers)
            token = body.get("visitor")
            visitor = visitor_id(token if isinstance(token, str) and TOKEN.fullmatch(token)
                                 else secrets.token_urlsafe(32))
            asked = body.get("queue")
            queue = desk.queue_of(asked if isinstance(asked, str) else "")
            done = await desk.chats.offline(visitor, queue, topic=desk.topic_of(queue), text=clean_text(text).strip(),
                                            contact=contact, origin=request.headers.get("Origin", "")[:200])
        except CallcenterError as exc:
            status = 404 if exc.error_id == "unknown-chat" else 400
            return _error(exc.error_id, str(exc), status, headers)
        log.info("chat: a message left offline → ticket #%s", done["ticket"])
        return web.json_response({"ticket": done["ticket"]}, status=201, headers=headers)

    # -- the agents' API --------------------------------------------------------------------------

    def me(request: web.Request) -> tuple[str, bool]:
        p = access.principal(request)
        return p.agent or p.name, p.may("supervisor")

    async def list_chats(request: web.Request) -> web.Response:
        p = access.principal(request)
        return web.json_response({"chats": await desk.for_page(p.agent, p.may("supervisor"))})

    async def canned(request: web.Request) -> web.Response:
        return web.json_response({"replies": [{"key": k, "text": v}
                                              for k, v in config().chat.canned_replies.items()]})

    async def say(request: web.Request) -> web.Response:
        body = await json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > config().chat.max_text:
            raise Refused("bad-request", f"text: 1 to {config().chat.max_text} characters")
        actor, sup = me(request)
        message = await desk.agent_says(path_id(request.match_info["id"], "chat"), actor, clean_text(text).strip(),
                                        supervisor=sup)
        return web.json_response(message, status=201)

    async def typing(request: web.Request) -> web.Response:
        actor, sup = me(request)
        await desk.agent_typing(path_id(request.match_info["id"], "chat"), actor, supervisor=sup)
        return web.Response(status=204)

    async def transfer(request: web.Request) -> web.Response:
        body = await json_body(request)
        agent, queue = body.get("agent", ""), body.get("queue", "")
        if not isinstance(agent, str) or not isinstance(queue, str) or bool(agent) == bool(queue):
            raise Refused("bad-request", "give either `agent` or `queue`")
        actor, sup = me(request)
        chat = await desk.transfer(path_id(request.match_info["id"], "chat"), actor, agent=agent, queue=queue,
                                   supervisor=sup)
        return web.json_response(desk.for_agents(chat))

    async def end(request: web.Request) -> web.Response:
        actor, sup = me(request)
        chat = await desk.end(path_id(request.match_info["id"], "chat"), actor, supervisor=sup)
        return web.json_response(desk.for_agents(chat))

    async def verify(request: web.Request) -> web.Response:
        body = await json_body(request)
        kind, value = body.get("kind"), body.get("value")
        if kind not in ("email", "phone") or not isinstance(value, str) or not value.strip() or len(value) > 320:
            raise Refused("bad-request", "kind must be email or phone, and value the address or number")
        actor, sup = me(request)
        chat = await desk.verify(path_id(request.match_info["id"], "chat"), actor, str(kind), value, supervisor=sup)
        return web.json_response(desk.for_agents(chat))

    async def call(request: web.Request) -> web.Response:
        body = await json_body(request)
        number = body.get("number", "")
        if not isinstance(number, str):
            raise Refused("bad-request", "number must be a string")
        p = access.principal(request)
        if p.agent is None:
            raise Refused("bad-request", "chat → call rings the agent's phone: log in as an agent")
        chat_id = path_id(request.match_info["id"], "chat")
        call_id = await desk.call(chat_id, p.agent, number, supervisor=p.may("supervisor"))
        return web.json_response({"call_id": call_id, "chat": chat_id})

    async def attachment(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        path = files / key[:2] / key
        if not FILE_KEY.fullmatch(key) or not path.is_file():
            raise NotFound("not-found", "no such attachment")
        kind = rules.sniff(path.open("rb").read(16)) or "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Type": kind, "Content-Disposition": "attachment",
                                               "Content-Security-Policy": "sandbox"})

    app.router.add_get("/chat/widget.js", widget)
    app.router.add_get("/chat/demo.html", widget)
    app.router.add_get("/chat/ws", visitor_socket)
    app.router.add_post("/chat/upload", upload)
    app.router.add_post("/chat/offline", offline)
    app.router.add_route("OPTIONS", "/chat/upload", preflight)
    app.router.add_route("OPTIONS", "/chat/offline", preflight)
    app.router.add_get("/api/chats", list_chats)
    app.router.add_get("/api/chats/canned", canned)
    app.router.add_post("/api/chats/{id}/messages", say)
    app.router.add_post("/api/chats/{id}/typing", typing)
    app.router.add_post("/api/chats/{id}/transfer", transfer)
    app.router.add_post("/api/chats/{id}/end", end)
    app.router.add_post("/api/chats/{id}/verify", verify)
    app.router.add_post("/api/chats/{id}/call", call)
    app.router.add_get("/api/chat-files/{key}", attachment)


def _frame(data: Any) -> dict[str, Any] | None:
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError, TypeError):
        return None
    return frame if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None


def _contact(body: dict[str, Any], region: str) -> dict[str, str]:
    """name / email / phone as the visitor gave them: text, one line, bounded; an email or phone
    that identifies nobody is refused here, as the offline form and verify would refuse it.
    Errors: `bad-request`, IdentityError `invalid-identity`."""
    out = {}
    for key, limit in (("name", 100), ("email", 254), ("phone", 32)):
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise Refused("bad-request", f"{key} must be text")
        text = " ".join(clean_text(value).split())[:limit]  # one line: a name is never a header
        if not text:
            continue
        if key != "name":
            ident = identity.parse(key, text, region)
            if ident is None or not ident.valid:  # a phone kept raw elsewhere is refused from a visitor
                raise identity.IdentityError(f"{text[:40]!r} is no {key}")
        out[key] = text
    return out


def _keep(files: Path, key: str, data: bytes) -> None:
    folder = files / key[:2]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{key}.tmp"
    tmp.write_bytes(data)
    tmp.replace(folder / key)
