"""Chat messages written together: those said while a transaction writes go into the next one
(group commit, up to SAY_BATCH), in a few statements — the chats and their tickets read at once,
the messages inserted in one statement, the tickets touched in one. Measured (bench/chat.py, 100
chats writing at the same instant): one transaction per message put the last one 842 ms behind
(p95), mostly the database round trips of each; together, 119 ms.

A message to an unknown or ended chat fails alone (it is refused before it writes anything); a
batch the database refuses is written again one message at a time (db.retried).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.tickets import customers, db, search, terms, tickets
from callcenter.tickets.chats import DIRECTION, ChatEnded, UnknownChat, chat_of, message_dict
from callcenter.tickets.runner import on_store_loop
from callcenter.tickets.schema import Chat, Interaction, Ticket
from callcenter.tickets.store import Store

SAY_BATCH = 200  # messages written in one transaction at most


@dataclass(frozen=True)
class _Said:
    chat_id: int
    sender: str
    text: str
    name: str
    agent: str
    attachments: tuple[dict[str, Any], ...]
    result: asyncio.Future[dict[str, Any]]
    words: list[str]  # the text's search terms (terms.doc_terms), found before the transaction


async def _say_in(s: AsyncSession, store: Store, said: _Said, now: float) -> dict[str, Any]:
    """Write one message in transaction `s`. Errors: UnknownChat, ChatEnded (before any write)."""
    chat = await chat_of(s, said.chat_id)
    if chat.state == "ended":
        raise ChatEnded(said.chat_id)
    ticket = await s.get(Ticket, chat.ticket_id)
    if ticket is not None and ticket.status == "closed":
        # Closed is final (store rules): the rest of the chat goes on the customer's open ticket
        # on that topic, or a new one.
        customer = await customers.current(s, ticket.customer_id)
        ticket = await tickets.choose_ticket(s, store, customer, topic=ticket.topic, channel="chat",
                                             subject=ticket.subject, now=now)
        chat.ticket_id = ticket.id
    row = Interaction(ticket_id=chat.ticket_id, customer_id=ticket.customer_id if ticket else chat.customer_id,
                      channel="chat", direction=DIRECTION[said.sender], step="ended", started_at=now,
                      ended_at=now, address=chat.visitor, name=said.name[:200], agent=said.agent[:64], body=said.text,
                      queue=chat.queue, ivr_path=[],
                      variables={"chat": chat.id, "attachments": list(said.attachments)})
    s.add(row)
    if ticket is not None:
        ticket.updated_at = now
        if said.sender == "agent":
            tickets.answered(ticket, now)
        if said.sender == "visitor":
            tickets.reopen(s, ticket, now, store.policy.sla)
    await s.flush()
    await search.index(s, store, [search.Doc(row.id, row.ticket_id, said.words)])
    return message_dict(row)


@on_store_loop
class ChatMessages:
    """The chats' messages of one store, written together (see the module's docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._said: list[_Said] = []  # messages waiting for the next transaction (on the store's loop)
        self._saying: asyncio.Task[None] | None = None

    async def say(self, chat_id: int, sender: str, text: str, *, name: str = "", agent: str = "",
                  attachments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Write a message (`text` already checked) with the others said meanwhile; returns it as
        message_dict shows it. Errors: UnknownChat, ChatEnded."""
        said = _Said(chat_id, sender, text, name, agent, tuple(attachments), asyncio.get_running_loop().create_future(),
                     terms.doc_terms("", text))
        self._said.append(said)
        if self._saying is None or self._saying.done():
            self._saying = asyncio.get_running_loop().create_task(self._write_said())
        # Shielded: a caller that stops waiting does not unsay it (it is written with the rest).
        return await asyncio.shield(said.result)

    async def _write_said(self) -> None:
        while self._said:
            batch, self._said = self._said[:SAY_BATCH], self._said[SAY_BATCH:]
            try:
                results = await self._say_together(batch)
            except Exception:  # noqa: BLE001 - the transaction lost a race or the database refused: one by one
                results = []
                for said in batch:
                    try:
                        # Retried: another message of the same chat may have moved the ticket's version meanwhile.
                        results.append(await db.retried(lambda said=said: self._say_alone(said)))  # type: ignore[misc]
                    except Exception as exc:  # noqa: BLE001 - this message's own error goes to its sender
                        results.append(exc)
            for said, result in zip(batch, results):
                if said.result.done():
                    continue
                if isinstance(result, BaseException):
                    said.result.set_exception(result)
                else:
                    said.result.set_result(result)

    async def _say_together(self, batch: Sequence[_Said]) -> list[dict[str, Any] | Exception]:
        """One transaction for `batch`, in a few statements: the chats and their tickets read at
        once, the messages inserted in one statement, the tickets touched in one. A message to an
        unknown or ended chat fails alone (refused before anything is written); a message whose
        ticket is resolved or closed takes the one-message path (reopened, or a new ticket)."""
        now = self.store.clock()
        out: list[dict[str, Any] | Exception] = []
        async with self.store.writing() as s:
            ids = sorted({said.chat_id for said in batch})
            chats = {c.id: c for c in (await s.execute(select(Chat).where(Chat.id.in_(ids)))).scalars()}
            states = {row.id: row for row in await s.execute(
                select(Ticket.id, Ticket.status, Ticket.customer_id).where(
                    Ticket.id.in_({c.ticket_id for c in chats.values()})))}
            rows: list[dict[str, Any]] = []
            placed: list[int] = []  # each row's index in `out`
            words: list[list[str]] = []  # each row's search terms
            for said in batch:
                chat = chats.get(said.chat_id)
                state = states.get(chat.ticket_id) if chat is not None else None
                if chat is None:
                    out.append(UnknownChat(said.chat_id))
                elif chat.state == "ended":
                    out.append(ChatEnded(said.chat_id))
                elif state is None or state.status in ("resolved", "closed"):
                    out.append(await _say_in(s, self.store, said, now))  # rare: the ticket moves
                    states.pop(chat.ticket_id, None)
                else:
                    placed.append(len(out))
                    out.append({})
                    rows.append({"ticket_id": chat.ticket_id, "customer_id": state.customer_id, "channel": "chat",
                                 "direction": DIRECTION[said.sender], "step": "ended", "started_at": now,
                                 "ended_at": now, "address": chat.visitor, "name": said.name[:200],
                                 "agent": said.agent[:64], "body": said.text, "queue": chat.queue, "ivr_path": [],
                                 "variables": {"chat": chat.id, "attachments": list(said.attachments)}})
                    words.append(said.words)
            new_ids = await db.insert_returning_ids(s, Interaction, rows)
            await search.index(s, self.store, [search.Doc(new_id, row["ticket_id"], found)
                                               for new_id, row, found in zip(new_ids, rows, words)])
            for index, row, new_id in zip(placed, rows, new_ids):
                out[index] = message_dict(Interaction(id=new_id, **row))  # (a transient row: shown, not added)
            touched: dict[int, bool] = {}  # an agent's first answer stamps the ticket's first response
            for row in rows:
                touched[row["ticket_id"]] = touched.get(row["ticket_id"], False) or row["direction"] == "outbound"
            await tickets.touch_many(s, touched, now)
            self.store.writes += 1
        return out

    async def _say_alone(self, said: _Said) -> dict[str, Any]:
        async with self.store.writing() as s:
            row = await _say_in(s, self.store, said, self.store.clock())
            self.store.writes += 1
            return row
