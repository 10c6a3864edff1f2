"""Text messages in the store (SMS and email; web chats are chats.py): one interaction per message
on the customer's ticket, found by the same normalized identities as calls (a phone number that
texts is the customer who called), a provider's message written once however often it is re-sent,
opt-out kept per number. Errors: NotFound `unknown-ticket`, Conflict `no-address`, Refused
`bad-text`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.core.errors import Conflict
from callcenter.tickets import customers
from callcenter.tickets import db
from callcenter.tickets import identity
from callcenter.tickets import search
from callcenter.tickets import terms
from callcenter.tickets import tickets
from callcenter.tickets.inputs import MAX_TEXT, checked_text, is_id
from callcenter.tickets.rows import EmailThread, InteractionRow, interaction_row
from callcenter.tickets.schema import CustomerIdentity, Interaction, Ticket, TicketChange
from callcenter.tickets.store import Store
from callcenter.tickets.tickets import Tickets, unknown_ticket
from callcenter.tickets.runner import on_store_loop

SUBJECT = {"sms": "SMS from {who}", "email": "Email from {who}", "chat": "Chat with {who}"}


@on_store_loop
class Messages:
    """The text messages of one store. `tickets`: the same store's tickets (what a channel reads
    of the ticket it answers)."""

    def __init__(self, store: Store, tickets: Tickets) -> None:
        self.store, self.tickets = store, tickets

    async def inbound(self, channel: str, address: str, body: str, *, external_id: str = "", topic: str = "general",
                      to: str = "", queue: str = "") -> tuple[InteractionRow, bool]:
        """A message received: (its interaction, True if new; False for a provider's retry of one
        already stored). The sender's customer is found or created by identity; the message joins
        their ticket on `topic` per the store's policy (reopening a resolved or pending one; a new
        ticket is worked by `queue`), where it waits for an answer (a work item). Two messages of
        a new sender at once: the second finds the customer the first created (retried)."""
        body = checked_text(body, "message", MAX_TEXT)
        words = terms.doc_terms("", body)  # before the transaction: no writer waits on segmenting
        return await db.retried(lambda: self._inbound(channel, address, body, words, external_id, topic, to, queue))

    async def _inbound(self, channel: str, address: str, body: str, words: list[str], external_id: str, topic: str,
                       to: str, queue: str) -> tuple[InteractionRow, bool]:
        now = self.store.clock()
        async with self.store.writing() as s:
            if external_id:
                existing = (await s.execute(select(Interaction).where(
                    Interaction.channel == channel, Interaction.external_id == external_id))).scalars().first()
                if existing is not None:
                    return interaction_row(existing), False
            kind = "phone" if channel == "sms" else "email" if channel == "email" else "chat"
            customer = await customers.for_contact(s, kind, address, name="", region=self.store.policy.default_region,
                                                   now=now)
            ticket = await tickets.choose_ticket(s, self.store, customer, topic=topic, channel=channel,
                                                 subject=SUBJECT.get(channel, "{who}").format(who=address[:80]), now=now,
                                                 queue=queue)
            tickets.awaits(ticket, now)
            row = Interaction(ticket_id=ticket.id, customer_id=customer.id, channel=channel, direction="inbound",
                              step="ended", started_at=now, ended_at=now, address=address[:320], did=to[:32],
                              body=body, external_id=external_id[:100], delivery_status="received",
                              ivr_path=[], variables={})
            s.add(row)
            ticket.updated_at = now
            await s.flush()
            await search.index(s, self.store, [search.Doc(row.id, ticket.id, words)])
            self.store.writes += 1
            return interaction_row(row), True

    async def inbound_email(self, **fields: Any) -> tuple[InteractionRow, bool]:
        """`_inbound_email`, retried when a concurrent writer created the same identity first."""
        words = terms.doc_terms(str(fields.get("subject", ""))[:300], str(fields.get("text", "")))
        return await db.retried(lambda: self._inbound_email(words=words, **fields))

    async def _inbound_email(self, *, sender: str, name: str, subject: str, text: str, message_id: str,
                             thread_ids: list[str], ticket_ref: int | None, variables: dict[str, Any],
                             words: list[str], topic: str = "general",
                             queue: str = "") -> tuple[InteractionRow, bool]:
        """An email received: (its interaction, True if new). Its ticket: the one of the message it
        answers (In-Reply-To, then any id of References, RFC 5322 §3.6.4), else the ticket its
        subject names (`[#123]`, if not closed and the sender is one of its customer's addresses),
        else a new ticket of the sender's customer (worked by `queue`). A message already stored
        (the same Message-ID) is not stored again. A person's message reopens a resolved or pending
        ticket and waits for an answer; an automatic one (`variables["automatic"]`: an
        out-of-office, a bounce, RFC 3834) is kept on the ticket and changes nothing."""
        text = checked_text(text, "message", MAX_TEXT * 10)
        now = self.store.clock()
        async with self.store.writing() as s:
            if message_id:
                existing = (await s.execute(select(Interaction).where(
                    Interaction.channel == "email", Interaction.external_id == message_id))).scalars().first()
                if existing is not None:
                    return interaction_row(existing), False
            ticket = None
            if thread_ids:
                earlier = (await s.execute(select(Interaction).where(
                    Interaction.channel == "email", Interaction.external_id.in_(thread_ids[:50]))
                    .order_by(Interaction.id.desc()).limit(1))).scalars().first()
                ticket = await s.get(Ticket, earlier.ticket_id) if earlier is not None else None
            if ticket is None and ticket_ref is not None and is_id(ticket_ref):
                ticket = await s.get(Ticket, ticket_ref)
                # A ticket number is easy to guess: the subject joins only mail of the ticket's own
                # customer, else a stranger's mail would become where the agent's answer goes.
                if ticket is not None and not await self._is_address_of(s, ticket.customer_id, sender):
                    ticket = None
            if ticket is not None and ticket.status == "closed":
                ticket = None  # a closed ticket stays closed: the answer to it starts a new one
            if ticket is None:
                customer = await customers.for_contact(s, "email", sender, name=name,
                                                       region=self.store.policy.default_region, now=now)
                ticket = await tickets.new_ticket(s, self.store, customer, topic=topic, channel="email",
                                                  subject=subject or f"Email from {sender}", now=now, queue=queue)
            elif not variables.get("automatic"):
                tickets.reopen(s, ticket, now, self.store.policy.sla)
            if not variables.get("automatic"):
                tickets.awaits(ticket, now)
            row = Interaction(ticket_id=ticket.id, customer_id=ticket.customer_id, channel="email",
                              direction="inbound", step="ended", started_at=now, ended_at=now, address=sender[:320],
                              name=name[:200], subject=subject[:300], body=text, external_id=message_id[:100],
                              delivery_status="received", ivr_path=[], variables=variables)
            s.add(row)
            ticket.updated_at = now
            await s.flush()
            await search.index(s, self.store, [search.Doc(row.id, ticket.id, words)])
            self.store.writes += 1
            return interaction_row(row), True

    async def outbound(self, ticket_id: int, channel: str, to: str, body: str, *, actor: str, external_id: str = "",
                       status: str = "sent", subject: str = "",
                       variables: dict[str, Any] | None = None) -> InteractionRow:
        """A message we sent, on `ticket_id` (the ticket's first response is stamped; the actor is
        in its history). Errors: NotFound `unknown-ticket`."""
        words = terms.doc_terms(subject[:300], body)
        return await db.retried(lambda: self._outbound(ticket_id, channel, to, body, words, actor, external_id, status,
                                                       subject, variables))

    async def _outbound(self, ticket_id: int, channel: str, to: str, body: str, words: list[str], actor: str,
                        external_id: str, status: str, subject: str, variables: dict[str, Any] | None) -> InteractionRow:
        now = self.store.clock()
        async with self.store.writing() as s:
            ticket = await s.get(Ticket, ticket_id) if is_id(ticket_id) else None
            if ticket is None:
                raise unknown_ticket(ticket_id)
            row = Interaction(ticket_id=ticket.id, customer_id=ticket.customer_id, channel=channel,
                              direction="outbound", step="ended", started_at=now, ended_at=now, address=to[:320],
                              agent=actor[:64], body=body, external_id=external_id[:100], delivery_status=status,
                              subject=subject[:300], ivr_path=[], variables=dict(variables or {}))
            s.add(row)
            ticket.updated_at = now
            if not (variables or {}).get("automatic"):  # an auto-acknowledgement is no answer
                tickets.answered(ticket, now)
            s.add(TicketChange(ticket_id=ticket.id, at=now, actor=actor, field=f"reply:{channel}", old="",
                               new=body[:200]))
            await s.flush()
            await search.index(s, self.store, [search.Doc(row.id, ticket.id, words)])
            self.store.writes += 1
            return interaction_row(row)

    async def email_thread(self, ticket_id: int) -> EmailThread:
        """What an email answer on a ticket needs: the address to write to, the newest message of
        the thread (its Message-ID and References), the subject. Errors: NotFound `unknown-ticket`,
        Conflict `no-address`."""
        async with self.store.session() as s:
            ticket = await s.get(Ticket, ticket_id) if is_id(ticket_id) else None
            if ticket is None:
                raise unknown_ticket(ticket_id)
            last = (await s.execute(select(Interaction).where(
                Interaction.ticket_id == ticket_id, Interaction.channel == "email")
                .order_by(Interaction.id.desc()).limit(1))).scalars().first()
            # The newest mail on the ticket from one of its customer's own addresses: anyone else who
            # wrote into the thread (a colleague in copy, a stranger) is not where the answer goes.
            emails = await self._emails_of(s, ticket.customer_id)
            inbound = (await s.execute(select(Interaction).where(
                Interaction.ticket_id == ticket_id, Interaction.channel == "email", Interaction.direction == "inbound",
                Interaction.address.in_(emails or [""])).order_by(Interaction.id.desc()).limit(1))).scalars().first()
            address = inbound.address if inbound is not None else (emails[0] if emails else None)
            if not address:
                raise Conflict("no-address", f"ticket #{ticket_id}'s customer has no email address")
            return {"to": address, "subject": (inbound.subject if inbound is not None else "") or ticket.subject,
                    "in_reply_to": last.external_id if last is not None else "",
                    "references": list((last.variables or {}).get("references", [])) if last is not None else []}

    async def _emails_of(self, s: AsyncSession, customer_id: int) -> list[str]:
        """The customer's email identities (normalized, oldest first), through merges."""
        customer = await customers.current(s, customer_id)
        return list((await s.execute(select(CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer.id, CustomerIdentity.kind == "email")
            .order_by(CustomerIdentity.id))).scalars().all())

    async def _is_address_of(self, s: AsyncSession, customer_id: int, sender: str) -> bool:
        try:
            ident = identity.parse("email", sender, self.store.policy.default_region)
        except identity.IdentityError:
            return False
        return ident is not None and ident.value in await self._emails_of(s, customer_id)

    async def delivery(self, channel: str, external_id: str, status: str) -> InteractionRow | None:
        """A provider's delivery report (queued, sent, delivered, undelivered, failed) for a message
        we sent; None if we know no such message."""
        async with self.store.writing() as s:
            row = (await s.execute(select(Interaction).where(
                Interaction.channel == channel, Interaction.external_id == external_id))).scalars().first()
            if row is None:
                return None
            row.delivery_status = status[:32]
            return interaction_row(row)

    async def phone_of(self, ticket_id: int) -> str:
        """The number to text about a ticket: its customer's first valid phone (E.164). Errors:
        NotFound `unknown-ticket`, Conflict `no-address`."""
        async with self.store.session() as s:
            ticket = await s.get(Ticket, ticket_id) if is_id(ticket_id) else None
            if ticket is None:
                raise unknown_ticket(ticket_id)
            phone = (await s.execute(select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == ticket.customer_id, CustomerIdentity.kind == "phone",
                CustomerIdentity.valid.is_(True)).order_by(CustomerIdentity.id).limit(1))).scalar_one_or_none()
            if phone is None:
                raise Conflict("no-address", f"ticket #{ticket_id}'s customer has no phone number to text")
            return phone

    def _phone(self, number: str) -> identity.Identity | None:
        try:
            return identity.parse("phone", number, self.store.policy.default_region)
        except identity.IdentityError:
            return None

    async def set_opt_out(self, number: str, out: bool) -> bool:
        """STOP (out) or START for a number; True if the number is known (its identity)."""
        ident = self._phone(number)
        if ident is None:
            return False
        async with self.store.writing() as s:
            row = (await s.execute(select(CustomerIdentity).where(
                CustomerIdentity.kind == "phone", CustomerIdentity.value == ident.value))).scalars().first()
            if row is None:
                return False
            row.opted_out_at = self.store.clock() if out else None
            return True

    async def opted_out(self, number: str) -> bool:
        """Did `number` send STOP (and no START since)? False for a number we do not know."""
        ident = self._phone(number)
        if ident is None:
            return False
        async with self.store.session() as s:
            at = (await s.execute(select(CustomerIdentity.opted_out_at).where(
                CustomerIdentity.kind == "phone", CustomerIdentity.value == ident.value))).scalar_one_or_none()
            return at is not None
