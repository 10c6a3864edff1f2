"""The phone numbers the store holds, in memory: the IVR's caller lookup never waits on the store
for a caller it does not know (docs/design.md#14).

A flow that branches on the customer (`if: customer.tags, contains: vip`) asks the store who the
caller is as the call enters the flow. In a burst most callers are new: measured with 1,000 callers
at 50/s (bench/queue_load.py --only ivr), that lookup waited out its 0.5 s limit for 472 of them
while the store wrote the burst. Here a number the store does not hold is answered at once; only a
number it holds is looked up (Customers.facts, with the IVR's time limit as before).

The set is filled when the controller starts, then takes the identities added since every
REFRESH_SECONDS (identities are added, or moved between customers by a merge: a number only
leaves the store with its customer's deletion, and a number still in the set then costs a lookup
that answers "unknown"). A customer created or edited through the API or the CLI (`customer tag
PHONE vip`) is known at once; one the store made for a contact (a call, an SMS) less than
REFRESH_SECONDS ago is not yet recognised by the IVR. Memory: one 64-bit hash per phone identity, about 60 MB per million.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from callcenter.tickets import identity
from callcenter.tickets.customers import Customers, unknown_caller

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
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
        customers.on_phones = self.add  # a customer created or tagged here is known at once

    def add(self, values: list[str]) -> None:
        """Hold these E.164 numbers (called from the store's thread: a set's add is atomic)."""
        self.hashes.update(hash(v) for v in values)

    async def refresh(self) -> int:
        """Take the phone identities added since the last look (all of them the first time).
        Returns how many. Errors: the store's (SQLAlchemy) errors."""
        added = 0
        while True:
            rows = await self.customers.phones_since(self.last_id, CHUNK)
            for identity_id, value in rows:
                self.hashes.add(hash(value))
                self.last_id = max(self.last_id, identity_id)
            added += len(rows)
            if len(rows) < CHUNK:
                break
        self.filled = True
        return added

    async def run(self) -> None:
        while True:
            await self.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the store is away: callers are looked up meanwhile
                log.warning("known phone numbers not refreshed (%s); trying again", type(exc).__name__)

    def holds(self, caller_id: str) -> bool:
        """Might the store know this caller ID? False for a withheld or unusable one and for a
        number not in the store (once filled)."""
        try:
            ident = identity.phone(caller_id, self.region())
        except identity.IdentityError:
            return False
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
