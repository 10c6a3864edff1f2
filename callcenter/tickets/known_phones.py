"""The phone numbers the store holds, in memory: the IVR's caller lookup never waits on the store
for a caller it does not know (docs/design.md#14).

A flow that branches on the customer (`if: customer.tags, contains: vip`) asks the store who the
caller is as the call enters the flow. In a burst most callers are new: measured with 1,000 callers
at 50/s (bench/queue_load.py --only ivr), that lookup waited out its 0.5 s limit for 472 of them
while the store wrote the burst. Here a number the store does not hold is answered at once; only a
number it holds is looked up (Customers.facts, with the IVR's time limit as before).

The set is filled when the controller starts, then takes the identities added since every
REFRESH_SECONDS, and is read again whole every REFILL_SECONDS (identities are added, or moved
between customers by a merge: a number only leaves the store with its customer's deletion, and a
number still in the set then costs a lookup that answers "unknown"). A customer created or edited
through the API or the CLI (`customer tag PHONE vip`) is known at once; one the store made for a
contact (a call, an SMS) less than REFRESH_SECONDS ago is not yet recognised by the IVR.
Memory: one 64-bit hash per phone identity, about 60 MB per million.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from callcenter.tickets import identity
from callcenter.tickets.customers import Customers, unknown_caller

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
REFILL_SECONDS = 600.0  # the whole set read again (see refill)
LOOKBACK = 1000  # identity ids each refresh reads again below the highest seen (see refresh)
CHUNK = 50_000  # identities read per statement (the first fill of a big store takes several)


class KnownPhones:
    """`facts(caller_id)`: Customers.facts, answered at once for a number the store does not hold.
    `refresh()` takes the new identities; `run()` refreshes every REFRESH_SECONDS until cancelled."""

    def __init__(self, customers: Customers, region: Callable[[], str],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """`region()`: ISO 3166 code for national numbers (store.default_region)."""
        self.customers, self.region, self.sleep = customers, region, sleep
        self.hashes: set[int] = set()  # hash() of each E.164 value: a collision only costs a lookup
        self.last_id = 0
        self.filled = False  # until the first fill, every caller is looked up
        self.answered_at_once = self.looked_up = 0
        self.hashes_since_refill: set[int] = set()
        customers.on_phones = self.add  # a customer created or tagged here is known at once

    def add(self, values: list[str]) -> None:
        """Hold these E.164 numbers (called from the store's thread: a set's add is atomic)."""
        new = {hash(v) for v in values}
        self.hashes.update(new)
        self.hashes_since_refill.update(new)  # a refill running meanwhile keeps them

    async def refresh(self) -> int:
        """Take the phone identities added since the last look (all of them the first time),
        looking LOOKBACK ids back: on PostgreSQL a transaction that took a lower id may commit
        after one that took a higher. Returns how many numbers it newly holds. Errors: the
        store's (SQLAlchemy) errors."""
        held = len(self.hashes)
        hashes, last_id = await _read(self.customers, max(0, self.last_id - LOOKBACK) if self.filled else 0)
        self.hashes.update(hashes)
        self.last_id, self.filled = max(self.last_id, last_id), True
        return len(self.hashes) - held

    async def refill(self) -> None:
        """Read every phone identity again into a new set (what a look back cannot see: an id
        SQLite reused after a deletion, a transaction that committed later still); numbers no
        longer in the store go. Errors: the store's."""
        self.hashes_since_refill = set()
        hashes, last_id = await _read(self.customers, 0)
        self.hashes, self.last_id = hashes | self.hashes_since_refill, last_id  # (added meanwhile: kept)

    async def run(self) -> None:
        """Refresh every REFRESH_SECONDS, refill every REFILL_SECONDS, until cancelled."""
        since_refill = 0.0
        while True:
            await self.sleep(REFRESH_SECONDS)
            since_refill += REFRESH_SECONDS
            try:
                if since_refill >= REFILL_SECONDS:
                    since_refill = 0.0
                    await self.refill()
                else:
                    await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the store is away: callers are looked up meanwhile
                log.warning("known phone numbers not refreshed (%s); trying again", type(exc).__name__)

    def holds(self, caller_id: str) -> bool:
        """Might the store know this caller ID? False for a withheld or unusable one and for a
        number not in the store (once filled)."""
        ident = identity.caller(caller_id, self.region())
        return ident is not None and (not self.filled or hash(ident.value) in self.hashes)

    async def facts(self, caller_id: str) -> dict[str, Any]:
        """What an IVR flow may branch on for a caller ID (Customers.facts)."""
        if not self.holds(caller_id):
            self.answered_at_once += 1
            return unknown_caller()
        self.looked_up += 1
        return await self.customers.facts(caller_id)

    def describe(self) -> dict[str, Any]:
        return {"known_phones": len(self.hashes), "caller_lookups": {"answered_at_once": self.answered_at_once,
                                                                     "looked_up": self.looked_up}}


async def _read(customers: Customers, after_id: int) -> tuple[set[int], int]:
    """The hashes of the phone identities above `after_id`, and the highest id read."""
    hashes: set[int] = set()
    while True:
        rows = await customers.phones_since(after_id, CHUNK)
        hashes.update(hash(value) for _, value in rows)
        after_id = max([after_id, *(identity_id for identity_id, _ in rows)])
        if len(rows) < CHUNK:
            return hashes, after_id
