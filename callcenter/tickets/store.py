"""The store's operations: customers and identities, tickets, interactions, merges, retention.

Every public method is one transaction. Inputs from outside (caller IDs, names, notes, tags) are
validated here before they reach SQL (bound parameters only, lengths bounded). Returns plain
dicts (JSON-ready) for the API and the CLI. Errors carry their kind (core/errors.py) and an id:
NotFound `unknown-customer`, `unknown-ticket`, `unknown-merge`, `unknown-voicemail`; Conflict
`merge-undone`, `same-customer`, `merge-loop`, `ticket-conflict`, `identity-taken`; TicketRuleError
(RuleBroken) `invalid-transition`; Refused `bad-text`, TicketValueError `bad-priority`, `bad-status`,
IdentityError `invalid-identity`. StoreError (Unavailable) is only a store that cannot be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from pathlib import Path
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from callcenter.core.errors import Conflict, NotFound, Refused
from callcenter.core.text import first_control
from callcenter.tickets import db
from callcenter.tickets import identity
from callcenter.tickets import rules
from callcenter.tickets.schema import (CallbackRequestRow, Customer, CustomerIdentity, Document, Interaction, Merge,
                                       Ticket, TicketChange, TranscriptionJob)

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 50
UPDATE_ATTEMPTS = 20  # optimistic retries of a ticket change that raced another
MAX_TEXT = 10_000  # a note, a body written through the API
MAX_SHORT = 200  # names, tags, assignees
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_MERGE_CHAIN = 100  # customers merged into one another, one after the other
MAX_TAGS = 50


@dataclass(frozen=True)
class StorePolicy:
    """What the config says about the store (config.StoreSettings, resolved)."""

    default_region: str = "US"
    reopen_days: int = 7
    sla: Mapping[str, rules.SlaTarget] = field(default_factory=dict)
    retention_days: Mapping[str, int] = field(default_factory=dict)  # recordings | transcripts | bodies → days
    # The only folders retention may delete files from (Asterisk's recordings and voicemail): a
    # path in the database is never trusted to name a file to delete.
    recording_roots: tuple[Path, ...] = ()


def _text(value: Any, what: str, limit: int = MAX_SHORT, *, empty: bool = True) -> str:
    """Outside text that may be stored: a string, no control characters (core/text.py; a long
    text may hold newlines and tabs), bounded. Errors: Refused `bad-text`."""
    if not isinstance(value, str):
        raise Refused("bad-text", f"{what} must be text, not {type(value).__name__}")
    multiline = limit > MAX_SHORT
    if multiline:  # a browser's textarea sends CR LF: the same text as LF
        value = value.replace("\r\n", "\n")
    bad = first_control(value, multiline=multiline)
    if bad is not None:
        raise Refused("bad-text", f"{what}: control character U+{ord(bad):04X} is not allowed")
    if len(value) > limit:
        raise Refused("bad-text", f"{what}: {len(value)} characters; at most {limit}")
    if not empty and not value.strip():
        raise Refused("bad-text", f"{what} is empty")
    return value


def customer_dict(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "unidentified": c.unidentified, "tags": list(c.tags),
            "merged_into": c.merged_into, "created_at": c.created_at, "updated_at": c.updated_at}


def identity_dict(i: CustomerIdentity) -> dict[str, Any]:
    return {"kind": i.kind, "value": i.value, "raw": i.raw, "valid": i.valid}


def ticket_dict(t: Ticket) -> dict[str, Any]:
    return {"id": t.id, "customer_id": t.customer_id, "subject": t.subject, "topic": t.topic, "status": t.status,
            "priority": t.priority, "assignee": t.assignee, "tags": list(t.tags),
            "callback_requested": t.callback_requested, "first_response_due": t.first_response_due,
            "resolution_due": t.resolution_due, "first_response_at": t.first_response_at,
            "resolved_at": t.resolved_at, "created_at": t.created_at, "updated_at": t.updated_at,
            "version": t.version, "edits": t.edits}


def interaction_dict(i: Interaction) -> dict[str, Any]:
    data = {c.key: getattr(i, c.key) for c in Interaction.__table__.columns}
    data["ivr_path"], data["variables"] = list(i.ivr_path or []), dict(i.variables or {})
    return data


def change_dict(c: TicketChange) -> dict[str, Any]:
    return {"at": c.at, "actor": c.actor, "field": c.field, "old": c.old, "new": c.new}


class Store:
    """The ticket store at one URL. `open()` checks it is reachable and migrated."""

    def __init__(self, url: str, policy: StorePolicy = StorePolicy(), clock: Callable[[], float] = time.time) -> None:
        self.url, self.policy, self.clock = url, policy, clock
        self.engine: AsyncEngine = db.create_engine(url)
        self._sessions = db.sessions(self.engine)
        self._sqlite = db.parse_url(url).drivername.startswith("sqlite")
        self._merging = asyncio.Lock()
        self._writer = asyncio.Lock()  # SQLite: one write transaction at a time (Store.writing)
        self.writes = 0  # transactions committed (status, benches)

    async def open(self) -> None:
        """Errors: StoreError `store-unavailable` (cannot connect), `store-not-migrated`."""
        try:
            revision = await db.current(self.engine)
        except Exception as exc:  # noqa: BLE001 - any driver error means the same to the user
            raise db.unavailable(self.url, exc) from None
        if revision != db.head():
            raise db.StoreError("store-not-migrated", f"the store {db.describe(self.url)} is at revision "
                                f"{revision or 'none'}, this code needs {db.head()}: run `callcenter db upgrade`")

    async def close(self) -> None:
        await self.engine.dispose()

    def describe(self) -> dict[str, Any]:
        """For `status`: the URL (password hidden), transactions written, and a problem seen
        from outside the database (a SQLite file deleted under the running controller)."""
        parsed = db.parse_url(self.url)
        problem = ""
        if parsed.drivername.startswith("sqlite") and parsed.database and not Path(parsed.database).exists():
            problem = f"the database file {parsed.database} is gone: writes go nowhere; restore it and restart"
        return {"url": db.describe(self.url), "writes": self.writes, "problem": problem}

    def session(self) -> AsyncSession:
        """A session for reading (each statement sees what is committed)."""
        return self._sessions()

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed at the end (rolled back on an error).
        SQLite: the database's write lock is taken first (BEGIN IMMEDIATE), so nothing the
        transaction reads changes before it commits: no ticket version race, no second ticket for
        one customer. (pysqlite would begin at the first INSERT/UPDATE, after the reads; SQLite
        has one writer at a time anyway.) PostgreSQL: rows that must not move are read FOR UPDATE."""
        if not self._sqlite:
            async with self.session() as s, s.begin():
                yield s
            return
        # This process's writers queue here, handed the lock in turn the moment it is free; only
        # another process (the CLI) meets SQLite's busy handler, which polls with sleeps of up to
        # 100 ms (measured: p95 of SMS → ticket 244 ms without this queue).
        async with self._writer, self.session() as s, s.begin():
            await s.execute(text("BEGIN IMMEDIATE"))
            yield s

    # -- customers ------------------------------------------------------------------------

    async def _customer(self, s: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer:
        """The customer, or the one it was merged into (followed to the end). `lock`: PostgreSQL
        locks the rows read (FOR UPDATE) until the transaction ends. Errors: `unknown-customer`,
        `merge-loop` (a chain that comes back on itself: never written by merge(), refused)."""
        customer = await s.get(Customer, customer_id, with_for_update=lock) if 0 < customer_id <= MAX_ID else None
        if customer is None:
            raise NotFound("unknown-customer", f"no customer #{customer_id}", {"customer": customer_id})
        seen = {customer.id}
        while customer.merged_into is not None:
            nxt = await s.get(Customer, customer.merged_into, with_for_update=lock)
            if nxt is None or nxt.id in seen or len(seen) > MAX_MERGE_CHAIN:
                raise Conflict("merge-loop", f"customer #{customer_id}'s merges lead back to themselves "
                               f"(through #{', #'.join(map(str, sorted(seen)))})", {"customer": customer_id})
            seen.add(nxt.id)
            customer = nxt
        return customer

    async def _by_identity(self, s: AsyncSession, ident: identity.Identity) -> Customer | None:
        row = (await s.execute(select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == ident.kind, CustomerIdentity.value == ident.value))).scalar_one_or_none()
        return None if row is None else await self._customer(s, row)

    async def _contact_customer(self, s: AsyncSession, kind: str, raw: str, name: str, now: float) -> Customer:
        """The customer a contact from `raw` (a caller ID, an address) belongs to, created if new.
        A withheld caller ID gets a new unidentified customer, never matched again."""
        try:
            ident = identity.parse(kind, raw, self.policy.default_region)
        except identity.IdentityError:
            ident = None
        name = name[:MAX_SHORT]
        if ident is not None:
            found = await self._by_identity(s, ident)
            if found is not None:
                if name and not found.name:
                    found.name, found.updated_at = name, now
                return found
        customer = Customer(name=name, unidentified=ident is None, tags=[], created_at=now, updated_at=now)
        s.add(customer)
        await s.flush()
        if ident is not None:
            s.add(CustomerIdentity(customer_id=customer.id, kind=ident.kind, value=ident.value, raw=ident.raw[:320],
                                   valid=ident.valid, created_at=now))
            await s.flush()
        return customer

    async def find_customer(self, text: str) -> dict[str, Any] | None:
        """A customer by `#ID` or any identity in any common format (`+1 415-555-2671`,
        `(415) 555-2671`, an email). Errors: IdentityError `invalid-identity`."""
        text = text.strip()
        async with self.session() as s:
            if text.startswith("#"):  # a customer id; a bare number is a phone number
                if not text[1:].isdigit() or not 0 < int(text[1:]) <= MAX_ID:
                    return None
                customer = await s.get(Customer, int(text[1:]))
                return None if customer is None else customer_dict(await self._customer(s, customer.id))
            ident = identity.guess(text, self.policy.default_region)
            if ident is None:
                return None
            found = await self._by_identity(s, ident)
            return None if found is None else customer_dict(found)

    async def customers(self, limit: int = 100) -> list[dict[str, Any]]:
        """Customers (not merged away), latest activity first, each with its identity values."""
        async with self.session() as s:
            rows = (await s.execute(select(Customer).where(Customer.merged_into.is_(None))
                                    .order_by(Customer.updated_at.desc(), Customer.id.desc()).limit(limit))).scalars().all()
            idents = (await s.execute(select(CustomerIdentity).where(
                CustomerIdentity.customer_id.in_([c.id for c in rows])))).scalars().all()
            out = []
            for c in rows:
                out.append({**customer_dict(c), "identities": [i.value for i in idents if i.customer_id == c.id]})
            return out

    async def create_customer(self, name: str, identities: Sequence[tuple[str, str]] = (),
                              actor: str = "admin") -> dict[str, Any]:
        """A new customer with identities [(kind, raw)]. Errors: `invalid-identity`, `identity-taken`."""
        name = _text(name, "name")
        now = self.clock()
        try:
            async with self.writing() as s:
                customer = Customer(name=name, unidentified=False, tags=[], created_at=now, updated_at=now)
                s.add(customer)
                await s.flush()
                for kind, raw in identities:
                    await self._add_identity(s, customer, kind, raw, now)
                self.writes += 1
                return customer_dict(customer)
        except IntegrityError:  # another request took the identity between our check and our insert
            raise Conflict("identity-taken", "one of these identities was just given to another customer "
                           "(merge them with `callcenter customer merge`)") from None

    async def _add_identity(self, s: AsyncSession, customer: Customer, kind: str, raw: str, now: float) -> None:
        ident = identity.parse(kind, raw, self.policy.default_region)
        if ident is None:
            raise identity.IdentityError(f"{raw!r} is withheld or not a number: it identifies nobody")
        other = await self._by_identity(s, ident)
        if other is not None and other.id != customer.id:
            raise Conflict("identity-taken", f"{ident.kind} {ident.value} belongs to customer #{other.id} "
                           "(merge them with `callcenter customer merge`)", {"customer": other.id})
        if other is None:
            s.add(CustomerIdentity(customer_id=customer.id, kind=ident.kind, value=ident.value, raw=ident.raw,
                                   valid=ident.valid, created_at=now))
            customer.unidentified = False
        customer.updated_at = now

    async def update_customer(self, customer_id: int, *, name: str | None = None, add_tags: Sequence[str] = (),
                              remove_tags: Sequence[str] = (), add_identities: Sequence[tuple[str, str]] = ()
                              ) -> dict[str, Any]:
        """Rename, tag/untag (`vip`), add identities. Errors: `unknown-customer`, `bad-text`,
        `invalid-identity`, `identity-taken`."""
        now = self.clock()
        try:
            return await self._update_customer(customer_id, name, add_tags, remove_tags, add_identities, now)
        except IntegrityError:  # another request took the identity between our check and our insert
            raise Conflict("identity-taken", "one of these identities was just given to another customer "
                           "(merge them with `callcenter customer merge`)") from None

    async def _update_customer(self, customer_id: int, name: str | None, add_tags: Sequence[str],
                               remove_tags: Sequence[str], add_identities: Sequence[tuple[str, str]],
                               now: float) -> dict[str, Any]:
        async with self.writing() as s:
            customer = await self._customer(s, customer_id)
            if name is not None:
                customer.name = _text(name, "name")
            tags = list(customer.tags)
            for tag in add_tags:
                tag = _text(tag, "tag", 40, empty=False).strip().lower()
                if tag not in tags:
                    tags.append(tag)
            tags = [t for t in tags if t not in {r.strip().lower() for r in remove_tags}]
            if len(tags) > MAX_TAGS:
                raise Refused("bad-text", f"a customer has at most {MAX_TAGS} tags")
            customer.tags, customer.updated_at = tags, now
            for kind, raw in add_identities:
                await self._add_identity(s, customer, kind, raw, now)
            self.writes += 1
            return customer_dict(customer)

    async def customer_file(self, customer_id: int, limit: int = TIMELINE_LIMIT) -> dict[str, Any]:
        """The screen pop: the customer, identities, open tickets, and the last `limit` interactions
        newest first. Errors: `unknown-customer`."""
        async with self.session() as s:
            return await self._file(s, await self._customer(s, customer_id), limit)

    async def screen_pop(self, text: str, limit: int = TIMELINE_LIMIT) -> dict[str, Any] | None:
        """`find_customer` and `customer_file` in one read (what a ringing phone asks). None if
        nobody has that identity. Errors: `invalid-identity`."""
        found = await self.find_customer(text) if text.strip().startswith("#") else None
        if found is not None:
            return await self.customer_file(found["id"], limit)
        if text.strip().startswith("#"):
            return None
        ident = identity.guess(text, self.policy.default_region)
        if ident is None:
            return None
        async with self.session() as s:
            customer = await self._by_identity(s, ident)
            return None if customer is None else await self._file(s, customer, limit)

    async def _file(self, s: AsyncSession, customer: Customer, limit: int) -> dict[str, Any]:
        idents = (await s.execute(select(CustomerIdentity).where(
            CustomerIdentity.customer_id == customer.id).order_by(CustomerIdentity.id))).scalars().all()
        tickets = (await s.execute(select(Ticket).where(
            Ticket.customer_id == customer.id, Ticket.status.in_(rules.OPEN_STATUSES + ("resolved",)))
            .order_by(Ticket.updated_at.desc()))).scalars().all()
        timeline = (await s.execute(select(Interaction).where(Interaction.customer_id == customer.id)
                                    .order_by(Interaction.started_at.desc()).limit(limit))).scalars().all()
        return {"customer": customer_dict(customer), "identities": [identity_dict(i) for i in idents],
                "open_tickets": [ticket_dict(t) for t in tickets],
                "timeline": [interaction_dict(i) for i in timeline]}

    async def customer_facts(self, caller_id: str) -> dict[str, Any]:
        """What an IVR flow may branch on for a caller ID: `known`, `tags`, `open_tickets`, `id`."""
        try:
            ident = identity.phone(caller_id, self.policy.default_region)
        except identity.IdentityError:
            ident = None
        if ident is None:
            return {"known": False, "tags": [], "open_tickets": 0, "id": None}
        async with self.session() as s:
            customer = await self._by_identity(s, ident)
            if customer is None:
                return {"known": False, "tags": [], "open_tickets": 0, "id": None}
            count = (await s.execute(select(func.count()).select_from(Ticket).where(
                Ticket.customer_id == customer.id, Ticket.status.in_(rules.OPEN_STATUSES)))).scalar_one()
            return {"known": True, "tags": list(customer.tags), "open_tickets": int(count), "id": customer.id}

    # -- merges ---------------------------------------------------------------------------

    async def merge(self, target_id: int, source_id: int, actor: str) -> dict[str, Any]:
        """Merge customer `source_id` into `target_id`: identities, tickets and interactions move;
        the source stays as a pointer. Audited and reversible (`unmerge`). Errors:
        `unknown-customer`, `same-customer`."""
        actor = _text(actor, "actor", empty=False)
        now = self.clock()
        # Two crossed merges (A into B, B into A) can never both happen: SQLite writes one
        # transaction at a time (Store.writing); on PostgreSQL the rows are locked, and one merge at
        # a time in this controller keeps two crossed ones from locking them in opposite orders.
        async with self._merging, self.writing() as s:
            target = await self._customer(s, target_id, lock=True)
            source = await self._customer(s, source_id, lock=True)
            if target.id == source.id:
                raise Conflict("same-customer", f"#{target_id} and #{source_id} are one customer already")
            ids: dict[str, Any] = {}
            for model in (CustomerIdentity, Ticket, Interaction):
                rows = (await s.execute(select(model.id).where(model.customer_id == source.id))).scalars().all()
                ids[model.__tablename__] = sorted(rows)
                await s.execute(update(model).where(model.customer_id == source.id).values(customer_id=target.id)
                                .execution_options(synchronize_session=False))
            added = [t for t in source.tags if t not in target.tags][:max(0, MAX_TAGS - len(target.tags))]
            ids["tags"] = added
            target.tags = list(target.tags) + added
            ids["target_unidentified"] = target.unidentified
            if target.unidentified and ids["identities"]:
                target.unidentified = False
            source.merged_into, source.updated_at, target.updated_at = target.id, now, now
            merge = Merge(at=now, actor=actor, source_id=source.id, target_id=target.id, moved=ids)
            s.add(merge)
            await s.flush()
            self.writes += 1
            return {"merge_id": merge.id, "target": target.id, "source": source.id, "moved": ids}

    async def unmerge(self, merge_id: int, actor: str) -> dict[str, Any]:
        """Undo a merge: what moved moves back (tickets and interactions the target has gained
        since stay). Errors: `unknown-merge`, `merge-undone`."""
        actor = _text(actor, "actor", empty=False)
        now = self.clock()
        async with self._merging, self.writing() as s:
            merge = await s.get(Merge, merge_id) if 0 < merge_id <= MAX_ID else None
            if merge is None:
                raise NotFound("unknown-merge", f"no merge #{merge_id}")
            if merge.undone_at is not None:
                raise Conflict("merge-undone", f"merge #{merge_id} was undone by {merge.undone_by}")
            source = await s.get(Customer, merge.source_id, with_for_update=True)
            target = await s.get(Customer, merge.target_id, with_for_update=True)
            assert source is not None and target is not None
            # What moved is wherever the target's rows are now (the target may have been merged on
            # since): only rows still there move back; rows a later unmerge already took home stay.
            holder = await self._customer(s, target.id, lock=True)
            for model in (CustomerIdentity, Ticket, Interaction):
                moved = merge.moved.get(model.__tablename__, [])
                if moved:
                    await s.execute(update(model).where(model.id.in_(moved), model.customer_id == holder.id)
                                    .values(customer_id=source.id).execution_options(synchronize_session=False))
            target.tags = [t for t in target.tags if t not in merge.moved.get("tags", [])]
            target.unidentified = bool(merge.moved.get("target_unidentified", target.unidentified))
            source.merged_into, source.updated_at, target.updated_at = None, now, now
            merge.undone_at, merge.undone_by = now, actor
            self.writes += 1
            return {"merge_id": merge.id, "target": target.id, "source": source.id, "restored": merge.moved}

    # -- tickets --------------------------------------------------------------------------

    async def _ticket_for(self, s: AsyncSession, customer: Customer, topic: str, channel: str, subject: str,
                          now: float) -> Ticket:
        """The customer's open ticket on `topic` (reopened if resolved), else a new one. Two
        writers choosing for one customer take turns: PostgreSQL locks the customer's row here,
        SQLite's write transaction holds the database (Store.writing)."""
        if not self._sqlite:
            await self._customer(s, customer.id, lock=True)
        candidates = (await s.execute(select(Ticket).where(
            Ticket.customer_id == customer.id, Ticket.topic == topic, Ticket.status != "closed")
            .order_by(Ticket.updated_at.desc()).limit(1))).scalars().all()
        for ticket in candidates:
            if not customer.unidentified and rules.joinable(ticket.status, ticket.topic, ticket.updated_at,
                                                            want_topic=topic, now=now,
                                                            reopen_days=self.policy.reopen_days):
                self._reopen(s, ticket, now)
                ticket.updated_at = now
                return ticket
        return await self._new_ticket(s, customer, topic, channel, subject, now)

    def _reopen(self, s: AsyncSession, ticket: Ticket, now: float) -> None:
        """A new contact on a resolved ticket opens it again (in its history)."""
        if ticket.status == "resolved":
            s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="status", old="resolved", new="open"))
            ticket.status, ticket.resolved_at = "open", None

    async def _new_ticket(self, s: AsyncSession, customer: Customer, topic: str, channel: str, subject: str,
                          now: float) -> Ticket:
        first, resolution = rules.sla_due(self.policy.sla, channel, "normal", now)
        ticket = Ticket(customer_id=customer.id, subject=subject[:300], topic=topic, status="new", priority="normal",
                        assignee="", tags=[], first_response_due=first, resolution_due=resolution, created_at=now,
                        updated_at=now)
        s.add(ticket)
        await s.flush()
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="created", old="", new=subject[:300]))
        return ticket

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        """A ticket with its history and interactions. Errors: `unknown-ticket`."""
        async with self.session() as s:
            ticket = await s.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("unknown-ticket", f"no ticket #{ticket_id}", {"ticket": ticket_id})
            changes = (await s.execute(select(TicketChange).where(TicketChange.ticket_id == ticket_id)
                                       .order_by(TicketChange.id))).scalars().all()
            contacts = (await s.execute(select(Interaction).where(Interaction.ticket_id == ticket_id)
                                        .order_by(Interaction.started_at))).scalars().all()
            return {**ticket_dict(ticket), "history": [change_dict(c) for c in changes],
                    "interactions": [interaction_dict(i) for i in contacts]}

    async def tickets(self, *, status: str | None = None, customer_id: int | None = None, assignee: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        """Tickets, newest activity first. Errors: `bad-status`."""
        query = select(Ticket).order_by(Ticket.updated_at.desc()).limit(limit)
        if status is not None:
            if status not in rules.STATUSES:
                raise rules.TicketValueError("bad-status", f"no status {status!r} (statuses: {', '.join(rules.STATUSES)})")
            query = query.where(Ticket.status == status)
        if customer_id is not None:
            query = query.where(Ticket.customer_id == customer_id)
        if assignee is not None:
            query = query.where(Ticket.assignee == assignee)
        async with self.session() as s:
            return [ticket_dict(t) for t in (await s.execute(query)).scalars().all()]

    async def update_ticket(self, ticket_id: int, actor: str, *, status: str | None = None,
                            priority: str | None = None, assignee: str | None = None, note: str | None = None,
                            add_tags: Sequence[str] = (), remove_tags: Sequence[str] = (),
                            expected_version: int | None = None, expected_edits: int | None = None) -> dict[str, Any]:
        """Change a ticket; each change is written to its history (who, when, from → to).
        `expected_version` (optimistic): refused with `ticket-conflict` if someone changed it since.
        Without it, a concurrent change is retried on the fresh row, never lost. Errors:
        `unknown-ticket`, `invalid-transition`, `bad-status`, `bad-priority`, `bad-text`,
        `ticket-conflict`."""
        actor = _text(actor, "actor", empty=False)
        if note is not None:
            note = _text(note, "note", MAX_TEXT, empty=False)
        if assignee is not None:
            assignee = _text(assignee, "assignee")
        if priority is not None:
            rules.check_priority(priority)
        tags_add = [_text(t, "tag", 40, empty=False).strip().lower() for t in add_tags]
        tags_remove = {_text(t, "tag", 40).strip().lower() for t in remove_tags}
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                return await self._update_ticket(ticket_id, actor, status, priority, assignee, note, tags_add,
                                                 tags_remove, expected_version, expected_edits)
            except StaleDataError:
                if expected_version is not None or expected_edits is not None or attempt == UPDATE_ATTEMPTS - 1:
                    raise Conflict("ticket-conflict", f"ticket #{ticket_id} was changed meanwhile; read it "
                                   "again and retry", {"ticket": ticket_id}) from None
                # SQLite has no row locks: writers that raced try again, spread out.
                await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def _update_ticket(self, ticket_id: int, actor: str, status: str | None, priority: str | None,
                             assignee: str | None, note: str | None, add_tags: list[str], remove_tags: set[str],
                             expected_version: int | None, expected_edits: int | None = None) -> dict[str, Any]:
        now = self.clock()
        async with self.writing() as s:
            # PostgreSQL locks the row (concurrent editors wait their turn); SQLite's writer holds
            # the database (Store.writing).
            ticket = await s.get(Ticket, ticket_id, with_for_update=True)
            if ticket is None:
                raise NotFound("unknown-ticket", f"no ticket #{ticket_id}", {"ticket": ticket_id})
            if expected_version is not None and ticket.version != expected_version:
                raise Conflict("ticket-conflict", f"ticket #{ticket_id} is at version {ticket.version}, "
                               f"not {expected_version}: read it again", {"version": ticket.version})
            if expected_edits is not None and ticket.edits != expected_edits:
                raise Conflict("ticket-conflict", f"ticket #{ticket_id} was edited since you read it "
                               f"({ticket.edits} edits, not {expected_edits}): read it again",
                               {"edits": ticket.edits})
            changes: list[tuple[str, str, str]] = []
            if status is not None and status != ticket.status:
                rules.check_transition(ticket.status, status)
                changes.append(("status", ticket.status, status))
                ticket.status = status
                ticket.resolved_at = now if status in ("resolved", "closed") else None
            if priority is not None and priority != ticket.priority:
                changes.append(("priority", ticket.priority, priority))
                ticket.priority = priority
                ticket.first_response_due, ticket.resolution_due = rules.sla_due(
                    self.policy.sla, "voice", priority, ticket.created_at)
            if assignee is not None and assignee != ticket.assignee:
                changes.append(("assignee", ticket.assignee, assignee))
                ticket.assignee = assignee
            tags = [t for t in ticket.tags if t not in remove_tags] + [t for t in add_tags if t not in ticket.tags]
            if tags != list(ticket.tags):
                changes.append(("tags", ",".join(ticket.tags), ",".join(tags)))
                ticket.tags = tags
            if note is not None:
                changes.append(("note", "", note))
            if not changes:
                return ticket_dict(ticket)
            ticket.updated_at, ticket.edits = now, ticket.edits + 1
            for name, old, new in changes:
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor=actor, field=name, old=old, new=new))
            await s.flush()
            self.writes += 1
            return ticket_dict(ticket)

    # -- interactions -----------------------------------------------------------------------

    async def _interaction(self, s: AsyncSession, channel: str, call_id: str) -> Interaction | None:
        return (await s.execute(select(Interaction).where(Interaction.channel == channel,
                                                          Interaction.call_id == call_id))).scalar_one_or_none()

    async def call_step(self, call_id: str, *, step: str, caller_id: str = "", caller_name: str = "", did: str = "",
                        topic: str = "general", direction: str = "inbound", callback_of: str = "",
                        started_at: float | None = None, values: Mapping[str, Any] | None = None,
                        channel: str = "voice", first_response: bool = False,
                        ticket_id: int | None = None) -> dict[str, Any]:
        """Write one business step of a call (started, queued, answered, ended) in one transaction:
        the interaction is created at its first step (customer looked up or created by caller ID,
        ticket chosen) and updated at the next ones; a replayed step changes nothing twice (one
        interaction per Linkedid and channel). A callback joins its original call's ticket; a
        click-to-call (`ticket_id`) the ticket it was made on, unless that one is closed."""
        values = dict(values or {})
        # A replayed step racing its first write finds the row the other made (IntegrityError);
        # a chat or message of the same customer may move the ticket's version (StaleDataError).
        return await db.retried(lambda: self._call_step(call_id, step, caller_id, caller_name, did, topic, direction,
                                                        callback_of, started_at, values, channel, first_response,
                                                        ticket_id))

    async def _call_step(self, call_id: str, step: str, caller_id: str, caller_name: str, did: str, topic: str,
                         direction: str, callback_of: str, started_at: float | None, values: dict[str, Any],
                         channel: str, first_response: bool, ticket_id: int | None) -> dict[str, Any]:
        now = self.clock()
        async with self.writing() as s:
            row = await self._interaction(s, channel, call_id)
            if row is None:
                row = await self._new_call(s, call_id, channel, caller_id, caller_name, did, topic,
                                           direction, callback_of, started_at or now, now, ticket_id)
            order = ("started", "queued", "answered", "ended")
            if step in order and order.index(step) > order.index(row.step if row.step in order else "started"):
                row.step = step
            for key, value in values.items():
                setattr(row, key, value)
            ticket = await s.get(Ticket, row.ticket_id)
            assert ticket is not None
            ticket.updated_at = now
            if first_response and ticket.first_response_at is None:
                ticket.first_response_at = now
            await s.flush()
            self.writes += 1
            return interaction_dict(row)

    async def _new_call(self, s: AsyncSession, call_id: str, channel: str, caller_id: str, caller_name: str,
                        did: str, topic: str, direction: str, callback_of: str, started_at: float,
                        now: float, ticket_id: int | None = None) -> Interaction:
        # A voicemail joins its call's ticket; a callback its original call's.
        original = await self._interaction(s, "voice", callback_of or call_id) if callback_of or channel != "voice" \
            else None
        chosen = await s.get(Ticket, ticket_id) if ticket_id is not None and 0 < ticket_id < 2**31 else None
        if chosen is not None and chosen.status != "closed":
            customer = await self._customer(s, chosen.customer_id)
            ticket = chosen
        elif original is not None:
            customer = await self._customer(s, original.customer_id)
            joined = await s.get(Ticket, original.ticket_id)
            assert joined is not None
            ticket = joined if joined.status != "closed" else \
                await self._ticket_for(s, customer, joined.topic, channel, joined.subject, now)
        else:
            customer = await self._contact_customer(s, "phone", caller_id, caller_name, now)
            what = {"voice": "Call", "voicemail": "Voicemail"}.get(channel, channel)
            who = caller_name or caller_id or "a withheld number"
            subject = f"{what} from {who}" + (f" to {did}" if did else "")
            ticket = await self._ticket_for(s, customer, topic, channel, subject, now)
        row = Interaction(ticket_id=ticket.id, customer_id=customer.id, channel=channel, direction=direction,
                          step="started", started_at=started_at, address=caller_id[:320], name=caller_name[:200],
                          call_id=call_id, did=did, callback_of=callback_of, ivr_path=[], variables={})
        s.add(row)
        await s.flush()
        return row

    async def request_callback(self, call_id: str, request_id: str) -> None:
        """A caller asked to be called back: the call's ticket is flagged `callback_requested`
        (tried again if the call's own steps change the ticket meanwhile)."""
        await db.retried(lambda: self._request_callback(call_id, request_id))

    async def _request_callback(self, call_id: str, request_id: str) -> None:
        async with self.writing() as s:
            row = await self._interaction(s, "voice", call_id)
            if row is None:
                return
            ticket = await s.get(Ticket, row.ticket_id)
            if ticket is not None and not ticket.callback_requested:
                ticket.callback_requested = True
                s.add(TicketChange(ticket_id=ticket.id, at=self.clock(), actor="system", field="callback_requested",
                                   old="", new=request_id))
            self.writes += 1

    async def recent_calls(self, limit: int = 100) -> list[dict[str, Any]]:
        """Calls (voice interactions), newest first."""
        async with self.session() as s:
            rows = (await s.execute(select(Interaction).where(Interaction.channel == "voice")
                                    .order_by(Interaction.started_at.desc()).limit(limit))).scalars().all()
            return [interaction_dict(i) for i in rows]

    async def call(self, call_id: str) -> dict[str, Any] | None:
        async with self.session() as s:
            row = await self._interaction(s, "voice", call_id)
            return None if row is None else interaction_dict(row)

    async def known_calls(self, call_ids: Sequence[str]) -> set[str]:
        """Which of these Linkedids are in the store already (reconciliation)."""
        if not call_ids:
            return set()
        async with self.session() as s:
            rows = (await s.execute(select(Interaction.call_id).where(Interaction.channel == "voice",
                                                                      Interaction.call_id.in_(list(call_ids)))))
            return set(rows.scalars().all())

    async def counts(self) -> dict[str, int]:
        async with self.session() as s:
            out = {}
            for model in (Customer, Ticket, Interaction):
                out[model.__tablename__] = int((await s.execute(select(func.count()).select_from(model))).scalar_one())
            return out

    # -- queue callback requests (routing/callbacks.py) ---------------------------------------

    async def save_callback(self, row: Mapping[str, Any]) -> None:
        """Insert or update one callback request (the fields of CallbackRequest)."""
        fields = {c.key for c in CallbackRequestRow.__table__.columns}
        values = {k: v for k, v in row.items() if k in fields}
        values["last_error"] = str(values.get("last_error", ""))[:300]
        async with self.writing() as s:
            existing = await s.get(CallbackRequestRow, values["id"])
            if existing is None:
                s.add(CallbackRequestRow(**values))
            else:
                for key, value in values.items():
                    setattr(existing, key, value)
            self.writes += 1

    async def callback_requests(self) -> list[dict[str, Any]]:
        """Every callback request, oldest place first."""
        async with self.session() as s:
            rows = (await s.execute(select(CallbackRequestRow).order_by(CallbackRequestRow.joined_at))).scalars()
            return [{c.key: getattr(r, c.key) for c in CallbackRequestRow.__table__.columns} for r in rows]

    async def save_document(self, row: Mapping[str, Any]) -> None:
        """Keep a named text (`{"id": name, "body": text}`, what a routing Keeper hands over)."""
        async with self.writing() as s:
            existing = await s.get(Document, row["id"])
            if existing is None:
                s.add(Document(name=row["id"], body=row["body"], updated_at=self.clock()))
            else:
                existing.body, existing.updated_at = row["body"], self.clock()
            self.writes += 1

    async def document(self, name: str) -> str | None:
        async with self.session() as s:
            found = await s.get(Document, name)
            return None if found is None else found.body

    # -- voicemail transcription jobs (callcenter/voicemail/worker.py) ------------------------------

    async def queue_transcription(self, call_id: str, language: str = "auto") -> int | None:
        """A job for the call's voicemail (idempotent: one open job per voicemail). Returns its id,
        or None if the store has no voicemail for that call."""
        now = self.clock()
        async with self.writing() as s:
            vm = await self._interaction(s, "voicemail", call_id)
            if vm is None:
                return None
            existing = (await s.execute(select(TranscriptionJob).where(
                TranscriptionJob.interaction_id == vm.id, TranscriptionJob.state.in_(("queued", "running")))
            )).scalars().first()
            if existing is not None:
                return existing.id
            job = _new_job(vm, language, now)
            s.add(job)
            await s.flush()
            self.writes += 1
            return job.id

    async def empty_voicemail(self, call_id: str, reason: str) -> None:
        """The call's voicemail is empty (`reason`: too short, no sound): recorded as such, with a
        settled `empty` job (listed, never transcribed, its ticket not flagged to call back).
        Idempotent."""
        now = self.clock()
        async with self.writing() as s:
            vm = await self._interaction(s, "voicemail", call_id)
            if vm is None:
                return
            vm.recording_problem = f"empty voicemail: {reason}"[:200]
            if (await s.execute(select(TranscriptionJob.id).where(TranscriptionJob.interaction_id == vm.id)
                                .limit(1))).first() is None:
                job = _new_job(vm, "auto", now)
                job.state, job.error = "empty", reason[:500]
                s.add(job)
            self.writes += 1

    async def retranscribe(self, interaction_id: int, language: str = "auto", engine: str = "") -> int:
        """Queue a voicemail again (another engine or language, or after a failure; `engine` ""
        is the configured one). Errors: `unknown-voicemail`."""
        now = self.clock()
        async with self.writing() as s:
            vm = await s.get(Interaction, interaction_id) if 0 < interaction_id <= MAX_ID else None
            if vm is None or vm.channel != "voicemail":
                raise NotFound("unknown-voicemail", f"no voicemail #{interaction_id}")
            waiting = (await s.execute(select(TranscriptionJob).where(
                TranscriptionJob.interaction_id == vm.id, TranscriptionJob.state == "queued"))).scalars().first()
            if waiting is not None:  # asked again before it ran: one job, with what was asked last
                waiting.language, waiting.engine, waiting.updated_at = language, engine, now
                return waiting.id
            # One running already: this is a new job after it (never dropped).
            job = _new_job(vm, language, now, engine)
            s.add(job)
            await s.flush()
            self.writes += 1
            return job.id

    async def recover_transcriptions(self) -> dict[str, int]:
        """At start: jobs left `running` by a dead worker are queued again; voicemails that never got
        a job (a crash between the two writes) get one."""
        now = self.clock()
        async with self.writing() as s:
            running = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.state == "running"))).scalars().all()
            for job in running:
                job.state, job.updated_at = "queued", now
            requeued = len(running)
            orphans = (await s.execute(select(Interaction).where(
                Interaction.channel == "voicemail", Interaction.recording_path != "",
                ~select(TranscriptionJob.id).where(TranscriptionJob.interaction_id == Interaction.id).exists())
            )).scalars().all()
            for vm in orphans:
                s.add(_new_job(vm, "auto", now))
            return {"requeued": int(requeued or 0), "created": len(orphans)}

    async def next_transcription(self) -> dict[str, Any] | None:
        """The oldest due queued job, marked running (attempts + 1); None if nothing is due."""
        now = self.clock()
        async with self.writing() as s:
            job = (await s.execute(select(TranscriptionJob).where(
                TranscriptionJob.state == "queued", TranscriptionJob.next_try_at <= now)
                .order_by(TranscriptionJob.id).limit(1))).scalars().first()
            if job is None:
                return None
            job.state, job.attempts, job.updated_at = "running", job.attempts + 1, now
            return {"id": job.id, "interaction_id": job.interaction_id, "path": job.path, "language": job.language,
                    "engine": job.engine, "attempts": job.attempts}

    async def transcription_counts(self) -> dict[str, int]:
        """Jobs by state (queued, running, done, empty, failed): what `status` shows."""
        async with self.session() as s:
            rows = (await s.execute(select(TranscriptionJob.state, func.count()).group_by(TranscriptionJob.state))).all()
        return {"queued": 0, "running": 0, "done": 0, "empty": 0, "failed": 0, **{k: int(n) for k, n in rows}}

    async def next_transcription_at(self) -> float | None:
        async with self.session() as s:
            return (await s.execute(select(func.min(TranscriptionJob.next_try_at)).where(
                TranscriptionJob.state == "queued"))).scalar_one_or_none()

    async def finish_transcription(self, job_id: int, *, state: str, transcript: Mapping[str, Any] | None = None,
                                   error: str = "", retry_at: float | None = None) -> dict[str, Any]:
        """Settle a job: `done` (the text goes on the voicemail, its ticket is flagged to call back),
        `empty` (no speech: said on the voicemail), `failed` (with the reason), or `queued` again at
        `retry_at`. Returns the voicemail interaction."""
        return await db.retried(lambda: self._finish_transcription(job_id, state, transcript, error, retry_at))

    async def _finish_transcription(self, job_id: int, state: str, transcript: Mapping[str, Any] | None, error: str,
                                    retry_at: float | None) -> dict[str, Any]:
        now = self.clock()
        async with self.writing() as s:
            job = await s.get(TranscriptionJob, job_id)
            assert job is not None
            vm = await s.get(Interaction, job.interaction_id)
            assert vm is not None
            job.state, job.error, job.updated_at = state, error[:500], now
            if retry_at is not None:
                job.next_try_at = retry_at
            if state == "done" and transcript is not None:
                vm.body, vm.transcript = str(transcript.get("text", "")), dict(transcript)
                ticket = await s.get(Ticket, vm.ticket_id)
                if ticket is not None and not ticket.callback_requested:
                    ticket.callback_requested, ticket.updated_at = True, now
                    s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="callback_requested",
                                       old="", new=f"voicemail #{vm.id} transcribed"))
            elif state == "empty":
                vm.recording_problem = "empty voicemail: no speech"
                vm.transcript = dict(transcript or {})
                job.error = "no speech found"
            elif state == "failed":
                if not vm.body:  # a failed re-run keeps the text an earlier run gave
                    vm.recording_problem = f"transcription failed: {error}"[:200]
                # A message nobody can read is still a message: a person must listen to it.
                ticket = await s.get(Ticket, vm.ticket_id)
                if ticket is not None and not ticket.callback_requested:
                    ticket.callback_requested, ticket.updated_at = True, now
                    s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="callback_requested",
                                       old="", new=f"voicemail #{vm.id} not transcribed: listen to it"))
            await s.flush()
            self.writes += 1
            return interaction_dict(vm)

    async def transcriptions(self, *, state: str | None = None, limit: int = 100,
                             voicemail_id: int | None = None) -> list[dict[str, Any]]:
        """Voicemails with their jobs, newest job first: caller, time, seconds, job state, the text
        (`voicemail_id`: one voicemail's jobs, with its full transcript)."""
        async with self.session() as s:
            query = (select(TranscriptionJob, Interaction).join(Interaction,
                                                                 Interaction.id == TranscriptionJob.interaction_id)
                     .order_by(TranscriptionJob.id.desc()).limit(limit))
            if voicemail_id is not None:
                query = query.where(TranscriptionJob.interaction_id == voicemail_id)
            else:  # one row per voicemail (its latest job), newest voicemail first
                latest = select(func.max(TranscriptionJob.id)).group_by(TranscriptionJob.interaction_id)
                query = query.where(TranscriptionJob.id.in_(latest)).order_by(None).order_by(
                    TranscriptionJob.interaction_id.desc())
            if state is not None:
                query = query.where(TranscriptionJob.state == state)
            out = []
            for job, vm in (await s.execute(query)).all():
                out.append({"voicemail": vm.id, "job": job.id, "state": job.state, "attempts": job.attempts,
                            "error": job.error, "caller": vm.address, "call_id": vm.call_id, "ticket": vm.ticket_id,
                            "customer": vm.customer_id, "started_at": vm.started_at, "seconds": vm.recording_seconds,
                            "text": vm.body, "language": (vm.transcript or {}).get("language", ""),
                            "path": vm.recording_path, "handled_at": vm.handled_at, "handled_by": vm.handled_by,
                            **({"transcript": dict(vm.transcript or {})} if voicemail_id is not None else {})})
            return out

    # -- retention ------------------------------------------------------------------------

    def _deletable(self, path: str) -> bool:
        try:
            real = Path(path).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        return any(real.is_relative_to(root.resolve()) and real != root.resolve() for root in self.policy.recording_roots)

    async def apply_retention(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Purge recordings (files), transcripts and message bodies older than `retention_days`
        per type (0: keep); the interaction stays (the contact happened), marked `purged_at`.
        Only files inside `recording_roots` are deleted; others are listed as `refused`.
        Returns what was (or would be) removed."""
        now = self.clock()
        out: dict[str, Any] = {"dry_run": dry_run, "recordings": [], "refused": [], "bodies": 0, "transcripts": 0}
        async with self.writing() as s:
            days = self.policy.retention_days
            if days.get("recordings", 0) > 0:
                cutoff = now - days["recordings"] * 86400
                rows = (await s.execute(select(Interaction).where(Interaction.recording_path != "",
                                                                  Interaction.started_at < cutoff))).scalars().all()
                for row in rows:
                    if not self._deletable(row.recording_path):
                        out["refused"].append({"interaction": row.id, "path": row.recording_path,
                                               "why": "outside the recordings folders: not deleted"})
                        continue
                    out["recordings"].append({"interaction": row.id, "path": row.recording_path})
                    if not dry_run:
                        try:
                            os.unlink(row.recording_path)
                        except FileNotFoundError:
                            pass
                        row.recording_path, row.purged_at = "", now
                        row.recording_problem = "purged by retention"
            for kind, channels in (("transcripts", ("voicemail",)), ("bodies", ("chat", "sms", "email"))):
                if days.get(kind, 0) <= 0:
                    continue
                cutoff = now - days[kind] * 86400
                where = (Interaction.channel.in_(channels), Interaction.body != "", Interaction.started_at < cutoff)
                out[kind] = int((await s.execute(select(func.count()).select_from(Interaction).where(*where)))
                                .scalar_one())
                if not dry_run:
                    await s.execute(update(Interaction).where(*where).values(body="", purged_at=now)
                                    .execution_options(synchronize_session=False))
            if dry_run:
                await s.rollback()
        return out


def _new_job(voicemail: Interaction, language: str, now: float, engine: str = "") -> TranscriptionJob:
    return TranscriptionJob(interaction_id=voicemail.id, path=voicemail.recording_path, language=language,
                            engine=engine, state="queued", attempts=0, next_try_at=0.0, error="", created_at=now, updated_at=now)
