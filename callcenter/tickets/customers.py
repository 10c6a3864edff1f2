"""Customers: one file per customer, whatever the channel, found by normalized identities
(identity.py), merged and unmerged by people (audited, reversible).

The functions on a transaction (`AsyncSession`) are the central rules every writer follows: which
customer an id names now (`current`, through merges), who owns an identity (`by_identity`), whose
a contact is (`for_contact`, created if new), adding an identity (`add_identity`). `Customers` is
the operations of the REST API, the CLI, the screen pop and the IVR, one transaction each.

Errors: NotFound `unknown-customer`, `unknown-merge`; Conflict `identity-taken`, `same-customer`,
`merge-undone`, `merge-loop`; Refused `bad-text`; IdentityError `invalid-identity`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.core.errors import Conflict, NotFound, Refused
from callcenter.tickets import identity
from callcenter.tickets import rules
from callcenter.tickets.inputs import MAX_SHORT, MAX_TAGS, checked_text, is_id
from callcenter.tickets.rows import (CustomerFile, CustomerRow, ListedCustomer, MergeRow, UnmergeRow, customer_row,
                                     identity_row, interaction_row, ticket_row)
from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, Merge, Ticket
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

TIMELINE_LIMIT = 50  # interactions in a customer file
MAX_MERGE_CHAIN = 100  # customers merged into one another, one after the other


def _taken_meanwhile() -> Conflict:
    return Conflict("identity-taken", "one of these identities was just given to another customer "
                    "(merge them with `callcenter customer merge`)")


async def current(s: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer:
    """Customer #`customer_id`, or the one it was merged into (followed to the end). `lock`:
    PostgreSQL locks the rows read (FOR UPDATE) until the transaction ends. Errors: NotFound
    `unknown-customer`; Conflict `merge-loop` (a chain that comes back on itself: never written
    by merge(), refused)."""
    customer = await s.get(Customer, customer_id, with_for_update=lock) if is_id(customer_id) else None
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


async def by_identity(s: AsyncSession, ident: identity.Identity) -> Customer | None:
    """The customer who holds `ident` now (through merges), or None. Errors: as `current`."""
    row = (await s.execute(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == ident.kind, CustomerIdentity.value == ident.value))).scalar_one_or_none()
    return None if row is None else await current(s, row)


async def for_contact(s: AsyncSession, kind: str, raw: str, *, name: str, region: str, now: float) -> Customer:
    """The customer a contact from `raw` (a caller ID, an address, a chat visitor; identity
    `kind`) belongs to, created if new; `name` is given to a customer who has none. A withheld
    caller ID (or text that is no identity) gets a new unidentified customer, never matched again.
    `region`: for numbers without a country code."""
    try:
        ident = identity.parse(kind, raw, region)
    except identity.IdentityError:
        ident = None
    name = name[:MAX_SHORT]
    if ident is not None:
        found = await by_identity(s, ident)
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


async def add_identity(s: AsyncSession, customer: Customer, kind: str, raw: str, *, region: str, now: float) -> None:
    """Give `customer` the identity `raw` of `kind` (nothing if it has it already). Errors:
    IdentityError `invalid-identity` (also a withheld number); Conflict `identity-taken` (another
    customer's)."""
    ident = identity.parse(kind, raw, region)
    if ident is None:
        raise identity.IdentityError(f"{raw!r} is withheld or not a number: it identifies nobody")
    other = await by_identity(s, ident)
    if other is not None and other.id != customer.id:
        raise Conflict("identity-taken", f"{ident.kind} {ident.value} belongs to customer #{other.id} "
                       "(merge them with `callcenter customer merge`)", {"customer": other.id})
    if other is None:
        s.add(CustomerIdentity(customer_id=customer.id, kind=ident.kind, value=ident.value, raw=ident.raw,
                               valid=ident.valid, created_at=now))
        customer.unidentified = False
    customer.updated_at = now


async def file_of(s: AsyncSession, customer: Customer, limit: int = TIMELINE_LIMIT) -> CustomerFile:
    """The customer's file (rows.CustomerFile) with its last `limit` interactions."""
    idents = (await s.execute(select(CustomerIdentity).where(
        CustomerIdentity.customer_id == customer.id).order_by(CustomerIdentity.id))).scalars().all()
    tickets = (await s.execute(select(Ticket).where(
        Ticket.customer_id == customer.id, Ticket.status.in_(rules.OPEN_STATUSES + ("resolved",)))
        .order_by(Ticket.updated_at.desc()))).scalars().all()
    timeline = (await s.execute(select(Interaction).where(Interaction.customer_id == customer.id)
                                .order_by(Interaction.started_at.desc()).limit(limit))).scalars().all()
    return {"customer": customer_row(customer), "identities": [identity_row(i) for i in idents],
            "open_tickets": [ticket_row(t) for t in tickets],
            "timeline": [interaction_row(i) for i in timeline]}


async def _phones_of(s: AsyncSession, customer_id: int) -> list[str]:
    rows = await s.execute(select(CustomerIdentity.value).where(CustomerIdentity.customer_id == customer_id,
                                                                CustomerIdentity.kind == "phone"))
    return list(rows.scalars())


def unknown_caller() -> dict[str, Any]:
    """The IVR's facts of a caller the store does not know."""
    return {"known": False, "tags": [], "open_tickets": 0, "id": None}


@on_store_loop
class Customers:
    """The customers of one store: find, list, create, update, the file (screen pop), the IVR's
    facts, merge and unmerge. Each call is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._merging = asyncio.Lock()  # one merge or unmerge at a time in this controller (see merge)
        # Told a created or edited customer's phone numbers (E.164) once committed: the IVR's
        # caller lookup (tickets/known_phones.py) knows a customer tagged `vip` a moment ago.
        self.on_phones: Callable[[list[str]], None] = lambda values: None

    async def find(self, text: str) -> CustomerRow | None:
        """A customer by `#ID` or any identity in any common format (`+1 415-555-2671`,
        `(415) 555-2671`, an email); None if nobody. Errors: IdentityError `invalid-identity`."""
        text = text.strip()
        async with self.store.session() as s:
            if text.startswith("#"):  # a customer id; a bare number is a phone number
                if not text[1:].isdigit() or not is_id(int(text[1:])):
                    return None
                customer = await s.get(Customer, int(text[1:]))
                return None if customer is None else customer_row(await current(s, customer.id))
            ident = identity.guess(text, self.store.policy.default_region)
            if ident is None:
                return None
            found = await by_identity(s, ident)
            return None if found is None else customer_row(found)

    async def recent(self, limit: int = 100) -> list[ListedCustomer]:
        """Customers (not merged away), latest activity first, each with its identity values."""
        async with self.store.session() as s:
            rows = (await s.execute(select(Customer).where(Customer.merged_into.is_(None))
                                    .order_by(Customer.updated_at.desc(), Customer.id.desc()).limit(limit))).scalars().all()
            idents = (await s.execute(select(CustomerIdentity).where(
                CustomerIdentity.customer_id.in_([c.id for c in rows])))).scalars().all()
            out: list[ListedCustomer] = []
            for c in rows:
                out.append({**customer_row(c), "identities": [i.value for i in idents if i.customer_id == c.id]})
            return out

    async def create(self, name: str, identities: Sequence[tuple[str, str]] = (), actor: str = "admin") -> CustomerRow:
        """A new customer with identities [(kind, raw)]. Errors: Refused `bad-text`; IdentityError
        `invalid-identity`; Conflict `identity-taken`."""
        name = checked_text(name, "name")
        now = self.store.clock()
        try:
            async with self.store.writing() as s:
                customer = Customer(name=name, unidentified=False, tags=[], created_at=now, updated_at=now)
                s.add(customer)
                await s.flush()
                for kind, raw in identities:
                    await add_identity(s, customer, kind, raw, region=self.store.policy.default_region, now=now)
                self.store.writes += 1
                row, phones = customer_row(customer), await _phones_of(s, customer.id)
        except IntegrityError:  # another request took the identity between our check and our insert
            raise _taken_meanwhile() from None
        self.on_phones(phones)
        return row

    async def update(self, customer_id: int, *, name: str | None = None, add_tags: Sequence[str] = (),
                     remove_tags: Sequence[str] = (), add_identities: Sequence[tuple[str, str]] = ()) -> CustomerRow:
        """Rename, tag/untag (`vip`; tags are lower-cased), add identities [(kind, raw)]. Errors:
        NotFound `unknown-customer`; Refused `bad-text`; IdentityError `invalid-identity`; Conflict
        `identity-taken`."""
        try:
            return await self._update(customer_id, name, add_tags, remove_tags, add_identities)
        except IntegrityError:  # another request took the identity between our check and our insert
            raise _taken_meanwhile() from None

    async def _update(self, customer_id: int, name: str | None, add_tags: Sequence[str], remove_tags: Sequence[str],
                      add_identities: Sequence[tuple[str, str]]) -> CustomerRow:
        now = self.store.clock()
        async with self.store.writing() as s:
            customer = await current(s, customer_id)
            if name is not None:
                customer.name = checked_text(name, "name")
            tags = list(customer.tags)
            for tag in add_tags:
                tag = checked_text(tag, "tag", 40, empty=False).strip().lower()
                if tag not in tags:
                    tags.append(tag)
            tags = [t for t in tags if t not in {r.strip().lower() for r in remove_tags}]
            if len(tags) > MAX_TAGS:
                raise Refused("bad-text", f"a customer has at most {MAX_TAGS} tags")
            customer.tags, customer.updated_at = tags, now
            for kind, raw in add_identities:
                await add_identity(s, customer, kind, raw, region=self.store.policy.default_region, now=now)
            self.store.writes += 1
            row, phones = customer_row(customer), await _phones_of(s, customer.id)
        self.on_phones(phones)
        return row

    async def file(self, customer_id: int, limit: int = TIMELINE_LIMIT) -> CustomerFile:
        """The screen pop: the customer, identities, open tickets, and the last `limit` interactions
        newest first. Errors: NotFound `unknown-customer`."""
        async with self.store.session() as s:
            return await file_of(s, await current(s, customer_id), limit)

    async def screen_pop(self, text: str, limit: int = TIMELINE_LIMIT) -> CustomerFile | None:
        """`find` and `file` in one read (what a ringing phone asks). None if nobody has that
        identity. Errors: IdentityError `invalid-identity`."""
        found = await self.find(text) if text.strip().startswith("#") else None
        if found is not None:
            return await self.file(found["id"], limit)
        if text.strip().startswith("#"):
            return None
        ident = identity.guess(text, self.store.policy.default_region)
        if ident is None:
            return None
        async with self.store.session() as s:
            customer = await by_identity(s, ident)
            return None if customer is None else await file_of(s, customer, limit)

    async def facts(self, caller_id: str) -> dict[str, Any]:
        """What an IVR flow may branch on for a caller ID (`customer.tags contains vip`): `known`
        (bool), `tags` (list of str), `open_tickets` (int), `id` (int, None when not known)."""
        ident = identity.caller(caller_id, self.store.policy.default_region)
        if ident is None:
            return unknown_caller()
        # One statement on a connection of its own, never behind the writers (the call path asks this
        # for every caller of a flow that branches on the customer; docs/design.md#14).
        open_tickets = (select(func.count()).select_from(Ticket)
                        .where(Ticket.customer_id == Customer.id, Ticket.status.in_(rules.OPEN_STATUSES))
                        .scalar_subquery())
        async with self.store.session() as s:
            found = (await s.execute(select(Customer.id, Customer.tags, Customer.merged_into, open_tickets)
                                     .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                                     .where(CustomerIdentity.kind == ident.kind, CustomerIdentity.value == ident.value))
                     ).first()
            if found is None:
                return unknown_caller()
            if found.merged_into is not None:  # merged away: the customer it lives on now (rare)
                customer = await current(s, found.id)
                count = (await s.execute(select(func.count()).select_from(Ticket).where(
                    Ticket.customer_id == customer.id, Ticket.status.in_(rules.OPEN_STATUSES)))).scalar_one()
                return {"known": True, "tags": list(customer.tags), "open_tickets": int(count), "id": customer.id}
            return {"known": True, "tags": list(found.tags or []), "open_tickets": int(found[3]), "id": found.id}

    async def phones_since(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        """Phone identities with an id above `after_id`, oldest first, at most `limit`:
        [(identity id, E.164 value)] (tickets/known_phones.py keeps them in memory)."""
        async with self.store.session() as s:
            rows = await s.execute(select(CustomerIdentity.id, CustomerIdentity.value)
                                   .where(CustomerIdentity.kind == "phone", CustomerIdentity.id > after_id)
                                   .order_by(CustomerIdentity.id).limit(limit))
            return [(int(i), str(v)) for i, v in rows]

    async def merge(self, target_id: int, source_id: int, actor: str) -> MergeRow:
        """Merge customer `source_id` into `target_id`: identities, tickets and interactions move;
        the source stays as a pointer. Audited and reversible (`unmerge`). Errors: NotFound
        `unknown-customer`; Conflict `same-customer`, `merge-loop`; Refused `bad-text` (actor)."""
        actor = checked_text(actor, "actor", empty=False)
        now = self.store.clock()
        # Two crossed merges (A into B, B into A) can never both happen: SQLite writes one
        # transaction at a time (Store.writing); on PostgreSQL the rows are locked, and one merge at
        # a time in this controller keeps two crossed ones from locking them in opposite orders.
        async with self._merging, self.store.writing() as s:
            target = await current(s, target_id, lock=True)
            source = await current(s, source_id, lock=True)
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
            self.store.writes += 1
            return {"merge_id": merge.id, "target": target.id, "source": source.id, "moved": ids}

    async def unmerge(self, merge_id: int, actor: str) -> UnmergeRow:
        """Undo a merge: what moved moves back (tickets and interactions the target has gained
        since stay). Errors: NotFound `unknown-merge`; Conflict `merge-undone`; Refused `bad-text`."""
        actor = checked_text(actor, "actor", empty=False)
        now = self.store.clock()
        async with self._merging, self.store.writing() as s:
            merge = await s.get(Merge, merge_id) if is_id(merge_id) else None
            if merge is None:
                raise NotFound("unknown-merge", f"no merge #{merge_id}")
            if merge.undone_at is not None:
                raise Conflict("merge-undone", f"merge #{merge_id} was undone by {merge.undone_by}")
            source = await s.get(Customer, merge.source_id, with_for_update=True)
            target = await s.get(Customer, merge.target_id, with_for_update=True)
            assert source is not None and target is not None
            # What moved is wherever the target's rows are now (the target may have been merged on
            # since): only rows still there move back; rows a later unmerge already took home stay.
            holder = await current(s, target.id, lock=True)
            for model in (CustomerIdentity, Ticket, Interaction):
                moved = merge.moved.get(model.__tablename__, [])
                if moved:
                    await s.execute(update(model).where(model.id.in_(moved), model.customer_id == holder.id)
                                    .values(customer_id=source.id).execution_options(synchronize_session=False))
            target.tags = [t for t in target.tags if t not in merge.moved.get("tags", [])]
            target.unidentified = bool(merge.moved.get("target_unidentified", target.unidentified))
            source.merged_into, source.updated_at, target.updated_at = None, now, now
            merge.undone_at, merge.undone_by = now, actor
            self.store.writes += 1
            return {"merge_id": merge.id, "target": target.id, "source": source.id, "restored": merge.moved}
