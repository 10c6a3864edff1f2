"""The IVR's caller lookup: a number the store does not hold is answered at once (a burst of new
callers never waits on the store); a number it holds is looked up; new numbers are taken by the
refresh, a customer created or tagged through the API at once."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from callcenter.core import events as ev
from callcenter.core.events import CallRecord
from callcenter.tickets.calls import CallLog
from callcenter.tickets.core import TicketCore
from callcenter.tickets.store import StorePolicy

T0 = 1_800_000_000.0


@pytest.fixture
async def core(store_url: str) -> AsyncIterator[TicketCore]:
    c = TicketCore.build(store_url, StorePolicy(default_region="US"), clock=lambda: T0 + 100)
    c.store.start_thread()
    await c.open()
    yield c
    await c.close()


async def test_unknown_callers_never_wait_on_the_store_known_ones_are_looked_up(core: TicketCore) -> None:
    vera = await core.customers.create("Vera", [("phone", "+14155550101")])
    await core.customers.update(vera["id"], add_tags=["vip"])
    phones = core.phones
    await phones.refresh()
    assert (await phones.facts("(415) 555-0101"))["tags"] == ["vip"] and phones.looked_up == 1

    async def stalled(caller_id: str) -> dict[str, Any]:
        await asyncio.sleep(3600)  # a store that does not answer
        return {}
    core.customers.facts = stalled  # type: ignore[method-assign]
    for caller in ("4155550199", "anonymous", "", "not a number"):
        facts = await asyncio.wait_for(phones.facts(caller), 0.1)  # at once: the stalled store is never asked
        assert facts == {"known": False, "tags": [], "open_tickets": 0, "id": None}, caller
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(phones.facts("+14155550101"), 0.1)  # a known number is looked up (IVR: 0.5 s limit)
    assert phones.describe()["caller_lookups"] == {"answered_at_once": 4, "looked_up": 2}


async def test_new_numbers_are_known_after_a_refresh_or_at_once_when_made_through_the_api(core: TicketCore) -> None:
    phones = core.phones
    await phones.refresh()
    assert not phones.holds("+14155550102")
    await core.customers.create("Ann", [("phone", "4155550102")])
    assert phones.holds("+1 415 555 0102")  # created through the API: known before the next refresh
    # A caller the call log wrote (in bulk, on the store's thread): known after the next refresh.
    record = CallRecord("c.1", "+14155550103", "", "8005550100", "inbound", T0, answered_at=T0, queue="support",
                        queued_at=T0 + 1, ended_at=T0 + 30, hangup_cause=16)
    log = CallLog(core, lambda did: "support")
    writing = asyncio.create_task(log.run())
    for event in (ev.CallStarted("c.1", "+14155550103", "", "8005550100", "inbound", T0),
                  ev.CallerQueued("c.1", "support", "+14155550103", T0 + 1), ev.CallEnded(record, T0 + 30)):
        log.on_event(event)
    await asyncio.wait_for(log.drained(), 30)
    writing.cancel()
    assert not phones.holds("+14155550103")
    assert await phones.refresh() == 1  # the caller's number (Ann's was held already)
    assert phones.holds("4155550103") and phones.describe()["known_phones"] == 2


async def test_a_refill_forgets_numbers_gone_from_the_store_and_a_refresh_looks_back(core: TicketCore) -> None:
    phones = core.phones
    await phones.refresh()
    phones.add(["+14155550999"])  # as if a customer had been deleted since
    await core.customers.create("Ann", [("phone", "4155550104")])
    await phones.refill()
    assert not phones.holds("+14155550999") and phones.holds("+14155550104")
    phones.hashes.clear()  # as if an identity with a lower id had committed late (PostgreSQL)
    assert await phones.refresh() == 1 and phones.holds("4155550104")
