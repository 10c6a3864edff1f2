"""Tickets: which ticket a contact joins, and what people do with tickets (read, list, change).

The functions on a transaction (`AsyncSession`) are the rules every writer of a contact follows
(calls, SMS, email, chat): `choose_ticket` (the customer's open ticket on the topic, reopened if
resolved, else a new one), `reopen`, `new_ticket`. `Tickets` is the operations of the REST API,
the CLI and the call writer, one transaction each; every change goes into the ticket's history.
Statuses and priorities are rules.py's, SLA due times and states sla.py's.

Errors: NotFound `unknown-ticket`; Conflict `ticket-conflict`; TicketRuleError (RuleBroken)
`invalid-transition`; TicketValueError (Refused) `bad-status`, `bad-priority`, `bad-queue`; Refused
`bad-text`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Sequence, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from callcenter.core.errors import Conflict, NotFound
from callcenter.tickets import customers
from callcenter.tickets import db
from callcenter.tickets import rules
from callcenter.tickets import sla
from callcenter.tickets.inputs import MAX_TEXT, checked_text
from callcenter.tickets.rows import TicketRow, TicketWithHistory, change_row, interaction_row, ticket_row
from callcenter.tickets.schema import Customer, Interaction, Ticket, TicketChange
from callcenter.tickets.sla import NeverOpen, SlaPolicy
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

UPDATE_ATTEMPTS = 20  # optimistic retries of a ticket change that raced another


def unknown_ticket(ticket_id: int) -> NotFound:
    """NotFound `unknown-ticket` for #`ticket_id`."""
    return NotFound("unknown-ticket", f"no ticket #{ticket_id}", {"ticket": ticket_id})


async def choose_ticket(s: AsyncSession, store: Store, customer: Customer, *, topic: str, channel: str, subject: str,
                        now: float, queue: str | None = None) -> Ticket:
    """The ticket a contact of `customer` on `topic` joins: their open ticket on it touched within
    the store's `reopen_days` (reopened if resolved), else a new one (`channel` picks its SLA,
    `subject` names it; `queue` works it, by default the topic). An unidentified customer always
    gets a new one. Two writers choosing for one customer take turns: PostgreSQL locks the
    customer's row here, SQLite's write transaction holds the database (Store.writing)."""
    if not store.sqlite:
        await customers.current(s, customer.id, lock=True)
    candidates = (await s.execute(select(Ticket).where(
        Ticket.customer_id == customer.id, Ticket.topic == topic, Ticket.status != "closed")
        .order_by(Ticket.updated_at.desc()).limit(1))).scalars().all()
    for ticket in candidates:
        if not customer.unidentified and rules.joinable(ticket.status, ticket.topic, ticket.updated_at,
                                                        want_topic=topic, now=now,
                                                        reopen_days=store.policy.reopen_days):
            reopen(s, ticket, now, store.policy.sla)
            ticket.updated_at = now
            return ticket
    return await new_ticket(s, store, customer, topic=topic, channel=channel, subject=subject, now=now, queue=queue)


async def touch_many(s: AsyncSession, touched: dict[int, bool], now: float) -> None:
    """Tickets a batch of contacts touched ({ticket id: an agent answered}), in one statement:
    `updated_at` now, the version moved on (others' optimistic writes try again), the first
    response stamped where an agent answered and none was yet."""
    if not touched:
        return
    table = cast(Table, Ticket.__table__)  # Core: one UPDATE, many parameter sets
    await s.execute(update(table).where(table.c.id == bindparam("tid"))
                    .values(updated_at=now, version=table.c.version + 1,
                            first_response_at=func.coalesce(table.c.first_response_at, bindparam("fr"))),
                    [{"tid": tid, "fr": now if answered else None} for tid, answered in sorted(touched.items())])


def reopen(s: AsyncSession, ticket: Ticket, now: float, policy: SlaPolicy) -> None:
    """A new contact from the customer on a resolved ticket, or on one that waited on them
    (pending), opens it again (in its history); other statuses stay. Never for an automatic
    message (an out-of-office, a bounce): the caller does not call this for those. A pending
    ticket's SLA clock runs again (`policy`: pending_clock)."""
    if ticket.status in ("resolved", "pending"):
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="status", old=ticket.status, new="open"))
        if pending_clock(ticket, "open", policy, now):
            set_due(ticket, policy)
        ticket.status, ticket.resolved_at = "open", None


