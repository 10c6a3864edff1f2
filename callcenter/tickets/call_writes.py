"""A batch of calls written in one transaction (tickets/call_batch.py folds the events).

The common case — an inbound call from the trunk that now counts — is written in bulk: its
customer found by phone identity or created, its ticket chosen by the same rules every contact
follows (tickets.choose_ticket: the customer's open ticket on the topic touched within
`reopen_days`, reopened if resolved, else a new one; rules.joinable; sla.py's due times), its
interaction created, all with a few statements for the whole batch. Later steps update the
interaction and stamp the ticket with one statement per set of columns. The rare cases (a
callback, a click-to-call made on a ticket, a voicemail, a callback request) take the per-contact
path (interactions.step_in, jobs.queue_job, tickets.flag_callback_request) in the same
transaction. Measured on SQLite (bench/store.py): one transaction per step wrote 95 steps/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.tickets import customers as customer_rules
from callcenter.tickets import db, identity, interactions, jobs, rules, tickets
from callcenter.tickets.call_batch import STEPS, Batch, CallChange, Contact
from callcenter.tickets.inputs import MAX_SHORT
from callcenter.tickets.rows import InteractionRow, interaction_row
from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, Ticket, TicketChange
from callcenter.tickets.runner import on_store_loop
from callcenter.tickets.store import Store

SHORT_CALLS = ("file", "none")  # store.short_calls: a known customer's short call on their file, or nothing


@dataclass
class Written:
    """What a batch wrote: the interactions of the calls that ended (for their follow-ups) and the
    transcription jobs queued."""

    ended: dict[str, InteractionRow] = field(default_factory=dict)
    jobs: list[int] = field(default_factory=list)
    interactions: int = 0  # created


@dataclass(frozen=True)
class _Known:
    interaction_id: int
    ticket_id: int | None
    step: str


async def write_batch(s: AsyncSession, store: Store, batch: Batch, *, short_calls: str = "file",
                      language: str = "auto") -> Written:
    """Write `batch` in transaction `s`. `short_calls`: SHORT_CALLS; `language`: of new voicemails'
    transcription jobs. Returns what was written."""
    now, out = store.clock(), Written()
    counting = [c for c in batch.calls if c.counts]
    known = await _known(s, [c.call_id for c in batch.calls])
    new = [c for c in counting if c.call_id not in known and c.contact is not None]
    common = [c for c in new if c.contact is not None and _common(c.contact)]
    created = await _create(s, store, common, now)
    for change in new:
        if change not in common:  # a callback or a click-to-call: the per-contact path
            row = await interactions.step_in(s, store, change.call_id, "started", _contact(change), {}, False, now)
            created[change.call_id] = _Known(row.id, row.ticket_id, row.step)
    out.interactions = len(created)
    known.update(created)
    await _update(s, [(c, known[c.call_id]) for c in counting if c.call_id in known], now)
    s.expire_all()  # the tickets moved under the session (version + 1): the per-contact paths below read them anew
    await _work(s, [(c, known[c.call_id]) for c in counting if c.call_id in known], now)
    await _short(s, store, [c for c in batch.calls if not c.counts and c.ended is not None], short_calls, now)
    for vm in batch.voicemails:
        contact = interactions.NewCall(vm.caller_id, "", vm.did, vm.topic, "inbound", "", "voicemail", None)
        message = await interactions.step_in(s, store, vm.call_id, "ended", contact,
                                             {"ended_at": vm.at, "recording_path": vm.path,
                                              "recording_seconds": vm.seconds}, False, now, started_at=vm.at - vm.seconds)
        ticket = await s.get(Ticket, message.ticket_id) if message.ticket_id is not None and not vm.empty else None
        if ticket is not None:
            tickets.awaits(ticket, now)  # a message to call back: work for someone
        if vm.empty:  # nothing to transcribe, nobody to call back: listed as an empty voicemail
            await jobs.mark_empty(s, vm.call_id, vm.empty, now)
        elif (job := await jobs.queue_job(s, vm.call_id, language, now)) is not None:
            out.jobs.append(job)
    for call_id, request_id in batch.callbacks:
        await tickets.flag_callback_request(s, call_id, request_id, now)
    ended = [known[c.call_id].interaction_id for c in counting if c.ended is not None and c.call_id in known]
    if ended:
        rows = (await s.execute(select(Interaction).where(Interaction.id.in_(ended)))).scalars().all()
        out.ended = {r.call_id: interaction_row(r) for r in rows}
    return out


def _common(contact: Contact) -> bool:
    return contact.direction == "inbound" and not contact.callback_of and contact.ticket_id is None


def _contact(change: CallChange) -> interactions.NewCall:
    c = change.contact
    assert c is not None
    return interactions.NewCall(c.caller_id, c.caller_name, c.did, c.topic, c.direction, c.callback_of, "voice",
                                c.ticket_id, started_at=c.started_at)


async def _known(s: AsyncSession, call_ids: Sequence[str]) -> dict[str, _Known]:
    """The voice interactions these Linkedids have already (a replay, a call adopted after a restart)."""
    if not call_ids:
        return {}
    rows = await s.execute(select(Interaction.call_id, Interaction.id, Interaction.ticket_id, Interaction.step)
                           .where(Interaction.channel == "voice", Interaction.call_id.in_(list(call_ids))))
    return {r.call_id: _Known(r.id, r.ticket_id, r.step) for r in rows}


async def _customers(s: AsyncSession, store: Store, calls: Sequence[CallChange], now: float) -> dict[str, int]:
    """Each call's customer (call id → customer id): found by phone identity (through merges), else
    created with that identity; a withheld caller ID gets a new unidentified customer each."""
    region = store.policy.default_region
    idents = {c.call_id: identity.caller(c.contact.caller_id, region) if c.contact else None for c in calls}
    by_value = await _holders(s, {i.value for i in idents.values() if i is not None})
    fresh: list[tuple[str, identity.Identity | None, str]] = []  # (call id, identity, name)
    named: dict[str, str] = {}
    for change in calls:
        ident, name = idents[change.call_id], (change.contact.caller_name if change.contact else "")[:MAX_SHORT]
        if ident is not None and ident.value in by_value:
            named.setdefault(ident.value, name)
        elif ident is None or ident.value not in {f[1].value for f in fresh if f[1] is not None}:
            fresh.append((change.call_id, ident, name))
    new_ids = await db.insert_returning_ids(s, Customer, [
        {"name": name, "unidentified": ident is None, "tags": [], "created_at": now, "updated_at": now}
        for _, ident, name in fresh])
    out: dict[str, int] = {}
    identity_rows = []
    for (call_id, ident, _), customer_id in zip(fresh, new_ids):
        out[call_id] = customer_id
        if ident is not None:
            by_value[ident.value] = customer_id
            identity_rows.append({"customer_id": customer_id, "kind": ident.kind, "value": ident.value,
                                  "raw": ident.raw[:320], "valid": ident.valid, "created_at": now})
    if identity_rows:
        await s.execute(insert(CustomerIdentity), identity_rows)
    await _name_the_nameless(s, [(by_value[v], n) for v, n in named.items() if n], now)
    for call_id, ident in idents.items():
        if ident is not None:
            out[call_id] = by_value[ident.value]
    return out


async def _holders(s: AsyncSession, numbers: set[str]) -> dict[str, int]:
    """The customer holding each of these E.164 numbers (number → customer id; through a merge to
    the customer it lives on now), for those the store has."""
    if not numbers:
        return {}
    rows = await s.execute(select(CustomerIdentity.value, CustomerIdentity.customer_id, Customer.merged_into)
                           .join(Customer, Customer.id == CustomerIdentity.customer_id)
                           .where(CustomerIdentity.kind == "phone", CustomerIdentity.value.in_(sorted(numbers))))
    held: dict[str, int] = {}
    for value, customer_id, merged_into in rows:
        held[value] = customer_id if merged_into is None else \
            (await customer_rules.current(s, customer_id)).id  # a merged customer: rare, followed
    return held


async def _name_the_nameless(s: AsyncSession, names: Sequence[tuple[int, str]], now: float) -> None:
    """A known customer who has no name takes the one the caller ID sent (as a single contact does)."""
    if names:
        table = cast(Table, Customer.__table__)
        await s.execute(update(table).where(table.c.id == bindparam("cid"), table.c.name == "")
                        .values(name=bindparam("new_name"), updated_at=now),
                        [{"cid": cid, "new_name": name} for cid, name in names])


async def _create(s: AsyncSession, store: Store, calls: Sequence[CallChange], now: float) -> dict[str, _Known]:
    """Create the interactions of these common calls (and their customers and tickets)."""
    if not calls:
        return {}
    customer_of = await _customers(s, store, calls, now)
    ticket_of = await _tickets(s, store, calls, customer_of, now)
    rows = []
    for change in calls:
        c = change.contact
        assert c is not None
        rows.append({"ticket_id": ticket_of[change.call_id], "customer_id": customer_of[change.call_id],
                     "channel": "voice", "direction": c.direction, "step": "started", "started_at": c.started_at,
                     "address": c.caller_id[:320], "name": c.caller_name[:200], "call_id": change.call_id,
                     "did": c.did, "callback_of": c.callback_of, "ivr_path": [], "variables": {}})
    ids = await db.insert_returning_ids(s, Interaction, rows)
    return {change.call_id: _Known(i, ticket_of[change.call_id], "started") for change, i in zip(calls, ids)}


async def _tickets(s: AsyncSession, store: Store, calls: Sequence[CallChange], customer_of: dict[str, int],
                   now: float) -> dict[str, int]:
    """Each call's ticket (tickets.choose_ticket's rules, for the whole batch at once)."""
    ids = sorted(set(customer_of.values()))
    rows = await s.execute(select(Customer.id, Customer.unidentified).where(Customer.id.in_(ids))
                           .order_by(Customer.id).with_for_update(skip_locked=False) if not store.sqlite
                           else select(Customer.id, Customer.unidentified).where(Customer.id.in_(ids)))
    unidentified = {cid for cid, flag in rows if flag}
    latest: dict[tuple[int, str], Ticket] = {}
    candidates = await s.execute(select(Ticket).where(Ticket.customer_id.in_(ids), Ticket.status != "closed")
                                 .order_by(Ticket.updated_at))
    for ticket in candidates.scalars():
        latest[(ticket.customer_id, ticket.topic)] = ticket  # the last one touched, per topic
    chosen: dict[tuple[int, str], int] = {}  # (customer, topic) → the ticket its calls of this batch join
    out: dict[str, int] = {}
    new: list[tuple[tuple[int, str], Contact]] = []  # the tickets to open, one per key (or per withheld call)
    waiting: dict[str, int] = {}  # call id → its index in `new`
    opened: dict[tuple[int, str], int] = {}
    for change in calls:
        c = change.contact
        assert c is not None
        key = (customer_of[change.call_id], c.topic)
        last = latest.get(key)
        if key in chosen:
            out[change.call_id] = chosen[key]
        elif key in opened:
            waiting[change.call_id] = opened[key]
        elif key[0] not in unidentified and last is not None and rules.joinable(
                last.status, last.topic, last.updated_at, want_topic=c.topic, now=now,
                reopen_days=store.policy.reopen_days):
            tickets.reopen(s, last, now, store.policy.sla)
            last.updated_at = now
            out[change.call_id] = chosen[key] = last.id
        else:
            waiting[change.call_id] = len(new)
            if key[0] not in unidentified:  # an unidentified customer's next call gets a ticket of its own
                opened[key] = len(new)
            new.append((key, c))
    subjects = [_subject(c) for _, c in new]
    fresh: list[dict[str, Any]] = [
        {"customer_id": key[0], "subject": subject, "topic": key[1], "status": "new", "priority": "normal",
         "assignee": "", "tags": [], "queue": key[1][:64], "channel": "voice", "created_at": now,
         "updated_at": now} for (key, _), subject in zip(new, subjects)]
    for row in fresh:  # tickets.set_due's: the voice targets, in the calendar of the queue that works it
        row["first_response_due"], row["resolution_due"] = tickets.due_times(
            store.policy.sla, row["channel"], row["priority"], now, row["queue"])
    new_ids = await db.insert_returning_ids(s, Ticket, fresh)
    for call_id, index in waiting.items():
        out[call_id] = new_ids[index]
    if new_ids:
        await s.execute(insert(TicketChange), [{"ticket_id": ticket_id, "at": now, "actor": "system", "field": "created",
                                                "old": "", "new": subject} for ticket_id, subject in zip(new_ids, subjects)])
    await s.flush()
    return out


def _subject(c: Contact) -> str:
    who = c.caller_name or c.caller_id or "a withheld number"
    return (f"Call from {who}" + (f" to {c.did}" if c.did else ""))[:300]


async def _update(s: AsyncSession, calls: Sequence[tuple[CallChange, _Known]], now: float) -> None:
    """Each call's step (forward only) and columns; its ticket touched (first response stamped)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change, known in calls:
        values = dict(change.values)
        if STEPS.index(change.step) > STEPS.index(known.step if known.step in STEPS else "started"):
            values["step"] = change.step
        if values:
            groups.setdefault(tuple(sorted(values)), []).append({"iid": known.interaction_id, **values})
    for columns, rows in groups.items():
        table = cast(Table, Interaction.__table__)  # Core: one UPDATE, many parameter sets (not ORM bulk by key)
        await s.execute(update(table).where(table.c.id == bindparam("iid"))
                        .values({c: bindparam(c) for c in columns}), rows)
    touched: dict[int, bool] = {}
    for change, known in calls:
        if known.ticket_id is not None:
            touched[known.ticket_id] = touched.get(known.ticket_id, False) or change.first_response
    await tickets.touch_many(s, touched, now)


