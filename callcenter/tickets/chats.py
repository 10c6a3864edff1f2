"""Web chats in the store: the chat row (queue, agent, state, the contact the visitor gave) and its
messages, which are interactions on the chat's ticket (channel `chat`; `inbound` from the visitor,
`outbound` from an agent, `internal` for what the system says), so a chat sits on the customer's
timeline with their calls, SMS and emails. The agent holding a chat holds its ticket.

A visitor is known by their chat identity (the widget's visitor id) until an agent verifies an
email or phone they gave: then the chat joins that customer's file (merged) and, when the customer
has an open ticket on the chat's topic, that ticket (one customer, one file, one ticket). Only an
anonymous visitor is merged so: a chat already joined to a known customer is not merged into a
second one by a click (`identity-taken`). Errors: UnknownChat (NotFound) `unknown-chat`, ChatEnded
(Conflict) `chat-ended`, Conflict `identity-taken`, `no-address`, Refused `bad-text`, IdentityError
`invalid-identity`.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.core.errors import Conflict, NotFound
from callcenter.tickets import customers
from callcenter.tickets import db
from callcenter.tickets import identity
from callcenter.tickets import search
from callcenter.tickets import terms
from callcenter.tickets import tickets
from callcenter.tickets.customers import Customers
from callcenter.tickets.inputs import checked_text, is_id
from callcenter.tickets.messages import SUBJECT
from callcenter.tickets.rows import OfflineMessage
from callcenter.tickets.schema import Chat, Customer, CustomerIdentity, Interaction, Ticket, TicketChange
from callcenter.tickets.sla import SlaPolicy
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

DIRECTION = {"visitor": "inbound", "agent": "outbound", "system": "internal"}
SENDER = {v: k for k, v in DIRECTION.items()}
HISTORY = 200  # messages a returning visitor gets back


class UnknownChat(NotFound):
    """`unknown-chat`: no chat has this id."""

    def __init__(self, chat_id: int) -> None:
        super().__init__("unknown-chat", f"no chat #{chat_id}", {"chat": chat_id})


class ChatEnded(Conflict):
    """`chat-ended`: nothing more is said in the chat, nobody takes it (`by`: who ended it)."""

    def __init__(self, chat_id: int, by: str = "") -> None:
        super().__init__("chat-ended", f"chat #{chat_id} has ended" + (f" ({by})" if by else ""), {"chat": chat_id})


def chat_dict(c: Chat) -> dict[str, Any]:
    """A chat as agents see it, without its messages: id, visitor, customer_id, ticket_id, queue,
    agent ("" while it waits), state (waiting | active | ended), started_at, assigned_at, ended_at
    (epoch seconds), ended_by, origin, contact (what the visitor gave), verified (what an agent
    confirmed). A plain dict: the chat desk keeps and forwards it as one (channels/chat/desk.py)."""
    return {"id": c.id, "visitor": c.visitor, "customer_id": c.customer_id, "ticket_id": c.ticket_id,
            "queue": c.queue, "agent": c.agent, "state": c.state, "started_at": c.started_at,
            "assigned_at": c.assigned_at, "ended_at": c.ended_at, "ended_by": c.ended_by, "origin": c.origin,
            "contact": dict(c.contact or {}), "verified": list(c.verified or [])}


def message_dict(i: Interaction) -> dict[str, Any]:
    """A chat message as the widget and the agent page show it (times: epoch seconds)."""
    variables = i.variables or {}
    return {"id": i.id, "chat": variables.get("chat"), "ticket_id": i.ticket_id,
            "from": SENDER.get(i.direction, "system"), "name": i.name,
            "agent": i.agent, "text": i.body, "at": i.started_at,
            "attachments": list(variables.get("attachments", []))}


async def _join_open_ticket(s: AsyncSession, chat: Chat, customer_id: int, now: float, policy: SlaPolicy) -> None:
    """After a merge: the chat's messages move to the customer's open ticket on the chat's topic,
    if the chat's ticket was made for this chat; that ticket is closed, pointing there (reopened
    if it was resolved or pending: `policy`, its SLA clock)."""
    mine = await s.get(Ticket, chat.ticket_id)
    if mine is None or mine.created_at < chat.started_at - 1.0:
        return  # the chat joined an older ticket of the visitor: it stays there
    customer = await s.get(Customer, customer_id)
    target = (await s.execute(select(Ticket).where(
        Ticket.customer_id == customer_id, Ticket.id != mine.id, Ticket.topic == mine.topic,
        Ticket.status != "closed").order_by(Ticket.updated_at.desc()).limit(1))).scalars().first()
    if target is None or customer is None:
        return
    await s.execute(update(Interaction).where(Interaction.ticket_id == mine.id)
                    .values(ticket_id=target.id).execution_options(synchronize_session=False))
    await s.execute(update(Chat).where(Chat.ticket_id == mine.id).values(ticket_id=target.id)
                    .execution_options(synchronize_session=False))
    await search.moved(s, mine.id, target.id)
    tickets.reopen(s, target, now, policy)
    target.updated_at = now
    s.add(TicketChange(ticket_id=mine.id, at=now, actor="system", field="status", old=mine.status, new="closed"))
    s.add(TicketChange(ticket_id=mine.id, at=now, actor="system", field="note", old="",
                       new=f"joined into #{target.id}: the chat's customer was verified"))
    s.add(TicketChange(ticket_id=target.id, at=now, actor="system", field="note", old="",
                       new=f"chat #{chat.id} joined from #{mine.id}"))
    mine.status, mine.updated_at = "closed", now


async def chat_of(s: AsyncSession, chat_id: int) -> Chat:
    """The chat `chat_id` in transaction `s`. Errors: UnknownChat."""
    chat = await s.get(Chat, chat_id) if is_id(chat_id) else None
    if chat is None:
        raise UnknownChat(chat_id)
    return chat


async def _current(s: AsyncSession, customer_ids: Sequence[int]) -> list[int]:
    """These customers and whoever they were merged into."""
    out = set(customer_ids)
    for cid in customer_ids:
        out.add((await customers.current(s, cid)).id)
    return sorted(out)


class MessageWriter(Protocol):
    """What writes a chat's messages (tickets/chat_messages.py ChatMessages)."""

    async def say(self, chat_id: int, sender: str, text: str, *, name: str, agent: str,
                  attachments: Sequence[dict[str, Any]]) -> dict[str, Any]: ...


