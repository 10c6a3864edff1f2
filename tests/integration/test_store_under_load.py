"""Voice first: the ticket store never makes a caller wait (docs/design.md#14).

Twenty real callers walk the hotline's IVR (the VIP check asks the store who they are, then the
menu and an order number) while another process holds SQLite's write lock: all reach the queue
with their digits, and once the lock goes every call is in the store. A caller who hangs up in the
greeting opens no ticket; a burst of withheld callers who give up in the queue is no customer at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from callcenter.tickets.core import TicketCore
from tests.support.system import HOTLINE, PLAIN, AmiWatch, System, find_call, wait_until

STALL_SECONDS = 5.0  # at least this long, and while every caller walks the flow


def store_path(system: System) -> str:
    url = system.config.store_url
    assert url.startswith("sqlite"), url
    return url.split(":///", 1)[1]


def call_log(system: System) -> dict[str, Any]:
    return system.api("/api/status")[1]["store"]


async def reach(system: System, caller_id: str, node: str, timeout: float = 40) -> None:
    def there() -> bool:
        record = find_call(system, caller_id, ended=False)
        return bool(record) and node in record["ivr_path"]
    await asyncio.to_thread(wait_until, there, timeout, f"{caller_id} at {node}")


async def stored_calls(system: System, call_ids: set[str], timeout: float = 60) -> list[dict[str, Any]]:
    """The store's interactions of these Linkedids, once all are written and ended."""
    core = TicketCore.build(system.config.store_url)
    await core.open()
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = [r for r in await core.calls.recent(500) if r["call_id"] in call_ids]
            if len(rows) == len(call_ids) and all(r["step"] == "ended" for r in rows):
                return rows
            assert time.monotonic() < deadline, f"{len(rows)} of {len(call_ids)} calls stored"
            await asyncio.sleep(0.2)
    finally:
        await core.close()


async def test_twenty_callers_walk_the_ivr_while_the_store_is_stalled(system: System, ami_watch: AmiWatch,
                                                                      phones) -> None:
    callers = {f"65055501{i:02d}": f"{7100 + i}" for i in range(20)}  # caller ID → the order number they key
    mark = ami_watch.mark()
    blocker = sqlite3.connect(store_path(system), timeout=5, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock: every write of the store waits
    stalled_at = time.monotonic()
    calls = []
    try:
        async def walk(caller_id: str, order: str) -> Any:
            call = await asyncio.to_thread(phones.caller(caller_id).call, HOTLINE)
            calls.append(call)
            await reach(system, caller_id, "hotline/main_menu")  # past the store's VIP check
            await asyncio.to_thread(call.send_dtmf, "3")
            await reach(system, caller_id, "hotline/order_status")
            await asyncio.to_thread(call.send_dtmf, f"{order}#")
            return call
        await asyncio.gather(*(walk(c, o) for c, o in callers.items()))
        for caller_id in callers:
            join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=caller_id, since=mark, timeout=40)
            assert join["Queue"] == "support", join
        for caller_id, order in callers.items():
            record = find_call(system, caller_id, ended=False)
            assert record is not None and record["variables"].get("order_number") == order, record
        assert call_log(system)["backlog"] > 0  # held, not written: the lock is still there
        await asyncio.sleep(max(0.0, STALL_SECONDS - (time.monotonic() - stalled_at)))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    call_ids = {find_call(system, c, ended=False)["call_id"] for c in callers}  # type: ignore[index]
    for call in calls:
        await asyncio.to_thread(call.hangup)
    rows = await stored_calls(system, call_ids)
    assert {r["variables"].get("order_number") for r in rows} == set(callers.values())
    assert {r["queue"] for r in rows} == {"support"} and len({r["ticket_id"] for r in rows}) == 20
    log = call_log(system)
    assert log["backlog_dropped"] == 0 and log["batches_failed"] == 0


async def test_a_caller_who_hangs_up_in_the_greeting_opens_no_ticket(system: System, ami_watch: AmiWatch,
                                                                     phones) -> None:
    number = "6505550201"
    call = await asyncio.to_thread(phones.caller(number).call, HOTLINE)
    await asyncio.to_thread(call.wait_for_audio, 200, 15)  # the greeting plays
    await asyncio.to_thread(call.hangup)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, number), 15, "the ended call")
    assert not record["queue"] and record["hung_up_by"] == "caller"
    await asyncio.to_thread(wait_until, lambda: call_log(system)["backlog"] == 0, 15, "the call log drained")
    status, data = system.api(f"/api/customers?q={number}")
    assert status == 404, data  # no customer was made for it, so no ticket either


async def test_fifty_withheld_callers_giving_up_in_the_queue_are_not_fifty_customers(
        system: System, ami_watch: AmiWatch, phones) -> None:
    core = TicketCore.build(system.config.store_url)
    await core.open()
    try:
        before = await core.calls.counts()
        for _ in range(5):  # ten at a time: a burst, within the test phones' means
            mark = ami_watch.mark()
            calls = await asyncio.gather(*(asyncio.to_thread(lambda: phones.caller("anonymous").call(PLAIN))
                                           for _ in range(10)))

            def joined(since: int = mark) -> bool:
                return sum(e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "anonymous"
                           for e in ami_watch.events[since:]) >= 10
            await asyncio.to_thread(wait_until, joined, 30, "ten withheld callers in the queue")
            for call in calls:
                await asyncio.to_thread(call.hangup)
        await asyncio.to_thread(wait_until, lambda: call_log(system)["backlog"] == 0 and
                                system.api("/api/status")[1]["calls"]["active"] == 0, 30, "the calls over and written")
        after = await core.calls.counts()
        assert after["customers"] == before["customers"] and after["tickets"] == before["tickets"], (before, after)
    finally:
        await core.close()
