"""What the chat routes ask of the desk (docs/chat.md): the visitor's side (their widget's socket,
messages, typing, contact, end, the leave-a-message form) and the agents' side (their chats,
answers, typing, transfer, end, verification, chat → call).

Both work on the one ChatDesk (desk.py) and take its locks as the router does (router.py): a
visitor's first message or contact starts one chat (`starting`); a change of a live chat's row
never runs in the middle of a routing round (`routing`). Chats are plain dicts as tickets/chats.py
gives them; times are epoch seconds. Errors: UnknownChat `unknown-chat`, ChatEnded `chat-ended`,
`not-yours`, `unknown-queue`, `unknown-agent`, `agent-busy`, `no-number`, `no-telephony`,
`bad-text`, IdentityError `invalid-identity`, and the store's.
"""

from __future__ import annotations

import contextlib
from typing import Any, Awaitable, Callable, Sequence

from callcenter.channels.chat import rules
from callcenter.channels.chat.desk import ChatDesk, Sink
from callcenter.core.errors import Conflict, Forbidden, NotFound
from callcenter.tickets import identity
from callcenter.tickets.chats import ChatEnded
from callcenter.tickets.rows import OfflineMessage

Call = Callable[[str, str, int], Awaitable[str]]  # (agent, number, ticket id) → the call's id


