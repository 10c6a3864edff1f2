"""Benchmark: the agent workspace. Prints figures; not a test.

    .venv/bin/python -m bench.workspace                          # 50 pops, 10 page loads, 100 pages x 100 calls
    .venv/bin/python -m bench.workspace --pops 20 --pages 50 --calls 50

Run from the repository root. It starts its own `callcenter run` (real Asterisk + controller) from a
temporary folder on ports of its own (SIP 35060, AMI 35038, API 38080; phones 50000+), a headless
Chromium (Debian's `chromium`, driven by Playwright), and stops them at the end.

1. **Ring → screen pop**: agent1's pyVoIP phone is registered and the agent page is open in Chromium.
   Each of `--pops` callers (a new number each) dials a DID that queues straight to `support`. The
   start instant is when the agent's phone has the INVITE (the test phone hands the call to the
   waiting thread right after it sent 180 Ringing); the end instant is when the page has put the
   caller's number into the pop (a MutationObserver in the page stamps Date.now()). Same machine,
   same clock. The caller then hangs up (nobody answers) and the next one dials.
2. **Page load → interactive**: `--loads` fresh loads of the agent page (logged in): navigation
   start → the WebSocket's snapshot applied (the connection banner says open), from the page's own
   clock (performance.timeOrigin).
3. **WebSocket fan-out**: `--pages` WebSocket clients logged in as a supervisor (each what a page
   holds: its own session, its own socket) while `--calls` callers go into the queue and hang up,
   `--concurrent` at a time. Every message carries its domain event's time (`at`); each client
   stamps arrival. Reported: event → arrival at every page (p50/p95/max over all messages x pages)
   and, per message, event → the last page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import threading
import time
from typing import Any


import aiohttp
from bench._harness import (
    API_PORT,
    PHONE_PORTS,
    SIP_PORT,
    BenchSystem,
    PortAllocator,
    SipPhone,
    exit_on_sigterm,
    percentile,
)
from playwright.async_api import async_playwright

DID = "8005550130"
DIDS = f'  "{DID}": {{name: Workspace bench, greeting: beep, queue: support}}\n'
QUEUES = "  support: {strategy: ringall, ring_timeout: 30}\n"
BASE = f"http://127.0.0.1:{API_PORT}"
STAMP_POPS = """() => {
  window.__pops = {};
  const target = document.querySelector('[data-testid="screen-pop"]');
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="pop-caller-number"]');
    const text = el ? el.textContent.trim() : '';
    if (text && !(text in window.__pops)) window.__pops[text] = Date.now();
  }).observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def summary(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "no samples"
    return (f"p50 {percentile(values, 50):.0f} {unit}, p95 {percentile(values, 95):.0f} {unit}, "
            f"max {max(values):.0f} {unit} (n={len(values)})")


async def log_in(page: Any, name: str, password: str) -> None:
    await page.goto(f"{BASE}/login")
    await page.get_by_test_id("login-name").fill(name)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(f"{BASE}/")
    await page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=15_000)


async def ring_to_pop(system: BenchSystem, ports: PortAllocator, browser: Any, count: int) -> list[float]:
    agent = SipPhone(server_port=SIP_PORT, username="agent1", password=system.creds.agent_passwords["agent1"],
                     **ports.allocate().as_kwargs())
    agent.start()
    page = await (await browser.new_context()).new_page()
    await log_in(page, "agent1", system.creds.web_passwords["agent1"])
    await page.wait_for_selector('[data-testid="presence-state"][data-state="ready"]', timeout=20_000)
    await page.evaluate(STAMP_POPS)
    took: list[float] = []
    try:
        for i in range(count):
            number = f"41555{i:05d}"
            caller = SipPhone(server_port=SIP_PORT, caller_id=number, **ports.allocate().as_kwargs())
            caller.start()
            try:
                call = await asyncio.to_thread(caller.call, DID, 10)
                incoming = await asyncio.to_thread(agent.wait_for_incoming, 20)
                invite_at = time.time() * 1000
                deadline = time.monotonic() + 5
                shown = None
                while shown is None and time.monotonic() < deadline:
                    shown = await page.evaluate("n => window.__pops[n]", number)
                    if shown is None:
                        await asyncio.sleep(0.01)
                if shown is None:
                    print(f"  call {i}: no pop within 5 s", flush=True)
                else:
                    took.append(shown - invite_at)
                await asyncio.to_thread(call.hangup)
                await asyncio.to_thread(incoming.wait_until_ended, 10)
            finally:
                caller.stop()
            await asyncio.sleep(0.3)
    finally:
        agent.stop()
    return took