def awaits(ticket: Ticket, now: float) -> None:
    """A customer's message on `ticket` waits for an answer: it is a work item (callcenter/inbox/)
    from its oldest unanswered message on; a burst of messages is one item."""
    if ticket.awaiting_since is None:
        ticket.awaiting_since = now


def answered(ticket: Ticket, now: float) -> None:
    """An agent answered the customer on `ticket` (a reply, a call answered): nothing waits any
    more; the first response is stamped if it was not."""
    ticket.awaiting_since = None
    if ticket.first_response_at is None:
        ticket.first_response_at = now


async def new_ticket(s: AsyncSession, store: Store, customer: Customer, *, topic: str, channel: str, subject: str,
                     now: float, queue: str | None = None) -> Ticket:
    """A new ticket of `customer` (status new, priority normal, SLA due times of `channel` in its
    queue's calendar), its creation in its history; `subject` is cut to 300 characters; `queue`
    works it (by default the topic: a call's topic is the queue it reached)."""
    ticket = Ticket(customer_id=customer.id, subject=subject[:300], topic=topic, status="new", priority="normal",
                    assignee="", tags=[], created_at=now, updated_at=now,
                    queue=(topic if queue is None else queue)[:64], channel=channel, sla_paused_seconds=0.0)
    set_due(ticket, store.policy.sla)
    s.add(ticket)
    await s.flush()
    s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="created", old="", new=subject[:300]))
    return ticket


def set_due(ticket: Ticket, policy: SlaPolicy) -> None:
    """(Re)compute `ticket`'s SLA due times from its channel, priority, queue (its calendar),
    creation and the business seconds it spent pending: at its creation, and whenever one of
    them changes."""
    ticket.first_response_due, ticket.resolution_due = due_times(
        policy, ticket.channel or "", ticket.priority, ticket.created_at, ticket.queue or "",
        ticket.sla_paused_seconds or 0.0)


def due_times(policy: SlaPolicy, channel: str, priority: str, created_at: float, queue: str,
              paused_seconds: float = 0.0) -> tuple[float | None, float | None]:
    """SlaPolicy.due, or (None, None) in a calendar never open (the config refuses one; a policy
    built otherwise must not stop a ticket from being written)."""
    try:
        return policy.due(channel, priority, created_at, queue, paused_seconds)
    except NeverOpen:
        return None, None


