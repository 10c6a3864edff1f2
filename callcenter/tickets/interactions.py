"""Calls in the store: one interaction per call and channel (its voice part, its voicemail), written
step by step as the call goes (started, queued, answered, ended), on the ticket the caller's
customer is given (tickets.choose_ticket), and read back (one call, the recent ones, which are
known). A replayed step changes nothing twice: one interaction per Linkedid and channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.tickets import customers
from callcenter.tickets import db
from callcenter.tickets import tickets
from callcenter.tickets.inputs import is_id
from callcenter.tickets.rows import InteractionRow, interaction_row
from callcenter.tickets.schema import Customer, Interaction, Ticket
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

STEPS = ("started", "queued", "answered", "ended")  # a call's steps, in the order they only move forward


async def by_call(s: AsyncSession, channel: str, call_id: str) -> Interaction | None:
    """The interaction of call `call_id` (its Linkedid) on `channel` (voice, voicemail), or None."""
    return (await s.execute(select(Interaction).where(Interaction.channel == channel,
                                                      Interaction.call_id == call_id))).scalar_one_or_none()


@on_store_loop
class Calls:
    """The calls of one store: each business step written in one transaction, and read back."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def step(self, call_id: str, *, step: str, caller_id: str = "", caller_name: str = "", did: str = "",
                   topic: str = "general", direction: str = "inbound", callback_of: str = "",
                   started_at: float | None = None, values: Mapping[str, Any] | None = None,
                   channel: str = "voice", first_response: bool = False,
                   ticket_id: int | None = None) -> InteractionRow:
        """Write one business step of a call (started, queued, answered, ended) in one transaction
        (step_in). A replayed step racing its first write finds the row the other made
        (IntegrityError); a chat or message of the same customer may move the ticket's version
        (StaleDataError): both are tried again."""
        contact = NewCall(caller_id, caller_name, did, topic, direction, callback_of, channel, ticket_id, started_at)
        values = dict(values or {})

        async def write() -> InteractionRow:
            async with self.store.writing() as s:
                row = await step_in(s, self.store, call_id, step, contact, values, first_response, self.store.clock())
                self.store.writes += 1
                return interaction_row(row)
        return await db.retried(write)

    async def get(self, call_id: str) -> InteractionRow | None:
        """The voice interaction of call `call_id` (its Linkedid), or None."""
        async with self.store.session() as s:
            row = await by_call(s, "voice", call_id)
            return None if row is None else interaction_row(row)

    async def recent(self, limit: int = 100) -> list[InteractionRow]:
        """Calls (voice interactions), newest first."""
        async with self.store.session() as s:
            rows = (await s.execute(select(Interaction).where(Interaction.channel == "voice")
                                    .order_by(Interaction.started_at.desc()).limit(limit))).scalars().all()
            return [interaction_row(i) for i in rows]

    async def known(self, call_ids: Sequence[str]) -> set[str]:
        """Which of these Linkedids are in the store already (reconciliation)."""
        if not call_ids:
            return set()
        async with self.store.session() as s:
            rows = (await s.execute(select(Interaction.call_id).where(Interaction.channel == "voice",
                                                                      Interaction.call_id.in_(list(call_ids)))))
            return set(rows.scalars().all())

    async def counts(self) -> dict[str, int]:
        """Rows in the store: {"customers": n, "tickets": n, "interactions": n}."""
        async with self.store.session() as s:
            out = {}
            for model in (Customer, Ticket, Interaction):
                out[model.__tablename__] = int((await s.execute(select(func.count()).select_from(model))).scalar_one())
            return out


@dataclass(frozen=True)
class NewCall:
    """Who a call's first step says it is from and what it is about (what a new interaction needs)."""

    caller_id: str
    caller_name: str
    did: str
    topic: str
    direction: str
    callback_of: str
    channel: str
    ticket_id: int | None
    started_at: float | None = None


async def step_in(s: AsyncSession, store: Store, call_id: str, step: str, contact: NewCall, values: Mapping[str, Any],
                  first_response: bool, now: float, *, started_at: float | None = None) -> Interaction:
    """In transaction `s`: one business step of a call (started, queued, answered, ended). The
    interaction is created at its first step (customer looked up or created by caller ID, ticket
    chosen) and updated at the next ones; a replayed step changes nothing twice (one interaction
    per Linkedid and channel). A callback joins its original call's ticket; a click-to-call
    (`contact.ticket_id`) the ticket it was made on, unless that one is closed. `values`: columns
    of the interaction to set (rows.InteractionRow's keys); `first_response` stamps the ticket's
    first response (an agent answered). Returns the interaction."""
    row = await by_call(s, contact.channel, call_id)
    if row is None:
        row = await _new_call(s, store, call_id, contact, started_at or contact.started_at or now, now)
    if step in STEPS and STEPS.index(step) > STEPS.index(row.step if row.step in STEPS else "started"):
        row.step = step
    for key, value in values.items():
        setattr(row, key, value)
    ticket = await s.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    if ticket is not None:
        ticket.updated_at = now
        if first_response and ticket.first_response_at is None:
            ticket.first_response_at = now
    await s.flush()
    return row


async def _new_call(s: AsyncSession, store: Store, call_id: str, contact: NewCall, started_at: float,
                    now: float) -> Interaction:
    customer, ticket = await _ticket_of(s, store, call_id, contact, now)
    row = Interaction(ticket_id=ticket.id, customer_id=customer.id, channel=contact.channel,
                      direction=contact.direction, step="started", started_at=started_at,
                      address=contact.caller_id[:320], name=contact.caller_name[:200], call_id=call_id,
                      did=contact.did, callback_of=contact.callback_of, ivr_path=[], variables={})
    s.add(row)
    await s.flush()
    return row


async def _ticket_of(s: AsyncSession, store: Store, call_id: str, contact: NewCall, now: float
                     ) -> tuple[Customer, Ticket]:
    """The customer and the ticket a new call joins."""
    channel, callback_of = contact.channel, contact.callback_of
    # A voicemail joins its call's ticket; a callback its original call's.
    original = await by_call(s, "voice", callback_of or call_id) if callback_of or channel != "voice" else None
    chosen = await s.get(Ticket, contact.ticket_id) if contact.ticket_id is not None and is_id(contact.ticket_id) \
        else None
    if chosen is not None and chosen.status != "closed":
        return await customers.current(s, chosen.customer_id), chosen
    if original is not None and original.ticket_id is not None:
        customer = await customers.current(s, original.customer_id)
        joined = await s.get(Ticket, original.ticket_id)
        assert joined is not None
        if joined.status != "closed":
            return customer, joined
        return customer, await tickets.choose_ticket(s, store, customer, topic=joined.topic, channel=channel,
                                                     subject=joined.subject, now=now)
    customer = await customers.for_contact(s, "phone", contact.caller_id, name=contact.caller_name,
                                           region=store.policy.default_region, now=now)
    what = {"voice": "Call", "voicemail": "Voicemail"}.get(channel, channel)
    who = contact.caller_name or contact.caller_id or "a withheld number"
    subject = f"{what} from {who}" + (f" to {contact.did}" if contact.did else "")
    return customer, await tickets.choose_ticket(s, store, customer, topic=contact.topic, channel=channel,
                                                 subject=subject, now=now)