@on_store_loop
class Chats:
    """The web chats of one store. `customers`: the same store's (a verified contact adds an
    identity to the chat's customer, or merges it)."""

    def __init__(self, store: Store, customers: Customers, writer: MessageWriter) -> None:
        """`writer`: writes the chats' messages (tickets/chat_messages.py ChatMessages)."""
        self.store, self.customers, self.writer = store, customers, writer

    async def start(self, visitor: str, queue: str, *, topic: str, origin: str = "",
                    contact: dict[str, str] | None = None) -> dict[str, Any]:
        """A new chat of `visitor`, waiting in `queue`: the visitor's customer (by chat identity,
        created if new) and their ticket on `topic` (store policy: the open one, else new)."""
        return await db.retried(lambda: self._start(visitor, queue, topic, origin, dict(contact or {})))

    async def _start(self, visitor: str, queue: str, topic: str, origin: str, contact: dict[str, str]) -> dict[str, Any]:
        now = self.store.clock()
        async with self.store.writing() as s:
            customer = await customers.for_contact(s, "chat", visitor, name=contact.get("name", ""),
                                                   region=self.store.policy.default_region, now=now)
            who = contact.get("name") or contact.get("email") or f"visitor {visitor[:8]}"
            ticket = await tickets.choose_ticket(s, self.store, customer, topic=topic, channel="chat",
                                                 subject=SUBJECT["chat"].format(who=who[:80]), now=now,
                                                 queue=queue)
            chat = Chat(visitor=visitor, customer_id=customer.id, ticket_id=ticket.id, queue=queue, agent="",
                        state="waiting", started_at=now, origin=origin[:200], contact=contact, verified=[])
            s.add(chat)
            await s.flush()
            self.store.writes += 1
            return chat_dict(chat)

    async def get(self, chat_id: int) -> dict[str, Any]:
        """The chat (chat_dict). Errors: UnknownChat."""
        async with self.store.session() as s:
            return chat_dict(await chat_of(s, chat_id))

    async def say(self, chat_id: int, sender: str, text: str, *, name: str = "", agent: str = "",
                  attachments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """A message in the chat (`sender`: visitor | agent | system), on its ticket. An agent's
        first answer stamps the ticket's first response. Messages said at once are written
        together (tickets/chat_messages.py). Errors: `unknown-chat`, `chat-ended`, `bad-text`."""
        return await self.writer.say(chat_id, sender, checked_text(text, "message", 20_000), name=name,
                                     agent=agent, attachments=attachments)

    async def assign(self, chat_id: int, agent: str) -> dict[str, Any]:
        """The chat is `agent`'s now (active), and so is its ticket if it was nobody's or the
        previous holder's (so no other agent changes it under them). Errors: `unknown-chat`,
        `chat-ended`."""
        return await db.retried(lambda: self._move(chat_id, agent=agent, state="active"))

    async def requeue(self, chat_id: int, queue: str) -> dict[str, Any]:
        """Back to waiting, in `queue` (a transfer to a queue, or its agent gone)."""
        return await db.retried(lambda: self._move(chat_id, agent="", state="waiting", queue=queue))

    async def _move(self, chat_id: int, *, agent: str, state: str, queue: str | None = None) -> dict[str, Any]:
        now = self.store.clock()
        async with self.store.writing() as s:
            chat = await chat_of(s, chat_id)
            if chat.state == "ended":
                raise ChatEnded(chat_id)
            if agent:
                ticket = await s.get(Ticket, chat.ticket_id)
                if ticket is not None and ticket.assignee in ("", chat.agent) and ticket.assignee != agent:
                    s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="assignee",
                                       old=ticket.assignee, new=agent))
                    ticket.assignee, ticket.updated_at = agent, now
            chat.agent, chat.state = agent, state
            chat.assigned_at = now if agent else None
            if queue is not None:
                chat.queue = queue
            return chat_dict(chat)

    async def end(self, chat_id: int, by: str) -> dict[str, Any]:
        """The chat ends (`by`: visitor, an agent's name, or what the system saw). Ending an ended
        chat changes nothing."""
        now = self.store.clock()
        async with self.store.writing() as s:
            chat = await chat_of(s, chat_id)
            if chat.state != "ended":
                chat.state, chat.ended_at, chat.ended_by = "ended", now, by[:64]
            return chat_dict(chat)

    async def live(self) -> list[dict[str, Any]]:
        """Chats waiting or active (a restarted controller takes them up again), oldest first."""
        async with self.store.session() as s:
            rows = (await s.execute(select(Chat).where(Chat.state != "ended").order_by(Chat.id))).scalars().all()
            return [chat_dict(c) for c in rows]

    async def history(self, visitor: str, limit: int = HISTORY) -> list[dict[str, Any]]:
        """The visitor's own messages (theirs, agents', the system's), oldest first: only what was
        said in this visitor's chats, never the rest of the customer's file."""
        async with self.store.session() as s:
            theirs = (await s.execute(select(Chat.customer_id).where(Chat.visitor == visitor).distinct())
                      ).scalars().all()
            if not theirs:
                return []
            rows = (await s.execute(select(Interaction).where(
                Interaction.customer_id.in_(await _current(s, theirs)), Interaction.channel == "chat",
                Interaction.address == visitor).order_by(Interaction.id.desc()).limit(limit))).scalars().all()
            return [message_dict(i) for i in reversed(rows)]

    async def messages(self, chat_id: int, limit: int = HISTORY) -> list[dict[str, Any]]:
        """The messages of one chat, oldest first. Errors: `unknown-chat`."""
        found = await self.messages_of([chat_id], limit)
        if chat_id not in found:
            raise UnknownChat(chat_id)
        return found[chat_id]

    async def messages_of(self, chat_ids: Sequence[int], limit: int = HISTORY) -> dict[int, list[dict[str, Any]]]:
        """The messages of these chats (the last `limit` of each, oldest first), in one read: a
        chat's messages are on its ticket, from its visitor's address, since it started."""
        ids = [i for i in chat_ids if is_id(i)]
        if not ids:
            return {}
        async with self.store.session() as s:
            chats = (await s.execute(select(Chat).where(Chat.id.in_(ids)))).scalars().all()
            if not chats:
                return {}
            rows = (await s.execute(select(Interaction).where(
                Interaction.channel == "chat", Interaction.ticket_id.in_({c.ticket_id for c in chats}),
                Interaction.address.in_({c.visitor for c in chats}),
                Interaction.started_at >= min(c.started_at for c in chats)).order_by(Interaction.id))).scalars().all()
        out: dict[int, list[dict[str, Any]]] = {c.id: [] for c in chats}
        for row in rows:
            chat = (row.variables or {}).get("chat")
            if chat in out:
                out[chat].append(message_dict(row))
        return {chat: found[-limit:] for chat, found in out.items()}

    async def set_contact(self, chat_id: int, contact: dict[str, str]) -> dict[str, Any]:
        """What the visitor says they are (name, email, phone), kept on the chat until an agent
        verifies it. Errors: `unknown-chat`."""
        async with self.store.writing() as s:
            chat = await chat_of(s, chat_id)
            chat.contact = {**(chat.contact or {}), **{k: v for k, v in contact.items() if v}}
            return chat_dict(chat)

    async def verify(self, chat_id: int, kind: str, value: str, actor: str) -> dict[str, Any]:
        """An agent confirmed the visitor's email or phone: the identity joins the chat's customer,
        or, if it is another customer's, the chat's customer is merged into theirs (Customers.merge:
        audited, reversible) and the chat moves onto their open ticket on the chat's topic — unless
        the chat's customer is known already (a phone or email): then `identity-taken`, a person
        merges two known customers. Returns the chat. Errors: `unknown-chat`, `identity-taken`,
        IdentityError `invalid-identity`."""
        if kind not in ("email", "phone"):
            raise identity.IdentityError(f"only an email or a phone can be verified, not {kind!r}")
        ident = identity.parse(kind, value, self.store.policy.default_region)
        if ident is None or not ident.valid:  # a number kept raw elsewhere is not one an agent can confirm
            raise identity.IdentityError(f"{value[:40]!r} is no {kind}")
        now = self.store.clock()
        async with self.store.session() as s:
            chat = await chat_of(s, chat_id)
            mine = (await customers.current(s, chat.customer_id)).id
            owner = await customers.by_identity(s, ident)
            known = (await s.execute(select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == mine, CustomerIdentity.kind.in_(("phone", "email"))))).scalars().all()
        if owner is None:
            await self.customers.update(mine, add_identities=[(kind, value)])
        elif owner.id != mine:
            if known:  # the chat is someone's already: two known customers are merged by a person, not a click
                raise Conflict("identity-taken", f"{ident.value} belongs to customer #{owner.id}, and this chat "
                               f"is customer #{mine}'s already ({', '.join(known[:3])}): if they are one person, "
                               "merge them from the customer file", {"customer": owner.id})
            await self.customers.merge(owner.id, mine, actor)
            # A call or a message of either customer may touch these tickets meanwhile (their
            # version moves): each step is tried again on the fresh rows.
            await db.retried(lambda: self._join_ticket(chat_id, owner.id, now))
        return await db.retried(lambda: self._verified(chat_id, f"{ident.kind}:{ident.value}", actor, now))

    async def _verified(self, chat_id: int, tag: str, actor: str, now: float) -> dict[str, Any]:
        async with self.store.writing() as s:
            chat = await chat_of(s, chat_id)
            chat.customer_id = (await customers.current(s, chat.customer_id)).id
            if tag not in (chat.verified or []):  # verified twice (two clicks at once): written once
                chat.verified = list(chat.verified or []) + [tag]
                s.add(TicketChange(ticket_id=chat.ticket_id, at=now, actor=actor[:100], field="verified", old="",
                                   new=tag))
            return chat_dict(chat)

    async def _join_ticket(self, chat_id: int, customer_id: int, now: float) -> None:
        async with self.store.writing() as s:
            await _join_open_ticket(s, await chat_of(s, chat_id), customer_id, now, self.store.policy.sla)

    async def offline(self, visitor: str, queue: str, *, topic: str, text: str, contact: dict[str, str],
                      origin: str = "") -> OfflineMessage:
        """The widget's leave-a-message form (no agent online): a ticket of the customer the email
        (else phone) names, as an inbound email or SMS would be, with the message as an ended chat.
        Returns {"chat", "ticket"}. Errors: `bad-text`, `no-address`, IdentityError."""
        text = checked_text(text, "message", 20_000, empty=False)
        kind, value = ("email", contact["email"]) if contact.get("email") else ("phone", contact.get("phone", ""))
        if not value:
            raise Conflict("no-address", "an email or a phone number is needed to answer the message")
        if identity.parse(kind, value, self.store.policy.default_region) is None:
            raise identity.IdentityError(f"{value!r} identifies nobody")
        words = terms.doc_terms("", text)
        return await db.retried(lambda: self._offline(visitor, queue, topic, text, words, contact, origin, kind, value))

    async def _offline(self, visitor: str, queue: str, topic: str, text: str, words: list[str], contact: dict[str, str],
                       origin: str, kind: str, value: str) -> OfflineMessage:
        now = self.store.clock()
        async with self.store.writing() as s:
            customer = await customers.for_contact(s, kind, value, name=contact.get("name", ""),
                                                   region=self.store.policy.default_region, now=now)
            who = contact.get("name") or value
            ticket = await tickets.choose_ticket(s, self.store, customer, topic=topic, channel="chat",
                                                 subject=f"Message left in the chat by {who[:80]}", now=now,
                                                 queue=queue)
            tickets.awaits(ticket, now)  # nobody was there: someone answers it by email or phone
            chat = Chat(visitor=visitor, customer_id=customer.id, ticket_id=ticket.id, queue=queue, agent="",
                        state="ended", started_at=now, ended_at=now, ended_by="offline form", origin=origin[:200],
                        contact=contact, verified=[])
            s.add(chat)
            await s.flush()
            row = Interaction(ticket_id=ticket.id, customer_id=customer.id, channel="chat", direction="inbound",
                              step="ended", started_at=now, ended_at=now, address=visitor, name=contact.get("name", ""),
                              body=text, queue=queue, ivr_path=[], variables={"chat": chat.id, "offline": True,
                                                                              "contact": contact})
            s.add(row)
            ticket.updated_at = now
            await s.flush()
            await search.index(s, self.store, [search.Doc(row.id, ticket.id, words)])
            self.store.writes += 1
            return {"chat": chat.id, "ticket": ticket.id}