class VisitorSide:
    """The visitor's side of the desk: what their widget does, by visitor id (rules.visitor_id)."""

    def __init__(self, desk: ChatDesk) -> None:
        self.desk = desk

    def attach(self, visitor: str, sink: Sink) -> None:
        """A widget socket of the visitor opened: `sink` gets their frames (the visitor is present)."""
        self.desk.sinks.setdefault(visitor, set()).add(sink)
        chat_id = self.desk.of_visitor.get(visitor)
        if chat_id is not None:
            self.desk.last_activity[chat_id] = self.desk.clock()

    def detach(self, visitor: str, sink: Sink) -> None:
        sinks = self.desk.sinks.get(visitor)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self.desk.sinks[visitor]
        chat_id = self.desk.of_visitor.get(visitor)
        if chat_id is not None:
            self.desk.last_activity[chat_id] = self.desk.clock()

    def has_page(self, visitor: str) -> bool:
        """The visitor has a widget socket open."""
        return visitor in self.desk.sinks

    async def welcome(self, visitor: str, asked_queue: str) -> dict[str, Any]:
        """The first frame of a socket: `{type: welcome, online (someone could answer), chat (as the
        widget shows it), history (their messages), limits}`."""
        desk = self.desk
        chat_id = desk.of_visitor.get(visitor)
        chat = desk.live.get(chat_id) if chat_id is not None else None
        queue = chat["queue"] if chat is not None else desk.queue_of(asked_queue)
        config = desk.config().chat
        return {"type": "welcome", "online": desk.online(queue), "chat": desk.for_visitor(chat),
                "history": await desk.chats.history(visitor),
                "limits": {"max_text": config.max_text, "max_attachment_bytes": config.max_attachment_bytes,
                           "attachment_types": list(rules.ATTACHMENT_TYPES)}}

    async def says(self, visitor: str, text: str, *, queue: str = "", origin: str = "",
                   attachments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """A visitor's message: their live chat, or a new one waiting in the queue. Returns the
        message (also sent to the visitor's pages and announced to agents)."""
        desk = self.desk
        for attempt in range(2):
            chat_id, new = await self._chat_of(visitor, queue, origin)
            try:
                stored = await desk.chats.say(chat_id, "visitor", text, attachments=attachments)
                break
            except ChatEnded:
                # The agent ended the chat between our look and our write: the message starts a new
                # chat, as the next one would (never lost in the gap).
                if attempt:
                    raise
                desk.keep(await desk.chats.get(chat_id))
        message = desk.said(stored)
        desk.last_activity[chat_id] = desk.clock()
        desk.to_visitor(visitor, {"type": "message", "message": message})
        chat = desk.live.get(chat_id) or await desk.chats.get(chat_id)  # ended meanwhile: as stored
        await desk.announce("new" if new else "message", chat, message)
        if new:
            told = desk.for_visitor(chat)
            if told["position"] is not None:
                desk.told_position[chat_id] = told["position"]
            desk.to_visitor(visitor, {"type": "chat", "chat": told})
            desk.kick()
        return message

    async def _chat_of(self, visitor: str, queue: str, origin: str) -> tuple[int, bool]:
        """The visitor's live chat, else a new one waiting in the queue: (its id, True if new)."""
        desk = self.desk
        async with desk.starting:  # two tabs of one visitor writing at once start one chat
            chat_id = desk.of_visitor.get(visitor)
            if chat_id is not None:
                return chat_id, False
            queue = desk.queue_of(queue)
            chat = await desk.chats.start(visitor, queue, topic=desk.topic_of(queue), origin=origin)
            desk.keep(chat)
            return chat["id"], True

    async def typing(self, visitor: str) -> None:
        chat_id = self.desk.of_visitor.get(visitor)
        if chat_id is not None and self.desk.live[chat_id]["agent"]:
            await self.desk.announce("typing", self.desk.live[chat_id], None)

    async def contact(self, visitor: str, contact: dict[str, str]) -> None:
        """Name / email / phone the visitor gave (unverified, as rules.contact checked them). Kept
        on their live chat; without one, on a new chat waiting in the queue."""
        desk = self.desk
        async with desk.starting:
            chat_id = desk.of_visitor.get(visitor)
            if chat_id is None:
                queue = desk.queue_of("")
                chat = await desk.chats.start(visitor, queue, topic=desk.topic_of(queue), contact=contact)
                desk.keep(chat)
        if chat_id is None:
            await desk.announce("new", chat, None)
            desk.kick()
            return
        async with desk.routing:  # not while the router rewrites this chat's row
            chat = await desk.chats.set_contact(chat_id, contact)
            desk.keep(chat)
        await desk.announce("contact", chat, None)

    async def ends(self, visitor: str) -> None:
        async with self.desk.routing:
            chat_id = self.desk.of_visitor.get(visitor)
            if chat_id is not None:
                await self.desk.end_chat(chat_id, "visitor", "The visitor ended the chat.")

    async def offline(self, visitor: str, asked_queue: str, text: str, contact: dict[str, str],
                      origin: str) -> OfflineMessage:
        """The leave-a-message form: a ticket of the customer the email (else phone) names, on the
        queue's topic. Returns `{chat, ticket}`. Errors: `bad-text`, `no-address`, IdentityError."""
        queue = self.desk.queue_of(asked_queue)
        return await self.desk.chats.offline(visitor, queue, topic=self.desk.topic_of(queue), text=text,
                                             contact=contact, origin=origin)


class AgentSide:
    """The agents' side of the desk. `actor` is the agent (or the user) asking; `supervisor`:
    they may act on any chat, else only on the chats they hold (Forbidden `not-yours`)."""

    def __init__(self, desk: ChatDesk, call: Call | None = None) -> None:
        """`call(agent, number, ticket)`: click-to-call (None: no telephony here)."""
        self.desk, self.call_out = desk, call

    async def for_page(self, agent: str | None, supervisor: bool) -> list[dict[str, Any]]:
        """The live chats a page shows (an agent's own; a supervisor's all), with their messages."""
        desk = self.desk
        shown = [c for c in sorted(desk.live.values(), key=lambda c: c["id"])
                 if supervisor or (agent is not None and c["agent"] == agent)]
        messages = await desk.chats.messages_of([c["id"] for c in shown])
        return [{**desk.for_agents(c), "messages": messages.get(c["id"], [])} for c in shown]

    async def _mine(self, chat_id: int, actor: str, supervisor: bool) -> dict[str, Any]:
        chat = self.desk.live.get(chat_id)
        if chat is None:
            stored = await self.desk.chats.get(chat_id)  # unknown-chat if there is none
            raise ChatEnded(chat_id, stored["ended_by"])
        if not supervisor and chat["agent"] != actor:
            raise Forbidden("not-yours", f"chat #{chat_id} is not {actor}'s")
        return chat

    async def says(self, chat_id: int, actor: str, text: str, *, supervisor: bool = False) -> dict[str, Any]:
        """An agent's answer; returns the message as stored (also sent to the visitor)."""
        desk = self.desk
        chat = await self._mine(chat_id, actor, supervisor)
        message = desk.said(await desk.chats.say(chat_id, "agent", text, name=desk.display_name(actor), agent=actor))
        desk.last_activity[chat_id] = desk.clock()
        desk.to_visitor(chat["visitor"], {"type": "message", "message": message})
        await desk.announce("message", chat, message)
        return message

    async def typing(self, chat_id: int, actor: str, *, supervisor: bool = False) -> None:
        chat = await self._mine(chat_id, actor, supervisor)
        self.desk.to_visitor(chat["visitor"], {"type": "typing", "from": "agent"})

    async def transfer(self, chat_id: int, actor: str, *, agent: str = "", queue: str = "",
                       supervisor: bool = False) -> dict[str, Any]:
        """To another agent (who must have a page open and room) or back into a queue. Returns the
        chat as the agent page shows it."""
        async with self.desk.routing:  # not while the router hands chats out
            chat = await self._transfer(chat_id, actor, agent, queue, supervisor)
        return self.desk.for_agents(chat)

    async def _transfer(self, chat_id: int, actor: str, agent: str, queue: str, supervisor: bool) -> dict[str, Any]:
        desk = self.desk
        chat = await self._mine(chat_id, actor, supervisor)
        config = desk.config()
        previous = chat["agent"]
        if agent:
            if agent not in config.agents:
                raise NotFound("unknown-agent", f"no agent {agent[:64]!r}")
            seat = next(s for s in desk.seats() if s.name == agent)
            if not rules.has_room(seat, config.chat.max_per_agent, config.chat.max_while_on_call):
                raise Conflict("agent-busy", f"{agent} cannot take a chat now (no page open, paused, or full)")
            chat = await desk.chats.assign(chat_id, agent)
            desk.last_assigned[agent] = desk.clock()
            note = f"{desk.display_name(previous) or 'The queue'} passed the chat to {desk.display_name(agent)}."
        else:
            if queue not in config.queues:
                raise NotFound("unknown-queue", f"no queue {queue[:64]!r}")
            chat = await desk.chats.requeue(chat_id, queue)
            desk.prefer.pop(chat_id, None)
            note = f"{desk.display_name(previous) or 'The queue'} passed the chat to the {queue} queue."
        desk.keep(chat)
        await desk.say_system(chat, note)
        await desk.announce("transferred", chat, None, previous)
        desk.to_visitor(chat["visitor"], {"type": "chat", "chat": desk.for_visitor(chat)})
        desk.kick()
        return chat

    async def end(self, chat_id: int, actor: str, *, supervisor: bool = False) -> dict[str, Any]:
        """End the chat; returns it as the agent page shows it."""
        async with self.desk.routing:
            await self._mine(chat_id, actor, supervisor)
            chat = await self.desk.end_chat(chat_id, actor, f"{self.desk.display_name(actor)} ended the chat.")
        return self.desk.for_agents(chat)

    async def verify(self, chat_id: int, actor: str, kind: str, value: str, *,
                     supervisor: bool = False) -> dict[str, Any]:
        """The visitor's email or phone (`kind`) checked by the agent: it joins the chat's customer,
        or the chat moves to the customer who has it (tickets/chats.py). Returns the chat as the
        agent page shows it. Errors: IdentityError, `identity-taken`."""
        async with self.desk.routing:
            await self._mine(chat_id, actor, supervisor)
            chat = await self.desk.chats.verify(chat_id, kind, value, actor)
            self.desk.keep(chat)
        await self.desk.announce("contact", chat, None)
        return self.desk.for_agents(chat)

    async def call(self, chat_id: int, actor: str, number: str = "", *, supervisor: bool = False) -> str:
        """Chat → call: the agent's phone, then the visitor's number (given here, else verified,
        else the one they gave) through the trunk, on the chat's ticket; the chat says so. Returns
        the call's id. Errors: `no-telephony`, `no-number`, and click-to-call's."""
        chat = await self._mine(chat_id, actor, supervisor)
        if self.call_out is None:
            raise Conflict("no-telephony", "calls are not available here")
        phones = [v.split(":", 1)[1] for v in chat["verified"] if v.startswith("phone:")]
        number = number or (phones[0] if phones else chat["contact"].get("phone", ""))
        if not number:
            raise Conflict("no-number", "the visitor gave no phone number: ask for one, or type it")
        with contextlib.suppress(identity.IdentityError):  # "(415) 555-0400" as typed → E.164 to dial
            parsed = identity.parse("phone", number, self.desk.config().store.default_region)
            if parsed is not None and parsed.valid:
                number = parsed.value
        call_id = await self.call_out(actor, number, chat["ticket_id"])
        await self.desk.say_system(chat, f"{self.desk.display_name(actor)} is calling you now.")
        return call_id