async def _work(s: AsyncSession, calls: Sequence[tuple[CallChange, _Known]], now: float) -> None:
    """What calls change in their tickets as work (callcenter/inbox/): a call an agent answered
    assigns its ticket to that agent if nobody had it, opens a new one, and answers what waited; a
    caller who gave up in the queue waits to be called back (a missed call is a work item)."""
    answered: dict[int, str] = {}
    missed: set[int] = set()
    for change, known in calls:
        if known.ticket_id is None:
            continue
        agent = str(change.values.get("agent") or "")
        if change.first_response and agent:
            answered[known.ticket_id] = agent
        elif change.ended is not None and change.ended.abandoned and not change.ended.agent:
            missed.add(known.ticket_id)
    ids = sorted(set(answered) | missed)
    if not ids:
        return
    for ticket in (await s.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars():
        if ticket.id in answered:
            agent = answered[ticket.id]
            if not ticket.assignee:
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor=agent, field="assignee", old="", new=agent))
                ticket.assignee = agent
            if ticket.status == "new":
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor=agent, field="status", old="new", new="open"))
                ticket.status = "open"
            tickets.answered(ticket, now)
        elif ticket.status in rules.OPEN_STATUSES:
            tickets.awaits(ticket, now)
    await s.flush()


async def _short(s: AsyncSession, store: Store, calls: Sequence[CallChange], short_calls: str, now: float) -> None:
    """Short calls (never reached a queue, an agent or a voicemail): with `file`, a known customer's
    is kept on their file (no ticket); nobody is created for one."""
    if short_calls != "file" or not calls:
        return
    region, values = store.policy.default_region, {}
    for change in calls:
        ident = identity.caller(change.contact.caller_id, region) if change.contact else None
        if ident is not None:
            values[change.call_id] = ident.value
    if not values:
        return
    customer_of = await _holders(s, set(values.values()))
    fresh = []
    for change in calls:
        holder = customer_of.get(values.get(change.call_id, ""))
        if holder is None or change.contact is None:
            continue
        c = change.contact
        fresh.append({"ticket_id": None, "customer_id": holder, "channel": "voice", "direction": c.direction,
                      "step": "ended", "started_at": c.started_at, "address": c.caller_id[:320],
                      "name": c.caller_name[:200], "call_id": change.call_id, "did": c.did,
                      "callback_of": c.callback_of, **change.values})
    if fresh:
        await s.execute(insert(Interaction), fresh)


@on_store_loop
class CallWrites:
    """Batches of calls written into one store (the call log's writes)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def write(self, batch: Batch, *, short_calls: str = "file", language: str = "auto") -> Written:
        """Write a batch of calls in one transaction, tried again as a whole when it lost a race
        (db.retried). Returns what it wrote."""
        async def attempt() -> Written:
            async with self.store.writing() as s:
                written = await write_batch(s, self.store, batch, short_calls=short_calls, language=language)
                self.store.writes += 1
                return written
        return await db.retried(attempt)
