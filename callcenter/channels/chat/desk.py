"""The chat desk: the live web chats between visitors (the widget) and agents (the workspace), as
the three sides of chat share them (docs/chat.md). It holds the chats the store has open (written
through tickets/chats.py), the visitors' open widget sockets, and the steps every side takes to
tell everyone of a change: a system message in the chat, an end, an announcement on the bus as
ChatChanged (the agent pages' hub forwards them).

The sides work on it: the visitors' and the agents' (service.py) and the router that hands
waiting chats out, requeues lost ones and ends silent ones (router.py). Visitors' sockets are
plain sinks here (a function that takes a message dict and never blocks), so nothing here does
HTTP (routes_visitor.py does).

Who holds a chat survives a controller restart (the store's chats table, `load`). Errors of the
steps: UnknownChat `unknown-chat`, ChatEnded `chat-ended` (from the store).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Callable

from callcenter.channels.chat import rules
from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.tickets.chats import ChatEnded, Chats, UnknownChat

Sink = Callable[[dict[str, Any]], None]


class ChatDesk:
    """The live chats and what the sides share; see the module's docstring."""

    def __init__(self, chats: Chats, config: Callable[[], Config], publish: Callable[[Any], Awaitable[None]],
                 clock: Callable[[], float], *, pages: Callable[[], set[str]] = set,
                 agent_state: Callable[[str], tuple[bool, bool]] = lambda name: (False, False)) -> None:
        """`chats`: the store's chats; `publish(event)`: the bus; `clock()`: epoch seconds;
        `pages()`: agents with a workspace page open; `agent_state(name)`: (paused, on a call or
        ringing)."""
        self.chats, self.config, self.publish, self.clock = chats, config, publish, clock
        self.pages, self.agent_state = pages, agent_state
        self.live: dict[int, dict[str, Any]] = {}  # chat id → chat (waiting or active)
        self.of_visitor: dict[str, int] = {}  # visitor → their live chat
        self.sinks: dict[str, set[Sink]] = {}  # visitor → their open widget sockets
        self.prefer: dict[int, str] = {}  # chat → the agent it goes back to first
        self.last_assigned: dict[str, float] = {}
        self.last_activity: dict[int, float] = {}  # chat → its last message or visitor presence
        self.away_since: dict[str, float] = {}  # agent → when their last page closed
        self.told_position: dict[int, int] = {}  # chat → the place its visitor was last told
        self.kicked = asyncio.Event()  # something changed: the router runs a round now
        # The router holds `routing` for a whole round; every other change of a live chat's row
        # (transfer, end, verify, a visitor's contact or end) takes it too, so neither rewrites a
        # row under the other.
        self.routing = asyncio.Lock()
        self.starting = asyncio.Lock()  # a visitor's first message or contact starts one chat

    # -- state ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Take up the chats the store holds open (after a restart)."""
        now = self.clock()
        for chat in await self.chats.live():
            self.keep(chat)
            self.last_activity[chat["id"]] = now
            if chat["state"] == "active":
                self.away_since.setdefault(chat["agent"], now)  # until their page is back
        self.kicked.set()

    def keep(self, chat: dict[str, Any]) -> None:
        """A chat as the store wrote it: kept while live, forgotten once ended."""
        if chat["state"] == "ended":
            self.live.pop(chat["id"], None)
            if self.of_visitor.get(chat["visitor"]) == chat["id"]:
                del self.of_visitor[chat["visitor"]]
            self.prefer.pop(chat["id"], None)
            self.last_activity.pop(chat["id"], None)
        else:
            self.live[chat["id"]] = chat
            self.of_visitor[chat["visitor"]] = chat["id"]

    def kick(self) -> None:
        """Something changed that may free an agent or a place in a queue: the router runs now."""
        self.kicked.set()

    # -- views ------------------------------------------------------------------------------

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
        queue (tickets/calls.py), so a customer's call and chat about the same thing share a ticket."""
        return self.config().chat.topic or queue

    def seats(self) -> list[rules.Seat]:
        """Every agent of the configuration as routing sees them now."""
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
        """The chat as the widget shows it: `{id, state, agent (their display name), position}`."""
        if chat is None:
            return {"id": None, "state": "none", "agent": "", "position": None}
        position = rules.positions(self.waiting()).get(chat["id"]) if chat["state"] == "waiting" else None
        return {"id": chat["id"], "state": chat["state"], "agent": self.display_name(chat["agent"]),
                "position": position}

    def for_agents(self, chat: dict[str, Any]) -> dict[str, Any]:
        """The chat as the agent page shows it (the visitor id shortened: it is a secret's hash)."""
        return {**{k: v for k, v in chat.items() if k != "visitor"}, "visitor": chat["visitor"][:8],
                "agent_name": self.display_name(chat["agent"]), "visitor_online": bool(self.sinks.get(chat["visitor"]))}

    # -- steps every side takes ---------------------------------------------------------------

    def to_visitor(self, visitor: str, message: dict[str, Any]) -> None:
        """A frame to every open widget socket of the visitor (never blocks)."""
        for sink in list(self.sinks.get(visitor, ())):
            sink(message)

    async def end_chat(self, chat_id: int, by: str, note: str) -> dict[str, Any]:
        """End a chat (`by`: who, as the store keeps it), saying `note` in it first if it is live;
        the visitor and the agents are told. Returns the ended chat. Errors: `unknown-chat`."""
        chat = self.live.get(chat_id)
        if chat is not None:
            with contextlib.suppress(ChatEnded, UnknownChat):
                await self.say_system(chat, note)
        ended = await self.chats.end(chat_id, by)
        self.keep(ended)
        await self.announce("ended", ended, None)
        self.to_visitor(ended["visitor"], {"type": "chat", "chat": self.for_visitor(ended)})
        self.kicked.set()
        return ended

    async def say_system(self, chat: dict[str, Any], text: str) -> None:
        """A system message in the chat (someone joined, passed it on, is calling). Errors:
        `unknown-chat`, `chat-ended`."""
        message = self.said(await self.chats.say(chat["id"], "system", text))
        self.to_visitor(chat["visitor"], {"type": "message", "message": message})
        await self.announce("message", chat, message)

    def said(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message stored: its chat may have moved to another ticket (the old one was closed)."""
        chat = self.live.get(message["chat"])
        if chat is not None and chat["ticket_id"] != message["ticket_id"]:
            chat["ticket_id"] = message["ticket_id"]
        return message

    async def announce(self, kind: str, chat: dict[str, Any], message: dict[str, Any] | None,
                       previous: str = "") -> None:
        """ChatChanged on the bus: `kind` (new, message, typing, assigned, transferred, waiting,
        contact, ended), the chat as agents see it, the message if any, the agent who had it."""
        await self.publish(ev.ChatChanged(kind, self.for_agents(chat), message, previous, self.clock()))