async def page_loads(system: BenchSystem, browser: Any, count: int) -> list[float]:
    context = await browser.new_context()
    page = await context.new_page()
    await log_in(page, "agent1", system.creds.web_passwords["agent1"])
    took = []
    for _ in range(count):
        await page.goto(f"{BASE}/")
        await page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=15_000)
        took.append(await page.evaluate("Date.now() - performance.timeOrigin"))
    await context.close()
    return took


async def fan_out(system: BenchSystem, ports: PortAllocator, pages: int, calls: int, concurrent: int) -> None:
    password = system.call("/api/users", {"name": "benchsup", "role": "supervisor"})["password"]
    sessions, sockets, arrivals = [], [], []
    for _ in range(pages):
        session = aiohttp.ClientSession(base_url=BASE, cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.post("/api/login", json={"name": "benchsup", "password": password}) as r:
            assert r.status == 200, await r.text()
        sessions.append(session)
        sockets.append(await session.ws_connect("/api/ws"))
        arrivals.append([])

    async def read(i: int) -> None:
        async for msg in sockets[i]:
            now = time.time()
            data = json.loads(msg.data)
            if data["type"] in ("queue", "agent"):
                arrivals[i].append((data["type"], data["at"], now))
    readers = [asyncio.create_task(read(i)) for i in range(pages)]

    def one_call(i: int) -> None:
        phone = SipPhone(server_port=SIP_PORT, caller_id=f"41566{i:05d}", **ports.allocate().as_kwargs())
        phone.start()
        try:
            call = phone.call(DID, 10)
            time.sleep(1.0)
            call.hangup()
        except Exception as exc:  # noqa: BLE001 - counted
            print(f"  caller {i}: {exc}", flush=True)
        finally:
            phone.stop()
    t0 = time.monotonic()
    threads: list[threading.Thread] = []
    for i in range(calls):
        while sum(t.is_alive() for t in threads) >= concurrent:
            await asyncio.sleep(0.02)
        t = threading.Thread(target=one_call, args=(i,), daemon=True)
        t.start()
        threads.append(t)
    while any(t.is_alive() for t in threads):
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    load_seconds = time.monotonic() - t0
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    for session in sessions:
        await session.close()
    every = [(now - at) * 1000 for page in arrivals for _, at, now in page]
    per_message: dict[tuple[str, float], float] = {}
    for page in arrivals:
        for kind, at, now in page:
            per_message[(kind, at)] = max(per_message.get((kind, at), 0.0), (now - at) * 1000)
    counts = sorted(len(p) for p in arrivals)
    print(f"fan-out: {pages} pages, {calls} calls in {load_seconds:.0f} s ({concurrent} at a time); messages per page "
          f"{counts[0]}..{counts[-1]}")
    print(f"  event -> a page (every message x page): {summary(every)}")
    print(f"  event -> the last of the {pages} pages (per message): {summary(list(per_message.values()))}")


async def run(args: argparse.Namespace) -> None:
    system = BenchSystem(DIDS, {}, keep=args.keep, queues_yaml=QUEUES)
    ports = PortAllocator(**PHONE_PORTS)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        system.start()
        print(f"callcenter ready in {system.ready_seconds:.1f} s", flush=True)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            if args.pops:
                took = await ring_to_pop(system, ports, browser, args.pops)
                print(f"ring (INVITE at the agent's phone) -> screen pop in the page: {summary(took)} "
                      f"(budget p95 <= 300 ms)", flush=True)
            if args.loads:
                loads = await page_loads(system, browser, args.loads)
                print(f"agent page load -> interactive (snapshot applied): {summary(loads)}", flush=True)
            await browser.close()
        if args.pages:
            await fan_out(system, ports, args.pages, args.calls, args.concurrent)
    finally:
        system.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pops", type=int, default=50)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    exit_on_sigterm()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
