"""Benchmark: a new message → the offer in its assignee's page, with many pages and open tickets.
Prints figures; not a test.

    .venv/bin/python -m bench.inbox                        # 100 agents' pages, 1,000 open tickets, 200 SMS
    .venv/bin/python -m bench.inbox --store postgresql     # the same on a PostgreSQL of its own

The system is `app.build` as `callcenter run` wires it (the store on its own thread, the inbox's
offer rounds, the live hub), with a fake AMI (no call is placed: this measures the inbox, not
Asterisk) and a real HTTP server on 127.0.0.1: `--agents` agents log in and open their page's
WebSocket (/api/ws). The store holds `--open` open tickets first (90 % assigned to an agent and
answered, 10 % waiting unassigned: offered at once). Then `--messages` SMS from new customers
arrive through the SMS service (what the signed webhook calls), paced at `--rate` a second; the
figure is the time from the message's arrival to the `offer` frame in the page of the agent it is
offered to (one clock: this process). Budget (docs/inbox.md): p95 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._harness import exit_on_sigterm, percentile
from callcenter.channels.sms.feature import SmsFeature
from tests.support.webapp import running_app

CONFIG = """\
runtime_dir: {runtime}
queues:
  support: {{strategy: ringall}}
agents:
{agents}
dids:
  "8005550100": {{queue: support}}
routing:
  max_open_items: 5
  offer_seconds: 60
"""


async def page(base: str, name: str, password: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post("/api/login", json={"name": name, "password": password}) as r:
        r.raise_for_status()
    return session, await session.ws_connect("/api/ws", max_msg_size=0)


async def run(args: argparse.Namespace, folder: Path, store_url: str | None) -> None:
    agents = "".join(f'  agent{i}: {{extension: "{1000 + i}", queues: [support]}}\n' for i in range(1, args.agents + 1))
    text = CONFIG.format(runtime=folder, agents=agents.rstrip("\n"))
    async with running_app(text, folder, store_url=store_url, store_thread=True) as (client, creds, app):
        store = app.store
        sms = app.feature(SmsFeature)
        assert store is not None and sms is not None
        t0 = time.perf_counter()
        for i in range(args.open):
            row, _ = await store.messages.inbound("sms", f"+1415{i:07d}", f"seeded message {i}", queue="support",
                                                  external_id=f"SEED{i}")
            if i % 10:  # 90 %: an agent has it and answered
                ticket = row["ticket_id"]
                assert ticket is not None
                await store.work.accept(ticket, f"agent{1 + i % args.agents}")
                await store.messages.outbound(ticket, "sms", f"+1415{i:07d}", "answered", actor="agent")
        print(f"{args.open} open tickets seeded in {time.perf_counter() - t0:.1f} s "
              f"({args.open // 10} waiting unassigned)")
        base = str(client.make_url(""))
        pages = [await page(base, f"agent{i}", creds.web_passwords[f"agent{i}"]) for i in range(1, args.agents + 1)]
        arrived: dict[int, float] = {}  # ticket → when its message arrived
        offered: list[float] = []
        done = asyncio.Event()

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "offer":
                    at = arrived.pop(data["item"]["ticket"], None)
                    if at is not None:
                        offered.append((time.perf_counter() - at) * 1000)
                        if len(offered) == args.messages:
                            done.set()

        readers = [asyncio.create_task(read(ws)) for _, ws in pages]
        await asyncio.sleep(2)  # the seeded waiting items are offered first
        t0 = time.perf_counter()
        for i in range(args.messages):
            started = time.perf_counter()
            row, _ = await sms.service.receive(f"+1646{i:07d}", f"new question {i}", f"SM{i:032d}", "8005550100")
            assert row["ticket_id"] is not None
            arrived[row["ticket_id"]] = started
            await asyncio.sleep(max(0.0, t0 + (i + 1) / args.rate - time.perf_counter()))
        try:
            await asyncio.wait_for(done.wait(), 30)
        except asyncio.TimeoutError:
            pass
        print(f"new SMS → offer in the assignee's page, {args.agents} pages open, {args.open} open tickets, "
              f"{args.rate:g} messages/s: n={len(offered)} p50 {percentile(offered, 50):.0f} ms, "
              f"p95 {percentile(offered, 95):.0f} ms, max {max(offered, default=0):.0f} ms "
              f"(budget p95 ≤ 1000 ms); not offered {len(arrived)}")
        inbox = app.status  # the inbox's own counters
        data: dict[str, Any] = (await inbox())["inbox"]
        print(f"inbox: {data['offers']} offers out, {data['offers_made']} made, {data['rounds']} rounds")
        for task in readers:
            task.cancel()
        for session, ws in pages:
            await ws.close()
            await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="new messages a second")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="callcenter-bench-inbox-") as tmp:
        folder = Path(tmp)
        if args.store == "postgresql":
            from tests.support.pgcluster import PgCluster
            cluster = PgCluster(folder / "pg", int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 633)
            try:
                asyncio.run(run(args, folder, cluster.start()))
            finally:
                cluster.stop()
        else:
            asyncio.run(run(args, folder, None))


if __name__ == "__main__":
    main()
