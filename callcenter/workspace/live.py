"""Live updates for the pages: one WebSocket per page, fed by the domain-event bus (docs/web.md).

The hub is an inline bus subscriber: each event becomes a message put (never awaited) on every
interested page's bounded queue (256); a page that falls that far behind is closed with code 4000
and reconnects, getting a fresh snapshot. A ringing agent gets a screen pop: the call (DID, IVR
path and variables, queue, wait) and the caller's customer file, read from the store in one query
(budget: INVITE at the phone → pop rendered, p95 ≤ 300 ms). Supervisors get the wallboard at
most once a second while calls move.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import WSMsgType, web

from callcenter.core import events as ev
from callcenter.web.roles import Principal
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core.errors import CallcenterError, Limited
from callcenter.routing.service import Routing
from callcenter.routing.presence import Presence
from callcenter.tickets.core import TicketCore
from callcenter.workspace.wallboard import wallboard

log = logging.getLogger(__name__)

EVENTS = (ev.AgentStateChanged, ev.QueueChanged, ev.CallerQueued, ev.AgentOffered, ev.AgentConnected, ev.CallEnded,
          ev.VoicemailTranscribed, ev.MessageReceived, ev.CallbackRequested, ev.PictureRebuilt, ev.ChatChanged,
          ev.WorkChanged)
QUEUE_SIZE = 256
OVERFLOW_CLOSE = 4000  # "you fell behind: reconnect for a fresh snapshot"
POP_WAITS_FOR_STORE = 1.0  # seconds a pop waits for its call's row (then: the caller's file without it)
POP_KEPT_SECONDS = 120.0  # a reconnecting page still shows the last pop this long after its call ended (wrap-up)
LOGGED_OUT_CLOSE = 4001  # "this session ended: log in again"
MAX_PAGES_PER_USER = 50


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    principal: Principal
    session: str = ""  # the sha256 of its session cookie (a logout closes its pages)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


class LiveHub:
    def __init__(self, config: Callable[[], Config], routing: Routing, tracker: CallTracker, presence: Presence,
                 store: TicketCore | None, today: Callable[[float], Awaitable[dict[str, int]]] | None,
                 clock: Callable[[], float] = time.time,
                 publish: Callable[[Any], Awaitable[None]] | None = None,
                 call_log: Callable[[], Mapping[str, Any]] | None = None,
                 call_stored: Callable[[str, float], Awaitable[bool]] | None = None,
                 backlog: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None) -> None:
        """`routing`: the queues' and agents' views; `today(midnight)`: the store's counts of the
        day per channel; `publish`: where PagesChanged goes (an agent's pages opened or closed);
        `call_log()`: the store's call log (tickets/calls.py `CallLog.describe`: its backlog);
        `call_stored(call_id, timeout)`: waits until a call's row is written (`CallLog.stored`);
        `backlog()`: the pending work per queue and channel (tickets/work.py)."""
        self.config, self.routing, self.tracker, self.presence, self.store = config, routing, tracker, presence, store
        self.today_counts, self.clock, self.publish, self.call_log = today, clock, publish, call_log
        self.call_stored = call_stored
        self.clients: set[Client] = set()
        self.pops: dict[str, dict[str, Any]] = {}  # agent → their latest pop
        self._board_dirty = asyncio.Event()
        self._today: tuple[float, dict[str, int]] = (0.0, {})
        self.backlog = backlog
        self._backlog: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sent = self.dropped = 0
        self._at = 0.0  # the time of the event being delivered

    # -- the bus side -----------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """Inline subscriber: never blocks (a slow page only fills its own queue). Messages carry
        the event's time (`at`, epoch seconds)."""
        at = getattr(event, "at", None)
        self._at = at if isinstance(at, (int, float)) else self.clock()
        if isinstance(event, ev.AgentStateChanged):
            self._to_all({"type": "agent", "agent": self._agent(event.agent)})
        elif isinstance(event, (ev.QueueChanged, ev.CallerQueued)):
            self._queue_changed(event.queue)
        elif isinstance(event, ev.AgentOffered):
            self._spawn(self._pop(event.call_id, event.agent, event.queue))
            self._queue_changed(event.queue)
        elif isinstance(event, ev.AgentConnected):
            self._call_changed(event.call_id, event.agent)
            self._queue_changed(event.queue)
        elif isinstance(event, ev.CallEnded):
            # Every agent whose page shows it: the one who took it, those it rang (a caller who hung
            # up while their phones rang) and those it was transferred to.
            record = event.record
            shown = {record.agent or ""} | {x.agent for x in record.legs} | \
                {step.partition(":")[2] for step in record.path if step.startswith("offered:")}
            for agent in sorted(shown - {""}):
                self._call_changed(record.call_id, agent, record.as_dict())
            if event.record.queue:
                self._queue_changed(event.record.queue)
        elif isinstance(event, ev.VoicemailTranscribed):
            self._to_all({"type": "voicemail", "voicemail": {
                "voicemail": event.voicemail_id, "ticket": event.ticket_id, "customer": event.customer_id,
                "text": event.text, "language": event.language, "empty": event.empty}})
        elif isinstance(event, ev.MessageReceived):
            self._to_all({"type": "message", "message": {
                "channel": event.channel, "interaction": event.interaction_id, "ticket": event.ticket_id,
                "customer": event.customer_id, "address": event.address, "text": event.text}})
        elif isinstance(event, ev.ChatChanged):
            # The chat's agent (and the one who had it before a transfer) and the supervisors.
            holders = {event.chat.get("agent", ""), event.previous_agent} - {""}
            self._to(lambda p: p.may("supervisor") or (p.agent is not None and p.agent in holders),
                     {"type": "chat", "event": event.kind, "chat": event.chat, "message": event.message})
            if event.kind == "typing":
                return  # nothing on the wallboard moves
        elif isinstance(event, ev.CallbackRequested):
            self._to_all({"type": "callbacks"})
        elif isinstance(event, ev.PictureRebuilt):  # after a reconnect to Asterisk: everything may have moved
            for client in list(self.clients):
                self._spawn(self._resnapshot(client))
        self._board_dirty.set()

    def _agent(self, name: str) -> dict[str, Any] | None:
        if not self.clients:
            return None  # (sent to nobody)
        try:
            return self.routing.agent(name)
        except CallcenterError:
            return None

    def _queue_changed(self, queue: str) -> None:
        if not self.clients:
            return  # no page open: nothing to compute (a burst of callers with nobody watching)
        with contextlib.suppress(CallcenterError):
            self._to_all({"type": "queue", "queue": self.routing.queue(queue)})

    def _call_changed(self, call_id: str, agent: str, record: dict[str, Any] | None = None) -> None:
        if record is None:
            live = self.tracker.get(call_id)
            record = live.as_dict() if live is not None else {"call_id": call_id}
        self._to(lambda p: p.is_agent(agent), {"type": "call", "call": record})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pop(self, call_id: str, agent: str, queue: str) -> None:
        try:
            pop = await self.pop(call_id, queue)
        except Exception:  # noqa: BLE001 - a pop that fails must not take the hub down (docs/design.md#11)
            log.exception("screen pop of call %s for %s failed", call_id, agent)
            return
        self.pops[agent] = pop
        self._to(lambda p: p.is_agent(agent), {"type": "pop", "pop": pop, "at": pop["at"]})

    async def pop(self, call_id: str, queue: str = "") -> dict[str, Any]:
        """What a ringing agent sees: the call and the caller's file (None when the store has none)."""
        now = self.clock()
        record = self.tracker.get(call_id)
        call: dict[str, Any] = {"call_id": call_id, "queue": queue}
        if record is not None:
            call.update(caller_id=record.caller_id, caller_name=record.caller_name, did=record.did,
                        queue=record.queue or queue, flow=record.flow, ivr_path=list(record.ivr_path),
                        variables=dict(record.variables), started_at=record.started_at,
                        wait_seconds=round(now - record.queued_at, 1) if record.queued_at else None)
        file, ticket_id = None, None
        if self.store is not None:
            if self.call_stored is not None:  # its row follows the queue join by a moment: the pop shows its ticket
                await self.call_stored(call_id, POP_WAITS_FOR_STORE)
            stored = await self.store.calls.get(call_id)
            if stored is not None:
                ticket_id = stored["ticket_id"]
                file = await self.store.customers.file(stored["customer_id"])
            elif call.get("caller_id"):
                with contextlib.suppress(CallcenterError):  # a caller ID that is no identity: no file
                    file = await self.store.customers.screen_pop(call["caller_id"])
        return {"call": call, "file": file, "ticket_id": ticket_id, "at": now}

    def send(self, who: Callable[[Principal], bool], message: dict[str, Any]) -> None:
        """A message to the pages of the people `who` accepts (never blocks; `at` added if missing)."""
        self._to(who, message)

    def _to_all(self, message: dict[str, Any]) -> None:
        self._to(lambda p: True, message)

    def _to(self, who: Callable[[Principal], bool], message: dict[str, Any]) -> None:
        if not self.clients:
            return
        text = json.dumps({**message, "at": message.get("at", self._at)})
        for client in list(self.clients):
            if client.overflowed or not who(client.principal):
                continue
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                client.overflowed = True
                self.dropped += 1
                self._spawn(client.ws.close(code=OVERFLOW_CLOSE, message=b"fell behind: reconnect"))

    async def run(self) -> None:
        """Supervisors' wallboard, at most once a second while something moves."""
        while True:
            await self._board_dirty.wait()
            self._board_dirty.clear()
            if any(c.principal.may("supervisor") for c in self.clients):
                board = await self.wallboard()
                self._to(lambda p: p.may("supervisor"), {"type": "wallboard", "wallboard": board,
                                                         "at": board["generated_at"]})
                if board["store"] and board["store"]["backlog"]:
                    self._board_dirty.set()  # the store's backlog drains without events: shown until it is 0
            await asyncio.sleep(1.0)

    async def wallboard(self) -> dict[str, Any]:
        return wallboard(self.presence, self.config(), self.clock(), await self.today(),
                         self.call_log() if self.call_log is not None else None, await self.pending_work())

    async def pending_work(self) -> list[dict[str, Any]]:
        """The backlog of work per queue and channel (from the store; cached 5 s)."""
        now = self.clock()
        if self.backlog is not None and now - self._backlog[0] > 5.0:
            try:
                self._backlog = (now, await self.backlog())
            except CallcenterError:
                pass  # the store is away for a moment: the last numbers stay
        return self._backlog[1]

    async def today(self) -> dict[str, int]:
        """Contacts per channel since local midnight (from the store; cached 5 s)."""
        now = self.clock()
        if self.today_counts is None:
            return {}
        if now - self._today[0] > 5.0:
            midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
            try:
                self._today = (now, await self.today_counts(midnight))
            except CallcenterError:
                pass  # the store is away for a moment: the last numbers stay
        return self._today[1]

    # -- the page side ----------------------------------------------------------------------

    async def snapshot(self, me: Principal) -> dict[str, Any]:
        config = self.config()
        pop = self.pops.get(me.agent or "")
        if pop is not None:
            record = self.tracker.get(pop["call"]["call_id"])
            ended = record is None or record.ended_at is not None
            if ended and self.clock() - (record.ended_at if record and record.ended_at else pop["at"]) > POP_KEPT_SECONDS:
                pop = None
            else:  # what the call is now, not what it was when it rang
                pop = {**pop, "call": {**pop["call"], "state": record.state if record is not None else "ended"}}
        return {"type": "snapshot", "me": {"name": me.name, "role": me.role, "agent": me.agent},
                "agents": self.routing.agents(), "queues": self.routing.queues(),
                "calls": [c.as_dict() for c in self.tracker.active()], "pop": pop,
                "settings": {"pause_reasons": list(config.web.pause_reasons),
                             "wrapup_codes": list(config.web.wrapup_codes),
                             "service_level_seconds": self.presence.service_level_seconds,
                             "service_level_target": config.web.service_level_target},
                "wallboard": await self.wallboard() if me.may("supervisor") else None}

    def agents_online(self) -> set[str]:
        """Agents with a workspace page open (chat routing offers chats only to them)."""
        return {c.principal.agent for c in self.clients if c.principal.agent is not None and not c.overflowed}

    async def _resnapshot(self, client: Client) -> None:
        if client in self.clients and not client.overflowed:
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(json.dumps(await self.snapshot(client.principal)))

    async def handle(self, request: web.Request, me: Principal, cookie: str = "") -> web.WebSocketResponse:
        if sum(c.principal.name == me.name for c in self.clients) >= MAX_PAGES_PER_USER:
            raise Limited("too-many-pages", f"{me.name} has {MAX_PAGES_PER_USER} pages open already")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
        await ws.prepare(request)
        client = Client(ws, me, hashlib.sha256(cookie.encode()).hexdigest() if cookie else "")
        self.clients.add(client)  # first: what happens while the snapshot is built is queued after it
        await self._pages_changed(me)
        sender: asyncio.Task[None] | None = None
        try:
            await ws.send_str(json.dumps(await self.snapshot(me)))
            sender = asyncio.get_running_loop().create_task(self._send(client))
            async for msg in ws:  # the page sends nothing we act on; reading keeps pings answered
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(client)
            await self._pages_changed(me)
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        return ws

    async def _pages_changed(self, me: Principal) -> None:
        if self.publish is not None and me.agent is not None:
            pages = sum(c.principal.agent == me.agent for c in self.clients)
            await self.publish(ev.PagesChanged(me.agent, pages, self.clock()))

    async def close_session(self, cookie: str) -> None:
        """A logout: that session's pages are closed (4001: log in again)."""
        key = hashlib.sha256(cookie.encode()).hexdigest()
        await self._close([c for c in self.clients if c.session == key])

    async def close_user(self, name: str) -> None:
        """A user's new password, new role or removal: all their pages are closed."""
        await self._close([c for c in self.clients if c.principal.name == name and c.principal.via == "session"])

    async def _close(self, clients: list[Client]) -> None:
        for c in clients:
            self.clients.discard(c)
        await asyncio.gather(*(c.ws.close(code=LOGGED_OUT_CLOSE, message=b"logged out") for c in clients),
                             return_exceptions=True)

    async def close_all(self) -> None:
        """The server stops: every page is told (1001 going away) and reconnects to the next one."""
        await asyncio.gather(*(c.ws.close(code=1001, message=b"server stopping") for c in list(self.clients)),
                             return_exceptions=True)

    async def _send(self, client: Client) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                text = await client.queue.get()
                await client.ws.send_str(text)
                self.sent += 1
