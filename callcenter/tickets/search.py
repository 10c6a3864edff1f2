"""Search of tickets (the agents' inbox, `GET /api/inbox?q=`): by ticket number, a phone number in
any format, an email, the customer's name, or the words of messages and voicemail transcripts, in
English and Chinese (tickets/terms.py says what a word is and what a query can be).

The words are found through an index, kept in the transaction of every writer of an interaction's
text (messages.py, chat_messages.py, chats.py, jobs.py; retention.py removes them): one
`search_docs` row per interaction with text (its ticket, its terms). SQLite indexes the terms with
FTS5, PostgreSQL with a GIN index on a text[] (migration 0010).

What a search costs (bench/search.py: 1 M interactions, 100 k customers): a number, a phone or an
email a few milliseconds (unique indexes); a name one pass over the customers' names (a substring
has no index); words the messages that hold them (listed through the index, about 2-5 µs each),
or, for words so common that listing them would cost more, a walk through the tickets newest
first that stops at the `limit`th one holding them.

Errors: Refused `bad-query`, `bad-filter`; TicketValueError `bad-status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, NamedTuple, Sequence, Unpack

from sqlalchemy import ColumnElement, Integer, Select, and_, any_, bindparam, column, delete, func, \
    insert, literal, literal_column, or_, select, table, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
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
# Words held by WIDE messages or more (names of WIDE customers or more) are looked for ticket by
# ticket, newest first, rather than by listing what holds them. Either way a search reads about
# as many entries: listing reads the word's messages (df of them); walking reads tickets until
# `limit` of them hold it, about limit × (messages / df) entries. The two meet near
# sqrt(limit × messages), 5,000 for 50 of 500,000 texts (bench/search.py). At most WALK tickets
# are walked, in pages growing to PAGE.
WIDE = 5_000
WALK = 20_000
PAGE = 1_000

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


class _Found(NamedTuple):
    """A ticket found: its row, its customer's name, for words the newest interaction holding
    them (else 0)."""

    Ticket: Ticket
    name: str
    hit: int


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

    def __init__(self, store: Store, *, wide: int = WIDE, walk: int = WALK, page: int = PAGE) -> None:
        """`wide`, `walk`, `page`: see WIDE (the tests make them small, to walk a small store)."""
        self.store, self.wide, self.walk, self.page = store, wide, walk, page

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
        found: dict[int, tuple[str, _Found]] = {}  # ticket id → (kind, row), strongest kind kept
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
                       limit: int) -> list[tuple[str, Sequence[_Found]]]:
        """For each kind the query can be: the newest `limit` tickets it matches (the `Ticket`,
        the customer's `name`, and for text the newest matching interaction `hit`).

        Each kind lists its candidates through an index (the customers with that phone, the
        messages with those words, ...) and the newest of them are picked here; when there would
        be too many (WIDE: a common word, a name's frequent letters), the tickets are walked
        newest first instead, each page checked. The plan is chosen here rather than by the
        database's planner: with an index on activity, SQLite's would walk every ticket for a
        word nobody wrote."""
        out: list[tuple[str, Sequence[_Found]]] = []
        candidates = select(Ticket, Customer.name, literal(0).label("hit")).join(
            Customer, Customer.id == Ticket.customer_id).where(*where)
        if wanted.number is not None:
            out.append(("number", await self._newest(s, candidates.where(Ticket.id == wanted.number), limit)))
        for kind, value in (("phone", wanted.phone), ("email", wanted.email)):
            if value is not None:
                owners = (await s.execute(select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == kind, CustomerIdentity.value == value))).scalars().all()
                if owners:
                    out.append((kind, await self._newest(s, candidates.where(self._in(Ticket.customer_id, owners)),
                                                         limit)))
        if wanted.name is not None:
            # The name as typed, never a pattern: `autoescape` escapes % and _. SQLite's LIKE ignores
            # ASCII case already (and its lower() knows no other: icontains would only cost a
            # third more); PostgreSQL's lower() knows every script's.
            named = Customer.name.contains(wanted.name, autoescape=True) if self.store.sqlite else \
                Customer.name.icontains(wanted.name, autoescape=True)
            owners = (await s.execute(select(Customer.id).where(named).limit(self.wide))).scalars().all()
            if len(owners) < self.wide:
                if owners:
                    out.append(("name", await self._newest(s, candidates.where(self._in(Ticket.customer_id, owners)),
                                                           limit)))
            else:
                async def of_named(ids: list[int]) -> dict[int, int]:
                    rows = await s.execute(select(Ticket.id).join(Customer, Customer.id == Ticket.customer_id)
                                           .where(self._in(Ticket.id, ids), named))
                    return dict.fromkeys(rows.scalars(), 0)
                out.append(("name", await self._walk(s, of_named, where, limit)))
        if wanted.words:
            if await self._common(s, wanted.words):
                holds = self._holds(wanted.words)

                async def with_words(ids: list[int]) -> dict[int, int]:
                    rows = await s.execute(select(SearchDoc.ticket_id, func.max(SearchDoc.interaction_id))
                                           .where(self._in(SearchDoc.ticket_id, ids), holds)
                                           .group_by(SearchDoc.ticket_id))
                    return {int(t): int(i) for t, i in rows}
                out.append(("text", await self._walk(s, with_words, where, limit)))
            else:
                hits = (select(SearchDoc.ticket_id, func.max(SearchDoc.interaction_id).label("hit"))
                        .where(self._matching(wanted.words)).group_by(SearchDoc.ticket_id).subquery())
                out.append(("text", await self._newest(s, select(Ticket, Customer.name, hits.c.hit).join(
                    hits, hits.c.ticket_id == Ticket.id).join(Customer, Customer.id == Ticket.customer_id)
                    .where(*where), limit)))
        return out

    async def _newest(self, s: AsyncSession, candidates: Select[Unpack[tuple[Any, ...]]], limit: int) -> list[_Found]:
        """The newest `limit` of `candidates` (rows of a Ticket, its customer's name and a hit:
        fewer than WIDE, filters applied)."""
        # Sorted on expressions, not the columns: SQLite's planner would otherwise answer the ORDER
        # BY by walking the index on activity and look for each ticket among the candidates (all
        # 200,000 of them for a word nobody wrote); this way it starts from the candidates.
        ordered = candidates.order_by((Ticket.updated_at + 0).desc(), (Ticket.id + 0).desc()).limit(limit)
        return [_Found(row[0], row[1], int(row[2] or 0)) for row in await s.execute(ordered)]

    async def _rows(self, s: AsyncSession, found: dict[int, int]) -> list[_Found]:
        """The tickets of `found` ({ticket id: hit}, in order) with their customers' names."""
        if not found:
            return []
        rows = {row.Ticket.id: row for row in await s.execute(
            select(Ticket, Customer.name).join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.id.in_(list(found))))}
        return [_Found(rows[tid].Ticket, rows[tid].name, hit) for tid, hit in found.items() if tid in rows]

    async def _walk(self, s: AsyncSession, check: Callable[[list[int]], Awaitable[dict[int, int]]],
                    where: list[ColumnElement[bool]], limit: int) -> list[_Found]:
        """The newest `limit` tickets (of those `where` lets through) that `check` finds among
        theirs (ticket ids → {ticket id: hit}), walking the tickets newest first: for words (or
        names) so common that listing what holds them would cost more, in pages growing from 2 ×
        `limit` to PAGE. A page's ids are read first, then checked (a check in the ids' query
        would run on every ticket the filters let through: SQLite computes a query's columns
        before it sorts). At most WALK tickets are walked: common words that none of the WALK
        newest tickets of these filters hold are not looked for further (the search is too broad
        to list anyway)."""
        found: dict[int, int] = {}
        after: tuple[float, int] | None = None
        walked, size = 0, min(self.page, 2 * limit)  # small checks first: a common word is in the first tickets
        # Without filters a page is a stretch of the index on activity, cheap at any size; with
        # them the database sorts all the tickets they let through at each read (SQLite: 30 ms for
        # 20,000): read a whole PAGE at once, check it in growing chunks.
        fetch = self.page if where else size
        while walked < self.walk:
            query = select(Ticket.id, Ticket.updated_at).where(*where)
            if after is not None:
                query = query.where(tuple_(Ticket.updated_at, Ticket.id) < tuple_(*after))
            page = (await s.execute(query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(fetch))).all()
            at = 0
            while at < len(page):
                chunk = page[at:at + size]
                hits = await check([row.id for row in chunk])
                for row in chunk:
                    if row.id in hits:
                        found[row.id] = hits[row.id]
                        if len(found) == limit:
                            return await self._rows(s, found)
                at, size = at + len(chunk), min(self.page, size * 4)
            if len(page) < fetch:
                break
            walked, fetch = walked + len(page), max(fetch, size)
            after = (page[-1].updated_at, page[-1].id)
        return await self._rows(s, found)

    def _matching(self, words: Sequence[str]) -> ColumnElement[bool]:
        """The entries (SearchDoc) that hold every one of `words`, through the index."""
        if self.store.sqlite:
            return SearchDoc.interaction_id.in_(self._fts(words))
        return self._holds(words)

    def _fts(self, words: Sequence[str]) -> Select[Unpack[tuple[Any, ...]]]:
        """SQLite: the ids of the interactions that hold every one of `words` (FTS5)."""
        # Each term quoted: FTS5's query syntax (AND, OR, NEAR, *, ^, column filters) is never what
        # an agent typed; a term holds only letters and digits, so no quote to double.
        match = " ".join(f'"{w}"' for w in words)
        return select(literal_column("rowid")).select_from(_fts).where(
            literal_column("search_fts").op("MATCH")(bindparam("match", match, type_=Text())))

    def _in(self, col: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
        """`col` is one of `ids` (up to WIDE of them). PostgreSQL: one array parameter, so the
        statement is prepared once, not once per length of the list (which cost 40 ms for 1,500
        ids)."""
        if self.store.sqlite:
            return col.in_(ids)
        return col == any_(cast(bindparam("ids", list(ids), type_=ARRAY(Integer())), ARRAY(Integer())))

    async def _common(self, s: AsyncSession, words: Sequence[str]) -> bool:
        """Are `words` in WIDE messages or more? SQLite: counted (FTS5 lists its matches without
        reading a table: 2 ms for 5,000). PostgreSQL: as the planner estimates it from the
        column's statistics (the most common elements of the terms arrays and their frequencies):
        counting would read the heap row of each message."""
        if self.store.sqlite:
            counted = select(func.count()).select_from(self._fts(words).limit(self.wide).subquery())
            return int((await s.execute(counted)).scalar_one()) >= self.wide
        plan = (await s.execute(text("EXPLAIN (FORMAT JSON) SELECT 1 FROM search_docs WHERE terms @> :words")
                                .bindparams(bindparam("words", list(words), type_=ARRAY(Text()))))).scalar_one()
        return bool(float(plan[0]["Plan"]["Plan Rows"]) >= self.wide)

    def _holds(self, words: Sequence[str]) -> ColumnElement[bool]:
        """An entry (SearchDoc) holds every one of `words` (checked on the row: PostgreSQL's GIN
        index answers it for the whole table too)."""
        if self.store.sqlite:  # the terms are joined by single spaces (index())
            padded: ColumnElement[str] = literal_column("' '") + SearchDoc.terms + literal_column("' '")
            return and_(*(func.instr(padded, bindparam(f"w{n}", f" {w} ", type_=Text())) > 0
                          for n, w in enumerate(words)))
        return SearchDoc.terms.op("@>")(cast(bindparam("words", list(words), type_=ARRAY(Text())), ARRAY(Text())))


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