@on_store_loop
class Tickets:
    """The tickets of one store: one with its history, the list, a person's change, the call-back
    flag of a call's ticket."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, ticket_id: int) -> TicketWithHistory:
        """A ticket with its history and interactions. Errors: NotFound `unknown-ticket`."""
        async with self.store.session() as s:
            ticket = await s.get(Ticket, ticket_id)
            if ticket is None:
                raise unknown_ticket(ticket_id)
            changes = (await s.execute(select(TicketChange).where(TicketChange.ticket_id == ticket_id)
                                       .order_by(TicketChange.id))).scalars().all()
            contacts = (await s.execute(select(Interaction).where(Interaction.ticket_id == ticket_id)
                                        .order_by(Interaction.started_at))).scalars().all()
            return {**ticket_row(ticket), "history": [change_row(c) for c in changes],
                    "interactions": [interaction_row(i) for i in contacts]}

    async def recent(self, *, status: str | None = None, customer_id: int | None = None, assignee: str | None = None,
                     limit: int = 100) -> list[TicketRow]:
        """Tickets, newest activity first, of one status, customer, assignee if given. Errors:
        TicketValueError `bad-status`."""
        query = select(Ticket).order_by(Ticket.updated_at.desc()).limit(limit)
        if status is not None:
            if status not in rules.STATUSES:
                raise rules.TicketValueError("bad-status", f"no status {status!r} (statuses: {', '.join(rules.STATUSES)})")
            query = query.where(Ticket.status == status)
        if customer_id is not None:
            query = query.where(Ticket.customer_id == customer_id)
        if assignee is not None:
            query = query.where(Ticket.assignee == assignee)
        async with self.store.session() as s:
            return [ticket_row(t) for t in (await s.execute(query)).scalars().all()]

    async def update(self, ticket_id: int, actor: str, *, status: str | None = None, priority: str | None = None,
                     assignee: str | None = None, note: str | None = None, add_tags: Sequence[str] = (),
                     remove_tags: Sequence[str] = (), expected_version: int | None = None,
                     expected_edits: int | None = None, queue: str | None = None) -> TicketRow:
        """Change a ticket; each change is written to its history (who, when, from → to); tags are
        lower-cased; `queue` moves it to the queue whose agents work it (a queue's name, "" none;
        its SLA due times follow the queue's calendar). `expected_version` / `expected_edits`
        (optimistic): refused with `ticket-conflict` if the row / a person changed it since.
        Without them, a concurrent change is retried on the fresh row, never lost. Errors:
        NotFound `unknown-ticket`; TicketRuleError `invalid-transition`; TicketValueError
        `bad-status`, `bad-priority`, `bad-queue`; Refused `bad-text`; Conflict `ticket-conflict`."""
        actor = checked_text(actor, "actor", empty=False)
        if note is not None:
            note = checked_text(note, "note", MAX_TEXT, empty=False)
        if assignee is not None:
            assignee = checked_text(assignee, "assignee")
        if priority is not None:
            rules.check_priority(priority)
        if queue is not None:
            queue = checked_text(queue, "queue", 64)
            rules.check_queue(queue)
        tags_add = [checked_text(t, "tag", 40, empty=False).strip().lower() for t in add_tags]
        tags_remove = {checked_text(t, "tag", 40).strip().lower() for t in remove_tags}
        change = _Change(status, priority, assignee, note, tags_add, tags_remove, queue)
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                return await self._update(ticket_id, actor, change, expected_version, expected_edits)
            except StaleDataError:
                if expected_version is not None or expected_edits is not None or attempt == UPDATE_ATTEMPTS - 1:
                    raise Conflict("ticket-conflict", f"ticket #{ticket_id} was changed meanwhile; read it "
                                   "again and retry", {"ticket": ticket_id}) from None
                # SQLite has no row locks: writers that raced try again, spread out.
                await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def _update(self, ticket_id: int, actor: str, change: _Change, expected_version: int | None,
                      expected_edits: int | None) -> TicketRow:
        now = self.store.clock()
        async with self.store.writing() as s:
            # PostgreSQL locks the row (concurrent editors wait their turn); SQLite's writer holds
            # the database (Store.writing).
            ticket = await s.get(Ticket, ticket_id, with_for_update=True)
            if ticket is None:
                raise unknown_ticket(ticket_id)
            if expected_version is not None and ticket.version != expected_version:
                raise Conflict("ticket-conflict", f"ticket #{ticket_id} is at version {ticket.version}, "
                               f"not {expected_version}: read it again", {"version": ticket.version})
            if expected_edits is not None and ticket.edits != expected_edits:
                raise Conflict("ticket-conflict", f"ticket #{ticket_id} was edited since you read it "
                               f"({ticket.edits} edits, not {expected_edits}): read it again",
                               {"edits": ticket.edits})
            changes = change.apply(ticket, self.store, now)
            if not changes:
                return ticket_row(ticket)
            ticket.updated_at, ticket.edits = now, ticket.edits + 1
            for name, old, new in changes:
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor=actor, field=name, old=old, new=new))
            await s.flush()
            self.store.writes += 1
            return ticket_row(ticket)

    async def reschedule(self) -> int:
        """The SLA due times of every ticket not done (new, open, pending) computed again with the
        store's policy: after an edit of the calendars, the targets or a queue's calendar, so
        states are measured against due times of the same calendar. Returns how many changed.
        One read of the needed columns, one statement for the changed rows."""
        policy = self.store.policy.sla
        async with self.store.session() as s:
            rows = (await s.execute(select(
                Ticket.id, Ticket.channel, Ticket.priority, Ticket.created_at, Ticket.queue, Ticket.sla_paused_seconds,
                Ticket.first_response_due, Ticket.resolution_due)
                .where(Ticket.status.in_(rules.OPEN_STATUSES)))).all()
        changed = []
        for r in rows:
            first, resolution = due_times(policy, r.channel or "", r.priority, r.created_at, r.queue or "",
                                          r.sla_paused_seconds or 0.0)
            if (first, resolution) != (r.first_response_due, r.resolution_due):
                changed.append({"tid": r.id, "first": first, "resolution": resolution})
        if changed:
            table = cast(Table, Ticket.__table__)
            async with self.store.writing() as s:
                for start in range(0, len(changed), 1000):
                    await s.execute(update(table).where(table.c.id == bindparam("tid"))
                                    .values(first_response_due=bindparam("first"),
                                            resolution_due=bindparam("resolution")), changed[start:start + 1000])
                self.store.writes += 1
        return len(changed)

    async def escalate(self, now: float | None = None) -> list[sla.Escalated]:
        """The SLA pass at `now` (default: the store's clock): each open ticket (new, open;
        pending ones have their clock stopped) gets its SLA state (sla.state, its queue's
        calendar); one whose state got worse than the one it has has the new one written (in its
        history: actor "system", field "sla") and the escalation rules of that state applied,
        once: its priority raised one step (due times computed again), its assignee taken (routing
        offers it again), each in its history. A state that got better is written too (history
        only), so the next worsening escalates again. Returns the tickets that got worse.
        One read of the needed columns for all open tickets; a write only when something changed."""
        now = self.store.clock() if now is None else now
        policy = self.store.policy.sla
        async with self.store.session() as s:
            rows = (await s.execute(select(
                Ticket.id, Ticket.queue, Ticket.channel, Ticket.priority, Ticket.first_response_due,
                Ticket.resolution_due, Ticket.first_response_at, Ticket.sla_state)
                .where(Ticket.status.in_(("new", "open"))))).all()
        moved = [r.id for r in rows if policy.state(
            now, channel=r.channel, priority=r.priority, queue=r.queue, first_response_due=r.first_response_due,
            resolution_due=r.resolution_due, first_response_at=r.first_response_at) != r.sla_state]
        if not moved:
            return []
        return await db.retried(lambda: self._escalate(moved, now))

    async def _escalate(self, ticket_ids: list[int], now: float) -> list[sla.Escalated]:
        policy, out = self.store.policy.sla, []
        async with self.store.writing() as s:
            fresh = (await s.execute(select(Ticket).where(Ticket.id.in_(ticket_ids), Ticket.status.in_(("new", "open")))
                                     .order_by(Ticket.id).with_for_update())).scalars().all()
            for ticket in fresh:  # read again in the write: a person may have changed it meanwhile
                new = policy.state(now, channel=ticket.channel, priority=ticket.priority, queue=ticket.queue,
                                   first_response_due=ticket.first_response_due, resolution_due=ticket.resolution_due,
                                   first_response_at=ticket.first_response_at)
                if new == ticket.sla_state:
                    continue
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="sla", old=ticket.sla_state,
                                   new=new))
                got_worse, ticket.sla_state = sla.worse(new, ticket.sla_state), new
                if got_worse:
                    out.append(_escalated(s, ticket, policy.actions(new, ticket.channel, ticket.priority), policy, now))
            await s.flush()
            self.store.writes += 1
        return out

    async def request_callback(self, call_id: str, request_id: str) -> None:
        """A caller asked to be called back (queue callback request `request_id`): the ticket of
        voice call `call_id` is flagged `callback_requested`, in its history (tried again if the
        call's own steps change the ticket meanwhile). Nothing if the store has no such call."""
        await db.retried(lambda: self._request_callback(call_id, request_id))

    async def _request_callback(self, call_id: str, request_id: str) -> None:
        async with self.store.writing() as s:
            await flag_callback_request(s, call_id, request_id, self.store.clock())
            self.store.writes += 1


async def flag_callback_request(s: AsyncSession, call_id: str, request_id: str, now: float) -> None:
    """In transaction `s`: the ticket of voice call `call_id` is flagged `callback_requested` (once),
    `request_id` in its history. Nothing if there is no such call."""
    ticket_id = (await s.execute(select(Interaction.ticket_id).where(
        Interaction.channel == "voice", Interaction.call_id == call_id))).scalar_one_or_none()
    if ticket_id is None:
        return
    ticket = await s.get(Ticket, ticket_id)
    if ticket is not None and not ticket.callback_requested:
        ticket.callback_requested = True
        awaits(ticket, now)  # a caller waits to be called back: work for someone
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="callback_requested", old="",
                           new=request_id))


