"""Work items in the store: the tickets that need a person (callcenter/inbox/ routes and shows them).

A ticket is a work item while it is `new` or `open` and a customer's message waits for an answer
(`awaiting_since`: an SMS, an email, a voicemail, a missed call, an offline form, a callback
request; tickets.py `awaits`/`answered`) or its SLA is at risk or breached (`sla_state`). Its
queue (`tickets.queue`) says whose agents work it; accepting one assigns it to the agent and opens
it, and the first of two agents accepting at once wins (a conditional UPDATE: no lost race on
SQLite or PostgreSQL). Live chats are items too, but the chat desk holds them (channels/chat/).

Errors: NotFound `unknown-ticket`; Conflict `already-taken`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import ColumnElement, CursorResult, and_, case, func, or_, select, update

from callcenter.core.errors import Conflict
from callcenter.tickets.inputs import is_id
from callcenter.tickets.rows import TicketRow, ticket_row
from callcenter.tickets.runner import on_store_loop
from callcenter.tickets.schema import Customer, Interaction, Ticket, TicketChange
from callcenter.tickets.store import Store
from callcenter.tickets.tickets import unknown_ticket

WORKING = ("new", "open")  # statuses in which a ticket can be a work item (pending waits on the customer)
LISTED = ("new", "open", "pending")  # an agent's own tickets ("my work")
PREVIEW_CHARS = 200
MAX_ITEMS = 500  # an agent's own tickets listed at most
MAX_WAITING = 50_000  # unassigned work items read for ranking at most (a memory bound, far above a day's work)


@dataclass(frozen=True)
class Waiting:
    """An unassigned work item as ranking sees it (epoch seconds)."""

    ticket: int
    queue: str
    channel: str
    priority: str
    waiting_since: float
    sla_state: str
    tags: tuple[str, ...]  # the customer's


@dataclass(frozen=True)
class StoredItem:
    """A ticket as a work item, with what ranking and the page need (epoch seconds)."""

    ticket: TicketRow
    customer_name: str
    customer_tags: tuple[str, ...]
    preview: str  # the customer's last message (≤ 200 characters; "" for a call)

    @property
    def waiting_since(self) -> float:
        t = self.ticket
        return t["awaiting_since"] if t["awaiting_since"] is not None else t["updated_at"]


def _is_work() -> ColumnElement[bool]:
    return and_(Ticket.status.in_(WORKING), or_(Ticket.awaiting_since.is_not(None), Ticket.sla_state != ""))


@on_store_loop
class WorkItems:
    """The work items of one store: listed by queue or assignee, accepted, released, counted."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def waiting(self, queues: Iterable[str] | None, *, channel: str | None = None, status: str | None = None,
                      sla: str | None = None) -> list[Waiting]:
        """Every work item nobody has, in these queues (None: every queue), with what ranking
        needs — all of them (at most MAX_WAITING), so the most urgent is never behind a cap:
        the caller ranks them and reads the few it shows (`items`)."""
        query = (select(Ticket.id, Ticket.queue, Ticket.channel, Ticket.priority,
                        func.coalesce(Ticket.awaiting_since, Ticket.updated_at), Ticket.sla_state, Customer.tags)
                 .join(Customer, Customer.id == Ticket.customer_id).where(_is_work(), Ticket.assignee == ""))
        if queues is not None:
            query = query.where(Ticket.queue.in_(sorted(queues)))
        for column, value in ((Ticket.channel, channel), (Ticket.status, status), (Ticket.sla_state, sla)):
            if value is not None:
                query = query.where(column == value)
        async with self.store.session() as s:
            rows = (await s.execute(query.order_by(Ticket.id).limit(MAX_WAITING))).all()
        return [Waiting(tid, queue, channel_, priority, since, state, tuple(tags or ()))
                for tid, queue, channel_, priority, since, state, tags in rows]

    async def items(self, ticket_ids: Sequence[int]) -> list[StoredItem]:
        """These tickets as items, in the order given (those that exist)."""
        if not ticket_ids:
            return []
        found = {i.ticket["id"]: i for i in await self._items(select(Ticket).where(Ticket.id.in_(list(ticket_ids))))}
        return [found[t] for t in ticket_ids if t in found]

    async def assigned(self, agent: str) -> list[StoredItem]:
        """`agent`'s tickets that are not done (new, open, pending), at most MAX_ITEMS."""
        return await self._items(select(Ticket).where(Ticket.assignee == agent, Ticket.status.in_(LISTED))
                                 .order_by(Ticket.updated_at.desc()).limit(MAX_ITEMS))

    async def item(self, ticket_id: int) -> StoredItem:
        """One ticket as an item (whether or not it is work now). Errors: NotFound `unknown-ticket`."""
        found = await self._items(select(Ticket).where(Ticket.id == ticket_id)) if is_id(ticket_id) else []
        if not found:
            raise unknown_ticket(ticket_id)
        return found[0]

    async def _items(self, query: Any) -> list[StoredItem]:
        async with self.store.session() as s:
            tickets = list((await s.execute(query)).scalars().all())
            if not tickets:
                return []
            ids = [t.id for t in tickets]
            customers = {c.id: c for c in (await s.execute(select(Customer).where(
                Customer.id.in_({t.customer_id for t in tickets})))).scalars()}
            last = (select(Interaction.ticket_id, func.max(Interaction.id).label("last"))
                    .where(Interaction.ticket_id.in_(ids), Interaction.direction == "inbound",
                           Interaction.body != "").group_by(Interaction.ticket_id).subquery())
            previews = dict((await s.execute(select(Interaction.ticket_id, Interaction.body)
                                              .join(last, Interaction.id == last.c.last))).all())
            out = []
            for t in tickets:
                customer = customers.get(t.customer_id)
                out.append(StoredItem(ticket_row(t), customer.name if customer else "",
                                      tuple(customer.tags or ()) if customer else (),
                                      " ".join(str(previews.get(t.id, "")).split())[:PREVIEW_CHARS]))
            return out

    async def accept(self, ticket_id: int, agent: str) -> TicketRow:
        """`agent` takes the item: the ticket is assigned to them and opened (`new` → `open`), in its
        history. One UPDATE on the condition that nobody else has it: of two agents accepting at
        once, one wins. Errors: NotFound `unknown-ticket`; Conflict `already-taken` (another
        agent has it)."""
        now = self.store.clock()
        async with self.store.writing() as s:
            ticket = await s.get(Ticket, ticket_id) if is_id(ticket_id) else None
            if ticket is None:
                raise unknown_ticket(ticket_id)
            if ticket.assignee not in ("", agent):
                raise Conflict("already-taken", f"ticket #{ticket_id} is {ticket.assignee}'s already",
                               {"ticket": ticket_id, "assignee": ticket.assignee})
            before_status, before_assignee = ticket.status, ticket.assignee
            status = "open" if before_status == "new" else before_status
            taking = (update(Ticket).where(Ticket.id == ticket_id, Ticket.assignee.in_(("", agent)))
                      .values(assignee=agent, status=status, updated_at=now, version=Ticket.version + 1,
                              edits=Ticket.edits + 1).execution_options(synchronize_session=False))
            took = cast(CursorResult[Any], await s.execute(taking))
            if took.rowcount != 1:  # PostgreSQL: another transaction took it between our read and write
                raise Conflict("already-taken", f"ticket #{ticket_id} was taken meanwhile", {"ticket": ticket_id})
            if before_assignee != agent:
                s.add(TicketChange(ticket_id=ticket_id, at=now, actor=agent, field="assignee", old=before_assignee,
                                   new=agent))
            if status != before_status:
                s.add(TicketChange(ticket_id=ticket_id, at=now, actor=agent, field="status", old=before_status,
                                   new=status))
            await s.flush()
            await s.refresh(ticket)
            self.store.writes += 1
            return ticket_row(ticket)

    async def release(self, ticket_id: int, agent: str) -> TicketRow:
        """`agent` hands back an item they accepted but did not answer: nobody has it again (in its
        history), routing offers it to the next agent. Errors: NotFound `unknown-ticket`; Conflict
        `already-taken` (it is not theirs)."""
        now = self.store.clock()
        async with self.store.writing() as s:
            ticket = await s.get(Ticket, ticket_id, with_for_update=True) if is_id(ticket_id) else None
            if ticket is None:
                raise unknown_ticket(ticket_id)
            if ticket.assignee != agent:
                raise Conflict("already-taken", f"ticket #{ticket_id} is not {agent}'s", {"ticket": ticket_id})
            s.add(TicketChange(ticket_id=ticket_id, at=now, actor=agent, field="assignee", old=agent, new=""))
            ticket.assignee, ticket.updated_at = "", now
            await s.flush()
            self.store.writes += 1
            return ticket_row(ticket)

    async def decline(self, ticket_id: int, agent: str) -> None:
        """`agent` declined the offer of `ticket_id`: kept in its history (field `declined`), so a
        restarted controller does not offer it to them again."""
        async with self.store.writing() as s:
            s.add(TicketChange(ticket_id=ticket_id, at=self.store.clock(), actor=agent, field="declined", old="",
                               new=agent))
            self.store.writes += 1

    async def declines(self, ticket_ids: Sequence[int]) -> dict[int, set[str]]:
        """Who declined each of these tickets since its customer's message began to wait."""
        out: dict[int, set[str]] = {}
        async with self.store.session() as s:
            for start in range(0, len(ticket_ids), 1000):  # bound the statement's parameters
                rows = await s.execute(select(TicketChange.ticket_id, TicketChange.actor)
                                       .join(Ticket, Ticket.id == TicketChange.ticket_id)
                                       .where(TicketChange.ticket_id.in_(list(ticket_ids[start:start + 1000])),
                                              TicketChange.field == "declined",
                                              TicketChange.at >= func.coalesce(Ticket.awaiting_since, 0.0)))
                for ticket_id, agent in rows:
                    out.setdefault(ticket_id, set()).add(agent)
        return out

    async def held(self, agents: Sequence[str]) -> dict[str, int]:
        """Work items each agent has accepted and not answered yet (what counts against their
        `routing.max_open_items`)."""
        if not agents:
            return {}
        async with self.store.session() as s:
            rows = await s.execute(select(Ticket.assignee, func.count()).where(
                Ticket.assignee.in_(list(agents)), _is_work()).group_by(Ticket.assignee))
            return {agent: int(n) for agent, n in rows}

    async def backlog(self) -> list[dict[str, Any]]:
        """Per queue and channel: `open` (new, open, pending), `unassigned` (work items nobody
        has), `at_risk`, `breached` and `oldest_waiting` (epoch seconds of the oldest unanswered
        customer message, or None). The supervisors' backlog (wallboard)."""
        work = _is_work()
        async with self.store.session() as s:
            rows = await s.execute(select(
                Ticket.queue, Ticket.channel, func.count(),
                func.sum(_flag(and_(work, Ticket.assignee == ""))),
                func.sum(_flag(and_(Ticket.status.in_(WORKING), Ticket.sla_state == "at_risk"))),
                func.sum(_flag(and_(Ticket.status.in_(WORKING), Ticket.sla_state == "breached"))),
                func.min(Ticket.awaiting_since))
                .where(Ticket.status.in_(LISTED)).group_by(Ticket.queue, Ticket.channel)
                .order_by(Ticket.queue, Ticket.channel))
            return [{"queue": q, "channel": c, "open": int(n), "unassigned": int(u or 0), "at_risk": int(r or 0),
                     "breached": int(b or 0), "oldest_waiting": oldest} for q, c, n, u, r, b, oldest in rows]


def _flag(condition: ColumnElement[bool]) -> Any:
    """1 where `condition` holds, else 0 (summed per group)."""
    return case((condition, 1), else_=0)
