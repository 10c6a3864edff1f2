"""Search of tickets (the agents' inbox, `GET /api/inbox?q=`): by ticket number, a phone number in
any format, an email, the customer's name, or the words of messages and voicemail transcripts, in
English and Chinese (tickets/terms.py says what a word is and what a query can be).

The words are found through an index, kept in the transaction of every writer of an interaction's
text (messages.py, chat_messages.py, chats.py, jobs.py; retention.py removes them): one
`search_docs` row per interaction with text (its ticket, its terms). SQLite indexes the terms with
FTS5, PostgreSQL with a GIN index on a text[] (migration 0010). A search costs about as much as
the messages it matches (their tickets are sorted by activity): measured by bench/search.py.

Errors: Refused `bad-query`, `bad-filter`; TicketValueError `bad-status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence, Unpack

from sqlalchemy import ColumnElement, Select, bindparam, column, delete, func, insert, literal_column, or_, select, \
    table, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import cast
from sqlalchemy.types import Text

from callcenter.core.errors import Refused
from callcenter.tickets import rules
from callcenter.tickets import terms as terms_
from callcenter.tickets.inputs import checked_text
from callcenter.tickets.rows import SearchHit, ticket_row
from callcenter.tickets.runner import on_store_loop
from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, SearchDoc, Ticket
from callcenter.tickets.store import Store

KINDS = ("number", "phone", "email", "name", "text")  # what matched, strongest first
SLA_STATES = ("at_risk", "breached")
MAX_LIMIT = 200

# SQLite's FTS5 index of search_docs (migration 0010; no model maps a virtual table).
_fts = table("search_fts", column("rowid"))


class Doc(NamedTuple):
    """One interaction's entry in the index: its id, its ticket, its terms (terms.doc_terms)."""

    interaction_id: int
    ticket_id: int | None  # None: no ticket (a short call): not indexed
    terms: Sequence[str]


async def index(s: AsyncSession, store: Store, docs: Sequence[Doc], *, replace: bool = False) -> None:
    """In transaction `s`: put `docs` in the search index (one statement). `replace`: the
    interactions may be indexed already (a voicemail transcribed again): their old terms go."""
    if replace:
        await s.execute(delete(SearchDoc).where(SearchDoc.interaction_id.in_([d.interaction_id for d in docs])))
    rows = [{"interaction_id": d.interaction_id, "ticket_id": d.ticket_id,
             "terms": " ".join(d.terms) if store.sqlite else list(d.terms)}
            for d in docs if d.terms and d.ticket_id is not None]
    if rows:
        await s.execute(insert(SearchDoc), rows)


async def unindex(s: AsyncSession, interactions: Select[int]) -> None:
    """In transaction `s`: the interactions whose ids `interactions` selects are no longer found by
    their words (retention purged their text)."""
    await s.execute(delete(SearchDoc).where(SearchDoc.interaction_id.in_(interactions.scalar_subquery()))
                    .execution_options(synchronize_session=False))