def _escalated(s: AsyncSession, ticket: Ticket, actions: sla.Actions, policy: SlaPolicy, now: float) -> sla.Escalated:
    """Apply the escalation `actions` to `ticket`, whose SLA state just got worse, each change in
    its history (actor "system"); what was done."""
    raised_to = reassigned_from = ""
    if actions.raise_priority and (up := sla.raised(ticket.priority)) != ticket.priority:
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="priority", old=ticket.priority, new=up))
        ticket.priority = raised_to = up
        set_due(ticket, policy)  # the higher priority's (shorter) targets
    if actions.reassign and ticket.assignee:
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="assignee", old=ticket.assignee, new=""))
        reassigned_from, ticket.assignee = ticket.assignee, ""
    return sla.Escalated(ticket.id, ticket.queue, ticket.sla_state, actions.notify, raised_to, reassigned_from)


@dataclass(frozen=True)
class _Change:
    """What a person asked to change on a ticket (checked already), applied to the fresh row at
    each try."""

    status: str | None
    priority: str | None
    assignee: str | None
    note: str | None
    add_tags: list[str]
    remove_tags: set[str]
    queue: str | None = None

    def apply(self, ticket: Ticket, store: Store, now: float) -> list[tuple[str, str, str]]:
        """Change `ticket`; returns what changed: [(field, old, new)]. The SLA due times follow a
        change of priority or queue, and a ticket leaving `pending` (pending_clock). Errors:
        TicketRuleError `invalid-transition`, TicketValueError `bad-status`."""
        changes: list[tuple[str, str, str]] = []
        policy = store.policy.sla
        due_moved = False
        if self.status is not None and self.status != ticket.status:
            rules.check_transition(ticket.status, self.status)
            changes.append(("status", ticket.status, self.status))
            due_moved = pending_clock(ticket, self.status, policy, now)
            ticket.status = self.status
            ticket.resolved_at = now if self.status in ("resolved", "closed") else None
            if self.status in ("pending", "resolved", "closed"):  # answered, or waiting on the customer now
                ticket.awaiting_since = None
        if self.priority is not None and self.priority != ticket.priority:
            changes.append(("priority", ticket.priority, self.priority))
            ticket.priority = self.priority
            due_moved = True
        if self.queue is not None and self.queue != ticket.queue:
            changes.append(("queue", ticket.queue, self.queue))
            ticket.queue = self.queue
            due_moved = True
        if due_moved:
            set_due(ticket, policy)
        if self.assignee is not None and self.assignee != ticket.assignee:
            changes.append(("assignee", ticket.assignee, self.assignee))
            ticket.assignee = self.assignee
        tags = [t for t in ticket.tags if t not in self.remove_tags] + [t for t in self.add_tags if t not in ticket.tags]
        if tags != list(ticket.tags):
            changes.append(("tags", ",".join(ticket.tags), ",".join(tags)))
            ticket.tags = tags
        if self.note is not None:
            changes.append(("note", "", self.note))
        return changes


def pending_clock(ticket: Ticket, status: str, policy: SlaPolicy, now: float) -> bool:
    """Stop or restart `ticket`'s SLA clock as it moves to `status` (call it before setting the
    status): entering `pending` (waiting on the customer) notes `pending_since`; leaving it adds
    the business seconds spent pending (its queue's calendar) to `sla_paused_seconds`. Returns
    True when the due times must be computed again (set_due)."""
    if status == "pending" and ticket.status != "pending":
        ticket.pending_since = now
        return False
    if ticket.status == "pending" and status != "pending":
        since, ticket.pending_since = ticket.pending_since, None
        if since is not None:  # (a ticket made pending before the clock was kept: nothing to add)
            ticket.sla_paused_seconds = (ticket.sla_paused_seconds or 0.0) + sla.between(
                since, now, policy.schedule(ticket.queue or ""))
            return True
    return False
