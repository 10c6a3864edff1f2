"""Benchmark: web chat with many chats open. Prints figures; not a test.

    .venv/bin/python -m bench.chat                    # 100 chats, 20 agents, 10 rounds of messages

Run from the repository root. It starts its own `callcenter run` (real Asterisk + controller, SQLite
store) from a temporary folder on ports of its own (API 38080) and stops it at the end.

`--agents` agents log in and open their page's WebSocket (/api/ws); `--chats` visitors connect to
/chat/ws and write, so every chat is routed to an agent (max_per_agent = chats / agents). Then for
`--rounds` rounds every visitor writes one message and every agent answers each over REST, paced at
`--rate` messages a second in all (people type: 100 chats with a message every 5 s is 20/s), then
once more all at once (a burst: every chat at the same instant). "visitor → agent" is the time from
the visitor's send to the agent page's WebSocket frame, "agent → visitor" from the agent's POST to
the visitor's frame (one clock: this process). The budget (docs/design.md#budgets): visitor → agent p95 ≤ 100 ms
with 100 chats open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from bench._harness import (BASE, Agent, BenchSystem, agents_yaml, chat_yaml, exit_on_sigterm, login,
                            percentile)

DIDS = '  "8005550150": {name: Chat bench, greeting: beep, queue: support}\n'
async def main_async(args: argparse.Namespace, system: BenchSystem) -> None:
    creds = system.creds
    agents = [await login(f"agent{i}", creds.web_passwords[f"agent{i}"]) for i in range(1, args.agents + 1)]
    sent_at: dict[str, float] = {}  # message text → when the visitor sent it
    to_agent: list[float] = []
    to_visitor: list[float] = []
    assigned = asyncio.Event()
    chat_agent: dict[int, Agent] = {}
    replies_seen = asyncio.Event()
    expected_replies = [0]

    async def read_page(agent: Agent) -> None:
        async for msg in agent.ws:
            data = json.loads(msg.data)
            if data.get("type") != "chat":
                continue
            if data["event"] == "assigned" and data["chat"]["agent"] == agent.name:
                chat_agent[data["chat"]["id"]] = agent
                if len(chat_agent) == args.chats:
                    assigned.set()
            message = data.get("message") or {}
            if data["event"] == "message" and message.get("from") == "visitor" and message["text"] in sent_at:
                to_agent.append((time.perf_counter() - sent_at.pop(message["text"])) * 1000)

    visitors: list[tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]] = []
    reply_sent: dict[str, float] = {}

    async def read_visitor(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = json.loads(msg.data)
            message = data.get("message") or {}
            if data.get("type") == "message" and message.get("from") == "agent" and message["text"] in reply_sent:
                to_visitor.append((time.perf_counter() - reply_sent.pop(message["text"])) * 1000)
                if len(to_visitor) >= expected_replies[0]:
                    replies_seen.set()

    readers = [asyncio.create_task(read_page(a)) for a in agents]
    t0 = time.perf_counter()
    for i in range(args.chats):
        session = aiohttp.ClientSession(base_url=BASE)
        ws = await session.ws_connect("/chat/ws")
        await ws.send_json({"type": "hello", "visitor": "", "queue": "support"})
        await ws.receive()  # welcome
        visitors.append((session, ws))
        readers.append(asyncio.create_task(read_visitor(ws)))
        await ws.send_json({"type": "message", "text": f"hello from visitor {i}"})
    await asyncio.wait_for(assigned.wait(), 120)
    print(f"{args.chats} chats open and routed to {args.agents} agents in {time.perf_counter() - t0:.1f} s")
    chat_of_visitor: dict[int, int] = {}
    for i, (_, ws) in enumerate(visitors):  # learn each visitor's chat id from its echo order
        chat_of_visitor[i] = sorted(chat_agent)[i]
    async def one_round(r: int, pace: float) -> None:
        for i, (_, ws) in enumerate(visitors):
            text = f"r{r} v{i} {time.perf_counter()}"
            sent_at[text] = time.perf_counter()
            await ws.send_json({"type": "message", "text": text})
            if pace:
                await asyncio.sleep(pace)
        deadline = time.perf_counter() + 30
        while sent_at and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        expected_replies[0] += len(visitors)
        replies_seen.clear()

        async def answer(chat_id: int, delay: float) -> None:
            await asyncio.sleep(delay)
            agent = chat_agent[chat_id]
            text = f"reply r{r} c{chat_id}"
            reply_sent[text] = time.perf_counter()
            async with agent.session.post(f"/api/chats/{chat_id}/messages", json={"text": text},
                                          headers={"X-CSRF-Token": agent.csrf}) as resp:
                resp.raise_for_status()
        await asyncio.gather(*(answer(c, k * pace) for k, c in enumerate(chat_of_visitor.values())))
        await asyncio.wait_for(replies_seen.wait(), 30)

    def report(what: str) -> None:
        print(f"{what}: visitor → agent page n={len(to_agent)} p50 {percentile(to_agent, 50):.0f} ms, "
              f"p95 {percentile(to_agent, 95):.0f} ms, max {max(to_agent):.0f} ms (budget p95 ≤ 100 ms); "
              f"agent POST → visitor p50 {percentile(to_visitor, 50):.0f} ms, p95 {percentile(to_visitor, 95):.0f} ms; "
              f"lost {len(sent_at)}")
        to_agent.clear()
        to_visitor.clear()
        expected_replies[0] = 0

    to_agent.clear()
    for r in range(args.rounds):
        await one_round(r, 1.0 / args.rate)
    report(f"paced, {args.rate:g} messages/s each way, {args.chats} chats open")
    await one_round(args.rounds, 0.0)
    report(f"burst, {args.chats} messages at once, then {args.chats} answers at once")
    for task in readers:
        task.cancel()
    for session, ws in visitors:
        await ws.close()
        await session.close()
    for a in agents:
        await a.ws.close()
        await a.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0, help="messages a second in all, each way (paced rounds)")
    args = parser.parse_args()
    exit_on_sigterm()
    system = BenchSystem(DIDS, {}, agents_yaml=agents_yaml(args.agents), extra_yaml=chat_yaml(args.chats, args.agents))
    try:
        system.start()
        asyncio.run(main_async(args, system))
    finally:
        system.stop()


if __name__ == "__main__":
    main()