async def moved(s: AsyncSession, from_ticket: int, to_ticket: int) -> None:
    """In transaction `s`: the interactions of `from_ticket` moved to `to_ticket`: so do their
    entries."""
    await s.execute(update(SearchDoc).where(SearchDoc.ticket_id == from_ticket).values(ticket_id=to_ticket)
                    .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class _Filters:
    """Who searches and what they narrowed it to (checked)."""

    visible_queues: frozenset[str] | None
    agent: str | None
    status: str | None
    channel: str | None
    queue: str | None
    sla: str | None

    def where(self) -> list[ColumnElement[bool]]:
        """The conditions on `Ticket` they make."""
        out: list[ColumnElement[bool]] = []
        if self.visible_queues is not None:
            # An agent sees their queues' tickets, tickets of no queue, and what is assigned to them.
            seen = [Ticket.queue.in_(sorted(self.visible_queues)), Ticket.queue == ""]
            if self.agent:
                seen.append(Ticket.assignee == self.agent)
            out.append(or_(*seen))
        for value, col in ((self.status, Ticket.status), (self.channel, Ticket.channel), (self.queue, Ticket.queue),
                           (self.sla, Ticket.sla_state)):
            if value is not None:
                out.append(col == value)
        return out


@on_store_loop
class Search:
    """The search of one store's tickets."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def tickets(self, text: str, *, visible_queues: set[str] | frozenset[str] | None, agent: str | None,
                      status: str | None = None, channel: str | None = None, queue: str | None = None,
                      sla: str | None = None, limit: int = 50) -> list[SearchHit]:
        """The tickets `text` finds, newest activity first, at most `limit` (1 to 200): by ticket
        number (`#123`, `123`), a customer's phone in any format, email, or name (a substring,
        any case), or the words of a message or transcript (all of them in one message). Each:
        the ticket (rows.ticket_row), its customer's id and name, what matched (`match`: number |
        phone | email | name | text; the first of these when several did) and, for text, a
        `snippet` (≤ 160 characters around the hit; "" otherwise).

        `visible_queues` None: every ticket (a supervisor); else only tickets of these queues, of
        no queue, or assigned to `agent`. Filters: `status` (rules.STATUSES), `channel` (the
        channel that opened the ticket), `queue`, `sla` (at_risk | breached).

        Errors: Refused `bad-query` (empty, over 200 characters, a control character), `bad-filter`;
        TicketValueError `bad-status`."""
        wanted = terms_.query(text, self.store.policy.default_region)
        filters = _checked(visible_queues, agent, status, channel, queue, sla)
        if not 1 <= limit <= MAX_LIMIT:
            raise Refused("bad-filter", f"limit {limit}: 1 to {MAX_LIMIT}")
        where = filters.where()
        found: dict[int, tuple[str, Any]] = {}  # ticket id → (kind, row), strongest kind kept
        async with self.store.session() as s:
            for kind, rows in await self._matches(s, wanted, where, limit):
                for row in rows:
                    found.setdefault(row.Ticket.id, (kind, row))
            best = sorted(found.values(), key=lambda kr: (-kr[1].Ticket.updated_at, -kr[1].Ticket.id))[:limit]
            hits = {row.hit for kind, row in best if kind == "text"}
            texts = {r.id: (r.subject, r.body) for r in await s.execute(
                select(Interaction.id, Interaction.subject, Interaction.body).where(Interaction.id.in_(hits)))} \
                if hits else {}
        out: list[SearchHit] = []
        for kind, row in best:
            shown = ""
            if kind == "text" and row.hit in texts:
                shown = terms_.snippet(*texts[row.hit], wanted.words)
            out.append({"ticket": ticket_row(row.Ticket), "customer": {"id": row.Ticket.customer_id, "name": row.name},
                        "match": kind, "snippet": shown})
        return out

    async def _matches(self, s: AsyncSession, wanted: terms_.Query, where: list[ColumnElement[bool]],
                       limit: int) -> list[tuple[str, Sequence[Any]]]:
        """For each kind the query can be: the newest `limit` tickets it matches (rows of Ticket,
        the customer's `name`, and for text the newest matching interaction `hit`)."""
        def newest(query: Select[Unpack[tuple[Any, ...]]]) -> Select[Unpack[tuple[Any, ...]]]:
            return (query.join(Customer, Customer.id == Ticket.customer_id).where(*where)
                    .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit))

        out: list[tuple[str, Sequence[Any]]] = []
        base = select(Ticket, Customer.name)
        if wanted.number is not None:
            out.append(("number", (await s.execute(newest(base.where(Ticket.id == wanted.number)))).all()))
        for kind, value in (("phone", wanted.phone), ("email", wanted.email)):
            if value is not None:
                owner = select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == kind,
                                                                   CustomerIdentity.value == value)
                out.append((kind, (await s.execute(newest(base.where(
                    Ticket.customer_id.in_(owner.scalar_subquery()))))).all()))
        if wanted.name is not None:
            # icontains escapes % and _ (autoescape): the name is matched as typed, never as a pattern.
            out.append(("name", (await s.execute(newest(base.where(
                Customer.name.icontains(wanted.name, autoescape=True))))).all()))
        if wanted.words:
            hits = self._hits(wanted.words).subquery()
            query = select(Ticket, Customer.name, hits.c.hit).join(hits, hits.c.ticket_id == Ticket.id)
            out.append(("text", (await s.execute(newest(query))).all()))
        return out

    def _hits(self, words: Sequence[str]) -> Select[Unpack[tuple[Any, ...]]]:
        """(ticket_id, hit: its newest interaction holding every one of `words`) per ticket."""
        query = select(SearchDoc.ticket_id, func.max(SearchDoc.interaction_id).label("hit"))
        if self.store.sqlite:
            # Each term quoted: FTS5's query syntax (AND, OR, NEAR, *, ^, column filters) is never
            # what an agent typed; a term holds only letters and digits, so no quote to double.
            match = " ".join(f'"{w}"' for w in words)
            query = (query.join(_fts, literal_column("search_fts.rowid") == SearchDoc.interaction_id)
                     .where(literal_column("search_fts").op("MATCH")(bindparam("match", match, type_=Text()))))
        else:
            query = query.where(SearchDoc.terms.op("@>")(cast(bindparam("words", list(words), type_=ARRAY(Text())),
                                                              ARRAY(Text()))))
        return query.group_by(SearchDoc.ticket_id)


def _checked(visible_queues: set[str] | frozenset[str] | None, agent: str | None, status: str | None,
             channel: str | None, queue: str | None, sla: str | None) -> _Filters:
    """The filters if each is one the store knows. Errors: Refused `bad-filter`, `bad-text`;
    TicketValueError `bad-status`."""
    if status is not None and status not in rules.STATUSES:
        raise rules.TicketValueError("bad-status", f"no status {status!r} (statuses: {', '.join(rules.STATUSES)})")
    if channel is not None and channel not in rules.CHANNELS:
        raise Refused("bad-filter", f"no channel {channel!r} (channels: {', '.join(rules.CHANNELS)})")
    if sla is not None and sla not in SLA_STATES:
        raise Refused("bad-filter", f"no SLA state {sla!r} (states: {', '.join(SLA_STATES)})")
    if queue is not None:
        queue = checked_text(queue, "queue")
    if agent is not None:
        agent = checked_text(agent, "agent")
    visible = None
    if visible_queues is not None:
        visible = frozenset(checked_text(q, "queue") for q in visible_queues)
    return _Filters(visible, agent, status, channel, queue, sla)
