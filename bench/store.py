"""Benchmark: the ticket store (prints figures; not a test).

    .venv/bin/python -m bench.store                       # SQLite and PostgreSQL, 100k customers, 1M interactions
    .venv/bin/python -m bench.store --customers 10000 --interactions 100000 --only sqlite

Run from the repository root, as root (PostgreSQL: a private server from tests/support/pgcluster.py
on 127.0.0.1, port CALLCENTER_TEST_PORT_BASE + 532, removed at the end). Three figures per database:

  (a) screen pop      the agent page's query when a phone rings (`Customers.screen_pop`, what
                      GET /api/customers?q= runs): the customer by a phone number in a national
                      format (normalized to E.164, looked up by identity), then in the same read its
                      identities, open tickets and the last 50 interactions.
                      p50 / p95 / max over --lookups random existing customers, on a store filled
                      with --customers customers (one phone each) and --interactions interactions
                      (spread over them, on one ticket per 10), loaded in bulk before timing.
  (b) call steps/s    CallLog (the real bus subscriber and its writer) behind a real Bus: --calls calls, each
                      4 steps (CallStarted, CallerQueued, AgentConnected, CallEnded with its record),
                      published as 100 calls in flight at once; the clock stops when the store
                      subscriber has written every step (bus.drain()).
  (c) size            SQLite only: the database file's bytes per 1,000 calls written in (b)
                      (after a WAL checkpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from callcenter.core import events as ev
from callcenter.core.bus import Bus
from callcenter.core.events import CallRecord
from callcenter.tickets.store import Store
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from callcenter.tickets.calls import EVENTS, CallLog
from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, Ticket


def phone_of(i: int) -> str:
    return f"+1415{2000000 + i:07d}"


async def fill(store: Store, customers: int, interactions: int) -> float:
    t0 = time.perf_counter()
    now = time.time() - 86400 * 30
    batch = 20_000
    async with store.engine.begin() as conn:
        for start in range(0, customers, batch):
            ids = range(start + 1, min(customers, start + batch) + 1)
            await conn.execute(insert(Customer), [{"id": i, "name": f"Customer {i}", "unidentified": False, "tags": [],
                                                   "created_at": now, "updated_at": now} for i in ids])
            await conn.execute(insert(CustomerIdentity), [{"id": i, "customer_id": i, "kind": "phone",
                                                           "value": phone_of(i), "raw": phone_of(i), "valid": True,
                                                           "created_at": now} for i in ids])
            await conn.execute(insert(Ticket), [{"id": i, "customer_id": i, "subject": "Call", "topic": "support",
                                                 "status": "open" if i % 3 else "closed", "priority": "normal",
                                                 "assignee": "", "tags": [], "callback_requested": False,
                                                 "created_at": now, "updated_at": now, "version": 1} for i in ids])
        for start in range(0, interactions, batch):
            rows = []
            for n in range(start, min(interactions, start + batch)):
                c = n % customers + 1
                rows.append({"ticket_id": c, "customer_id": c, "channel": "voice", "direction": "inbound",
                             "step": "ended", "started_at": now + n, "ended_at": now + n + 60, "address": phone_of(c),
                             "name": "", "call_id": f"bench.{n}", "did": "8005550100", "flow": "hotline",
                             "ivr_path": ["hotline/welcome", "hotline/main_menu", "pressed:2"],
                             "variables": {"order_number": "1234"}, "queue": "support", "agent": "agent1",
                             "wait_seconds": 12, "talk_seconds": 48, "hangup_cause": 16,
                             "hangup_cause_text": "Normal Clearing", "hung_up_by": "caller", "abandoned": False,
                             "callback_of": "", "callback_request": "", "record": {}, "reconciled": False,
                             "recording_path": "", "recording_sha256": "", "recording_problem": "", "subject": "",
                             "body": ""})
            await conn.execute(insert(Interaction), rows)
        if store.url.startswith("postgresql"):
            for table in ("customers", "identities", "tickets", "interactions"):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
    async with store.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


async def screen_pop(store: TicketCore, customers: int, lookups: int) -> list[float]:
    times = []
    rng = random.Random(7)
    for _ in range(lookups):
        i = rng.randint(1, customers)
        national = f"(415) {str(2000000 + i)[:3]}-{str(2000000 + i)[3:]}"
        t0 = time.perf_counter()
        file = await store.customers.screen_pop(national, 50)
        times.append(time.perf_counter() - t0)
        assert file is not None and file["customer"]["id"] == i and file["timeline"], (national, file)
    return times


async def call_steps(store: TicketCore, calls: int) -> tuple[float, int]:
    bus = Bus()
    writer = CallLog(store, lambda did: "support")
    bus.subscribe("store", writer.on_event, *EVENTS)
    runner = asyncio.create_task(bus.run())
    writing = asyncio.create_task(writer.run())
    t0 = time.perf_counter()
    base = time.time()
    for wave in range(0, calls, 100):
        ids = [f"load.{n}" for n in range(wave, min(calls, wave + 100))]
        for n, cid in enumerate(ids):
            await bus.publish(ev.CallStarted(cid, f"+1650{3000000 + wave + n:07d}", "", "8005550100", "inbound", base))
        for cid in ids:
            await bus.publish(ev.CallerQueued(cid, "support", "", base + 1))
        for cid in ids:
            await bus.publish(ev.AgentConnected(cid, "support", "agent1", 5, base + 6))
        for n, cid in enumerate(ids):
            record = CallRecord(cid, f"+1650{3000000 + wave + n:07d}", "", "8005550100", "inbound", base,
                                answered_at=base, queue="support", queued_at=base + 1, agent="agent1",
                                agent_answered_at=base + 6, ended_at=base + 66, hangup_cause=16,
                                hangup_cause_text="Normal Clearing", hung_up_by="caller")
            await bus.publish(ev.CallEnded(record, base + 66))
    await bus.drain()
    await writer.drained()
    elapsed = time.perf_counter() - t0
    runner.cancel()
    writing.cancel()
    errors = bus.stats()["store"]["errors"] + writer.failed
    return elapsed, errors


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def run_one(name: str, url: str, args: argparse.Namespace, sqlite_file: Path | None) -> None:
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    try:
        loaded = await fill(store.store, args.customers, args.interactions)
        await screen_pop(store, args.customers, 20)  # warm the caches
        times = await screen_pop(store, args.customers, args.lookups)
        print(f"{name:<10} filled {args.customers:,} customers / {args.interactions:,} interactions in {loaded:.0f} s; "
              f"screen pop p50 {pct(times, 0.5):.2f} ms  p95 {pct(times, 0.95):.2f} ms  max {max(times) * 1000:.2f} ms "
              f"(mean {statistics.mean(times) * 1000:.2f} ms, {len(times)} lookups)", flush=True)
    finally:
        await store.close()
    # (b) and (c) on an empty store of the same kind.
    if sqlite_file is not None:
        url = f"sqlite+aiosqlite:///{sqlite_file.with_name('steps.db')}"
        await asyncio.to_thread(db.upgrade, url)
    else:
        async with Store(url).engine.begin() as conn:
            await conn.execute(text("TRUNCATE interactions, ticket_changes, tickets, identities, merges, customers "
                                    "RESTART IDENTITY CASCADE"))
    store = TicketCore.build(url)
    await store.open()
    try:
        elapsed, errors = await call_steps(store, args.calls)
        steps = args.calls * 4
        print(f"{name:<10} call steps: {steps:,} steps of {args.calls:,} calls (100 in flight) in {elapsed:.1f} s = "
              f"{steps / elapsed:,.0f} steps/s ({args.calls / elapsed:,.0f} calls/s), subscriber errors {errors}",
              flush=True)
    finally:
        await store.close()
    if sqlite_file is not None:
        steps_db = sqlite_file.with_name("steps.db")
        import sqlite3
        with sqlite3.connect(steps_db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = steps_db.stat().st_size
        print(f"{name:<10} size: {size / 1e6:.2f} MB for {args.calls:,} calls = {size / args.calls * 1000 / 1e6:.2f} MB "
              f"per 1,000 calls (customer, identity, ticket, history, interaction with its record)", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callcenter-bench-") as tmp:
        if args.only in (None, "sqlite"):
            path = Path(tmp) / "store.db"
            await run_one("SQLite", f"sqlite+aiosqlite:///{path}", args, path)
        if args.only in (None, "postgresql"):
            from tests.support.pgcluster import PgCluster
            cluster = PgCluster(Path(tmp), int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 532)
            url = cluster.start()
            try:
                await run_one("PostgreSQL", url, args, None)
            finally:
                cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
