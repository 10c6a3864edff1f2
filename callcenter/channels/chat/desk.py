"""The chat desk: live web chats between visitors (the widget) and agents (the workspace), routed by
the rules of channels/chat.py, written through store/chats.py, announced on the bus as ChatChanged
(the agent pages' hub forwards them). Visitors' sockets are plain sinks here (a function that takes
a message dict and never blocks), so this module does no HTTP (web/chat.py does).

Who holds a chat survives a controller restart (the store's chats table); an agent whose pages are
all gone for `chat.agent_grace_seconds` has their chats put back in the queue (offered to them
first when they return); a chat with no message and no visitor page for `chat.idle_end_minutes`
ends. Errors: UnknownChat `unknown-chat`, ChatEnded `chat-ended`, `not-yours`, `unknown-queue`,
`unknown-agent`, `no-number`, `bad-text`, IdentityError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable, Sequence

from callcenter.core import events as ev
from callcenter.channels.chat import rules
from callcenter.config import Config
from callcenter.core.errors import CallcenterError, Conflict, Forbidden, NotFound
from callcenter.tickets import identity
from callcenter.tickets.chats import ChatEnded, Chats, UnknownChat

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
Seats = Callable[[], list[rules.Seat]]
Call = Callable[[str, str, int], Awaitable[str]]  # (agent, number, ticket id) → the call's id
TICK = 1.0  # seconds between the desk's checks of grace and idle times


class ChatDesk:
    def __init__(self, chats: Chats, config: Callable[[], Config], publish: Callable[[Any], Awaitable[None]],
                 clock: Callable[[], float], *, pages: Callable[[], set[str]] = set,
                 agent_state: Callable[[str], tuple[bool, bool]] = lambda name: (False, False),
                 call: Call | None = None) -> None:
        """`pages()`: agents with a workspace page open; `agent_state(name)`: (paused, on a call or
        ringing); `call(agent, number, ticket)`: click-to-call."""
        self.chats, self.config, self.publish, self.clock = chats, config, publish, clock
        self.pages, self.agent_state, self.call_out = pages, agent_state, call
        self.live: dict[int, dict[str, Any]] = {}  # chat id → chat (waiting or active)
        self.of_visitor: dict[str, int] = {}  # visitor → their live chat
        self.sinks: dict[str, set[Sink]] = {}  # visitor → their open widget sockets
        self.prefer: dict[int, str] = {}  # chat → the agent it goes back to first
        self.last_assigned: dict[str, float] = {}
        self.last_activity: dict[int, float] = {}  # chat → its last message or visitor presence
        self.away_since: dict[str, float] = {}  # agent → when their last page closed
        self.told_position: dict[int, int] = {}  # chat → the place its visitor was last told
        self._kick = asyncio.Event()
        self._routing = asyncio.Lock()
        self._starting = asyncio.Lock()

    # -- state ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Take up the chats the store holds open (after a restart)."""
        now = self.clock()
        for chat in await self.chats.live():
            self._keep(chat)
            self.last_activity[chat["id"]] = now
            if chat["state"] == "active":
                self.away_since.setdefault(chat["agent"], now)  # until their page is back
        self._kick.set()

    def _keep(self, chat: dict[str, Any]) -> None:
        if chat["state"] == "ended":
            self.live.pop(chat["id"], None)
            if self.of_visitor.get(chat["visitor"]) == chat["id"]:
                del self.of_visitor[chat["visitor"]]
            self.prefer.pop(chat["id"], None)
            self.last_activity.pop(chat["id"], None)
        else:
            self.live[chat["id"]] = chat
            self.of_visitor[chat["visitor"]] = chat["id"]

    def display_name(self, agent: str) -> str:
        settings = self.config().agents.get(agent)
        return (settings.full_name if settings is not None and settings.full_name else agent) if agent else ""

    def queue_of(self, asked: str) -> str:
        """The queue a widget asked for, if it is one; else chat.queue, else the first queue."""
        config = self.config()
        if asked in config.queues:
            return asked
        return config.chat.queue or next(iter(config.queues))

    def topic_of(self, queue: str) -> str:
        """The ticket topic of a chat: `chat.topic`, else its queue, as a call's topic is its DID's
        queue (store/calls.py), so a customer's call and chat about the same thing share a ticket."""
        return self.config().chat.topic or queue

    def seats(self) -> list[rules.Seat]:
        config, online = self.config(), self.pages()
        held: dict[str, int] = {}
        for chat in self.live.values():
            if chat["state"] == "active":
                held[chat["agent"]] = held.get(chat["agent"], 0) + 1
        out = []
        for name, agent in config.agents.items():
            paused, on_call = self.agent_state(name)
            out.append(rules.Seat(name, tuple(agent.queues), dict(agent.skills), name in online, paused, on_call,
                                  held.get(name, 0), self.last_assigned.get(name, 0.0)))
        return out

    def online(self, queue: str) -> bool:
        return rules.online(self.seats(), queue)

    def waiting(self) -> list[rules.Waiting]:
        return [rules.Waiting(c["id"], c["queue"], c["started_at"], self.prefer.get(c["id"], ""))
                for c in self.live.values() if c["state"] == "waiting"]

    def for_visitor(self, chat: dict[str, Any] | None) -> dict[str, Any]:
        """The chat as the widget shows it."""
        if chat is None:
            return {"id": None, "state": "none", "agent": "", "position": None}
        position = rules.positions(self.waiting()).get(chat["id"]) if chat["state"] == "waiting" else None
        return {"id": chat["id"], "state": chat["state"], "agent": self.display_name(chat["agent"]),
                "position": position}

    def for_agents(self, chat: dict[str, Any]) -> dict[str, Any]:
        """The chat as the agent page shows it (the visitor id shortened: it is a secret's hash)."""
        return {**{k: v for k, v in chat.items() if k != "visitor"}, "visitor": chat["visitor"][:8],
                "agent_name": self.display_name(chat["agent"]), "visitor_online": bool(self.sinks.get(chat["visitor"]))}

    # -- the visitor's side -----------------------------------------------------------------------

    def attach(self, visitor: str, sink: Sink) -> None:
        self.sinks.setdefault(visitor, set()).add(sink)
        chat_id = self.of_visitor.get(visitor)
        if chat_id is not None:
            self.last_activity[chat_id] = self.clock()

    def detach(self, visitor: str, sink: Sink) -> None:
        sinks = self.sinks.get(visitor)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self.sinks[visitor]
        chat_id = self.of_visitor.get(visitor)
        if chat_id is not None:
            self.last_activity[chat_id] = self.clock()

    def _to_visitor(self, visitor: str, message: dict[str, Any]) -> None:
        for sink in list(self.sinks.get(visitor, ())):
            sink(message)

    async def welcome(self, visitor: str, asked_queue: str) -> dict[str, Any]:
        chat_id = self.of_visitor.get(visitor)
        chat = self.live.get(chat_id) if chat_id is not None else None
        queue = chat["queue"] if chat is not None else self.queue_of(asked_queue)
        config = self.config().chat
        return {"type": "welcome", "online": self.online(queue), "chat": self.for_visitor(chat),
                "history": await self.chats.history(visitor),
                "limits": {"max_text": config.max_text, "max_attachment_bytes": config.max_attachment_bytes,
                           "attachment_types": list(rules.ATTACHMENT_TYPES)}}

    async def visitor_says(self, visitor: str, text: str, *, queue: str = "", origin: str = "",
                           attachments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """A visitor's message: their live chat, or a new one waiting in the queue. Returns the
        message (also sent to the visitor's pages and announced to agents)."""
        for attempt in range(2):
            chat_id, new = await self._chat_of(visitor, queue, origin)
            try:
                stored = await self.chats.say(chat_id, "visitor", text, attachments=attachments)
                break
            except ChatEnded:
                # The agent ended the chat between our look and our write: the message starts a new
                # chat, as the next one would (never lost in the gap).
                if attempt:
                    raise
                self._keep(await self.chats.get(chat_id))
        message = self._said(stored)
        self.last_activity[chat_id] = self.clock()
        self._to_visitor(visitor, {"type": "message", "message": message})
        chat = self.live.get(chat_id) or await self.chats.get(chat_id)  # ended meanwhile: as stored
        await self._announce("new" if new else "message", chat, message)
        if new:
            told = self.for_visitor(chat)
            if told["position"] is not None:
                self.told_position[chat_id] = told["position"]
            self._to_visitor(visitor, {"type": "chat", "chat": told})
            self._kick.set()
        return message

    async def _chat_of(self, visitor: str, queue: str, origin: str) -> tuple[int, bool]:
        """The visitor's live chat, else a new one waiting in the queue: (its id, True if new)."""
        async with self._starting:  # two tabs of one visitor writing at once start one chat
            chat_id = self.of_visitor.get(visitor)
            if chat_id is not None:
                return chat_id, False
            queue = self.queue_of(queue)
            chat = await self.chats.start(visitor, queue, topic=self.topic_of(queue), origin=origin)
            self._keep(chat)
            return chat["id"], True

    async def visitor_typing(self, visitor: str) -> None:
        chat_id = self.of_visitor.get(visitor)
        if chat_id is not None and self.live[chat_id]["agent"]:
            await self._announce("typing", self.live[chat_id], None)

    async def visitor_contact(self, visitor: str, contact: dict[str, str]) -> None:
        """Name / email / phone the visitor gave (unverified). Kept on their live chat; without one,
        on the chat their next message starts."""
        async with self._starting:
            chat_id = self.of_visitor.get(visitor)
            if chat_id is None:
                queue = self.queue_of("")
                chat = await self.chats.start(visitor, queue, topic=self.topic_of(queue), contact=contact)
                self._keep(chat)
        if chat_id is None:
            await self._announce("new", chat, None)
            self._kick.set()
            return
        async with self._routing:  # not while the router rewrites this chat's row
            chat = await self.chats.set_contact(chat_id, contact)
            self._keep(chat)
        await self._announce("contact", chat, None)

    async def visitor_ends(self, visitor: str) -> None:
        async with self._routing:
            chat_id = self.of_visitor.get(visitor)
            if chat_id is not None:
                await self._end(chat_id, "visitor", "The visitor ended the chat.")

    # -- the agents' side ---------------------------------------------------------------------

    async def _mine(self, chat_id: int, actor: str, supervisor: bool) -> dict[str, Any]:
        chat = self.live.get(chat_id)
        if chat is None:
            stored = await self.chats.get(chat_id)  # unknown-chat if there is none
            raise ChatEnded(chat_id, stored["ended_by"])
        if not supervisor and chat["agent"] != actor:
            raise Forbidden("not-yours", f"chat #{chat_id} is not {actor}'s")
        return chat

    async def agent_says(self, chat_id: int, actor: str, text: str, *, supervisor: bool = False) -> dict[str, Any]:
        chat = await self._mine(chat_id, actor, supervisor)
        message = self._said(await self.chats.say(chat_id, "agent", text, name=self.display_name(actor), agent=actor))
        self.last_activity[chat_id] = self.clock()
        self._to_visitor(chat["visitor"], {"type": "message", "message": message})
        await self._announce("message", chat, message)
        return message

    async def agent_typing(self, chat_id: int, actor: str, *, supervisor: bool = False) -> None:
        chat = await self._mine(chat_id, actor, supervisor)
        self._to_visitor(chat["visitor"], {"type": "typing", "from": "agent"})

    async def transfer(self, chat_id: int, actor: str, *, agent: str = "", queue: str = "",
                       supervisor: bool = False) -> dict[str, Any]:
        """To another agent (who must have a page open and room) or back into a queue."""
        async with self._routing:  # not while the router hands chats out
            return await self._transfer(chat_id, actor, agent, queue, supervisor)

    async def _transfer(self, chat_id: int, actor: str, agent: str, queue: str, supervisor: bool) -> dict[str, Any]:
        chat = await self._mine(chat_id, actor, supervisor)
        config = self.config()
        previous = chat["agent"]
        if agent:
            if agent not in config.agents:
                raise NotFound("unknown-agent", f"no agent {agent[:64]!r}")
            seat = next(s for s in self.seats() if s.name == agent)
            if seat.chats >= rules.capacity(seat, config.chat.max_per_agent, config.chat.max_while_on_call):
                raise Conflict("agent-busy", f"{agent} cannot take a chat now (no page open, paused, or full)")
            chat = await self.chats.assign(chat_id, agent)
            self.last_assigned[agent] = self.clock()
            note = f"{self.display_name(previous) or 'The queue'} passed the chat to {self.display_name(agent)}."
        else:
            if queue not in config.queues:
                raise NotFound("unknown-queue", f"no queue {queue[:64]!r}")
            chat = await self.chats.requeue(chat_id, queue)
            self.prefer.pop(chat_id, None)
            note = f"{self.display_name(previous) or 'The queue'} passed the chat to the {queue} queue."
        self._keep(chat)
        await self._system(chat, note)
        await self._announce("transferred", chat, None, previous)
        self._to_visitor(chat["visitor"], {"type": "chat", "chat": self.for_visitor(chat)})
        self._kick.set()
        return chat

    async def end(self, chat_id: int, actor: str, *, supervisor: bool = False) -> dict[str, Any]:
        async with self._routing:
            await self._mine(chat_id, actor, supervisor)
            return await self._end(chat_id, actor, f"{self.display_name(actor)} ended the chat.")

    async def verify(self, chat_id: int, actor: str, kind: str, value: str, *,
                     supervisor: bool = False) -> dict[str, Any]:
        async with self._routing:
            await self._mine(chat_id, actor, supervisor)
            chat = await self.chats.verify(chat_id, kind, value, actor)
            self._keep(chat)
        await self._announce("contact", chat, None)
        return chat

    async def call(self, chat_id: int, actor: str, number: str = "", *, supervisor: bool = False) -> str:
        """Chat → call: the agent's phone, then the visitor's number (given here, else verified,
        else the one they gave) through the trunk, on the chat's ticket; the chat says so."""
        chat = await self._mine(chat_id, actor, supervisor)
        if self.call_out is None:
            raise Conflict("no-telephony", "calls are not available here")
        phones = [v.split(":", 1)[1] for v in chat["verified"] if v.startswith("phone:")]
        number = number or (phones[0] if phones else chat["contact"].get("phone", ""))
        if not number:
            raise Conflict("no-number", "the visitor gave no phone number: ask for one, or type it")
        with contextlib.suppress(identity.IdentityError):  # "(415) 555-0400" as typed → E.164 to dial
            parsed = identity.parse("phone", number, self.config().store.default_region)
            if parsed is not None and parsed.valid:
                number = parsed.value
        call_id = await self.call_out(actor, number, chat["ticket_id"])
        await self._system(chat, f"{self.display_name(actor)} is calling you now.")
        return call_id

    # -- routing ----------------------------------------------------------------------------------

    def kick(self) -> None:
        """Something changed that may free an agent (a page opened, a pause ended, a call ended)."""
        self._kick.set()

    def on_event(self, event: Any) -> None:
        """Inline bus subscriber: agents' states and pages move capacity."""
        if isinstance(event, (ev.AgentStateChanged, ev.CallEnded, ev.PagesChanged)):
            self._kick.set()

    async def route(self) -> None:
        async with self._routing:
            config = self.config()
            now = self.clock()
            online = self.pages()
            for agent in list(self.away_since):
                if agent in online:
                    del self.away_since[agent]
            for chat in list(self.live.values()):
                if chat["state"] == "active" and chat["agent"] not in online:
                    since = self.away_since.setdefault(chat["agent"], now)
                    if now - since >= config.chat.agent_grace_seconds:
                        await self._requeue_lost(chat)
                idle = now - self.last_activity.get(chat["id"], now)
                if idle >= config.chat.idle_end_minutes * 60 and not self.sinks.get(chat["visitor"]):
                    await self._end(chat["id"], "system: idle", "The chat ended after a long silence.")
            waiting = self.waiting()
            skills = {name: q.skill for name, q in config.queues.items()}
            for chat_id, agent in rules.route(waiting, self.seats(), skills, config.chat.max_per_agent,
                                              config.chat.max_while_on_call):
                with contextlib.suppress(ChatEnded, UnknownChat):  # ended meanwhile
                    chat = await self.chats.assign(chat_id, agent)
                    self._keep(chat)
                    self.last_assigned[agent] = now
                    self.prefer.pop(chat_id, None)
                    await self._system(chat, f"{self.display_name(agent)} joined the chat.")
                    await self._announce("assigned", chat, None)
                    self._to_visitor(chat["visitor"], {"type": "chat", "chat": self.for_visitor(chat)})
            places = rules.positions(self.waiting())
            for chat_id in [c for c in self.told_position if c not in places]:
                del self.told_position[chat_id]
            for chat_id, place in places.items():
                if self.told_position.get(chat_id) != place:
                    self.told_position[chat_id] = place
                    chat = self.live[chat_id]
                    self._to_visitor(chat["visitor"], {"type": "chat", "chat": self.for_visitor(chat)})

    async def _requeue_lost(self, chat: dict[str, Any]) -> None:
        agent = chat["agent"]
        log.info("chat #%s: %s has had no page open for a while; back in the %s queue", chat["id"], agent,
                 chat["queue"])
        moved = await self.chats.requeue(chat["id"], chat["queue"])
        self.prefer[chat["id"]] = agent
        self._keep(moved)
        await self._announce("waiting", moved, None, agent)

    async def run(self) -> None:
        """Route whenever something changed, and at least every second (grace and idle times)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._kick.wait(), TICK)
            self._kick.clear()
            try:
                await self.route()
            except CallcenterError as exc:  # the store away for a moment: the next round tries again
                log.warning("chat routing: %s", exc)
            except Exception:  # a Python error in routing must not stop the chats (docs/design.md#11)
                log.exception("chat routing failed; trying again in a second")

    # -- shared -----------------------------------------------------------------------------------

    async def _end(self, chat_id: int, by: str, note: str) -> dict[str, Any]:
        chat = self.live.get(chat_id)
        if chat is not None:
            with contextlib.suppress(ChatEnded, UnknownChat):
                await self._system(chat, note)
        ended = await self.chats.end(chat_id, by)
        self._keep(ended)
        await self._announce("ended", ended, None)
        self._to_visitor(ended["visitor"], {"type": "chat", "chat": self.for_visitor(ended)})
        self._kick.set()
        return ended

    async def _system(self, chat: dict[str, Any], text: str) -> None:
        message = self._said(await self.chats.say(chat["id"], "system", text))
        self._to_visitor(chat["visitor"], {"type": "message", "message": message})
        await self._announce("message", chat, message)

    def _said(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message stored: its chat may have moved to another ticket (the old one was closed)."""
        chat = self.live.get(message["chat"])
        if chat is not None and chat["ticket_id"] != message["ticket_id"]:
            chat["ticket_id"] = message["ticket_id"]
        return message

    async def _announce(self, kind: str, chat: dict[str, Any], message: dict[str, Any] | None,
                        previous: str = "") -> None:
        await self.publish(ev.ChatChanged(kind, self.for_agents(chat), message, previous, self.clock()))

    async def for_page(self, agent: str | None, supervisor: bool) -> list[dict[str, Any]]:
        """The live chats a page shows (an agent's own; a supervisor's all), with their messages."""
        shown = [c for c in sorted(self.live.values(), key=lambda c: c["id"])
                 if supervisor or (agent is not None and c["agent"] == agent)]
        messages = await self.chats.messages_of([c["id"] for c in shown])
        return [{**self.for_agents(c), "messages": messages.get(c["id"], [])} for c in shown]
