"""Benchmark: AMI events per second through translate, the trackers and the bus (prints figures; not a test).

    .venv/bin/python -m bench.event_throughput                 # 2,000 calls, best of 3 runs per stage
    .venv/bin/python -m bench.event_throughput --calls 500 --repeat 5
    .venv/bin/python -m bench.event_throughput --hub-queues 10 --hub-agents 100 --hub-pages 50 --hub-waiting 100

Run from the repository root. No Asterisk: it replays the traffic recorded from the real one
(tests/fixtures/ami/*.ami, parsed once by callcenter.ami.trace with panoramisk's parser), copied
--calls times, each copy with its own Uniqueid/Linkedid/DestUniqueid/DestLinkedid (as the unit
tests' `calls_from_traces` does; the copies follow one another: one call after the other). Each
copy is a panoramisk `Message`, what the live client hands to `translate()`.

Timed, per raw AMI event, each stage on fresh state (best and median of --repeat runs):

  (a) translate      callcenter.ami.events.translate on every raw event (None for unused ones)
  (b) + trackers     (a), then CallTracker.apply and Presence.apply on each translated event
  (c) + pump and bus (a), then `await pump.feed(event)` of a controller wired by `app.build()`
                     (with callcenter.ami.testing's FakeAmi: it answers every action "Success"), i.e. the
                     trackers, then the AMI event and its domain events published on the Bus to
                     the built-in inline subscribers (liveness, ivr, callback dialer) and queued
                     auto-pause, plus 3 benchmark subscribers: `counter` (inline, every event),
                     `store` (queued, on_full="wait") and `browser` (queued, on_full="drop"); the
                     clock stops after `await bus.drain()` (every queued event handled).
                     `bus.run()` and `sessions.run()` run as tasks meanwhile.

  (d) the hub alone  the workspace's LiveHub (callcenter/workspace/live.py) during (c'): the time spent
                     in its inline `on_event`, per event it handles (timed around each call)
  (c') (c) + the hub (c) on a bigger controller (--hub-queues queues, --hub-agents agents, each in 2
                     queues, all registered, a tenth paused in one queue; --hub-waiting callers
                     kept waiting in every queue) with the hub subscribed inline as the workspace
                     wires it and --hub-pages pages open (a tenth supervisors), each page's sender
                     task sending to a socket that only counts; the wallboard task runs; the clock
                     stops once every page has sent everything (the pages' queues are unbounded
                     here: the feed loop does not yield, as in (c), and no page may fall behind).

(d) and (c') run twice: with the hub's routing views as they are ("per item": `Routing.queue(name)`,
`Routing.agent(name)`), and "all lists", each item picked out of `Routing.queues()` /
`Routing.agents()` (the hub's way before per-item views: every queue and agent recomputed per
event). The ratio printed is per item over all lists. The (c') variants (no hub, per item, all
lists) run in turn, run after run, so that drift on the machine falls on each alike. No store: the
screen pop runs (in its own task) without a customer file.

The benchmark subscribers only count: this measures the pipeline, not a store or a browser push.
AsyncAGIStart events are left out of the replay (of every stage): each one starts an IVR session
that needs a live AsyncAGI peer; the other AsyncAGI events stay (without a session they are
cheap no-ops for the IVR subscriber). `browser` would drop what arrives while its queue (10,000)
is full; here it keeps up (its handler is as quick as `store`'s), the count is printed.
The replay (all copies, prepared before any clock starts) is moved out of the garbage
collector's sight (`gc.freeze()`): the live client holds a bounded buffer, not 75,000 messages;
the pipeline's own objects are collected as usual.

The budget: 20,000 AMI events/s for the whole path (docs/design.md#budgets); the ratio printed is the
measured rate over that budget (above 1.0: inside the budget).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from panoramisk.message import Message

from callcenter import app as app_mod
from callcenter.core import events as ev
from callcenter.ami.events import translate
from callcenter.ami.testing import FakeAmi
from callcenter.ami.trace import events as trace_events
from callcenter.config import parse_config
from callcenter.core.errors import UnknownAgent, UnknownQueue
from callcenter.routing.service import Routing
from callcenter.web.roles import Principal
from callcenter.workspace import live as live_mod
from callcenter.workspace.live import Client, LiveHub
from tests.support.config import CONFIG
from tests.support.system import REPO

FIXTURES = REPO / "tests" / "fixtures" / "ami"
TRACES = ["agent-answers-queued-call.ami", "caller-abandons-in-queue.ami"]
ID_KEYS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid")
LEFT_OUT = ("asyncagistart",)
BUDGET = 20_000  # AMI events per second

def replay(calls: int) -> tuple[list[Message], int]:
    """`calls` copies of the recorded calls (alternating), each with its own ids; and how many
    events were left out (LEFT_OUT)."""
    traces = [trace_events(FIXTURES / name) for name in TRACES]
    out: list[Message] = []
    left_out = 0
    for i in range(calls):
        for message in traces[i % len(traces)]:
            if str(message.get("Event", "")).lower() in LEFT_OUT:
                left_out += 1
                continue
            # "1764500000.12" -> "1764500000.120000042": unique per (original id, copy), still Asterisk-shaped.
            headers = {k: (f"{v}{i:07d}" if k in ID_KEYS and "." in v else v) for k, v in dict(message).items()}
            out.append(Message(headers, message.content))
    return out, left_out


def build(runtime: Path, text: str = CONFIG) -> tuple[app_mod.App, FakeAmi]:
    config = parse_config(text.format(runtime=runtime), file="bench.yaml", env={})
    ami = FakeAmi()  # no event stream (the benchmark feeds the pump), every action answered "Success"
    return app_mod.build(config, ami=ami), ami


# -- the hub's controller: N queues, M agents, K pages -----------------------------------------------

@dataclass(frozen=True)
class HubSetup:
    queues: int
    agents: int
    pages: int
    waiting: int  # callers kept waiting in every queue
    all_lists: bool = False  # the hub's routing picks one item out of the full lists (the way before)
    subscribed: bool = True  # False: the same controller without the hub (the reference for its share)

    def config(self) -> str:
        """support and sales (the recorded calls' queues), then queue3...; agent i in queues i-1 and i."""
        names = ["support", "sales", *(f"queue{i}" for i in range(3, self.queues + 1))][:max(self.queues, 1)]
        lines = ["runtime_dir: {runtime}", "queues:", *(f"  {q}: {{{{strategy: ringall}}}}" for q in names), "agents:"]
        for i in range(1, self.agents + 1):
            queues = ", ".join(sorted({names[(i - 1) % len(names)], names[i % len(names)]}))
            lines.append(f'  agent{i}: {{{{extension: "{1000 + i}", queues: [{queues}]}}}}')
        lines += ["dids:", '  "8005550100": {{queue: support}}', ""]
        return "\n".join(lines)


class AllListsRouting(Routing):
    """The hub's views as they were: one queue or agent picked out of the full lists."""

    def queue(self, name: str) -> dict[str, Any]:
        rows = self.queues()
        for row in rows:
            if row["name"] == name:
                return row
        raise UnknownQueue(name, [r["name"] for r in rows])

    def agent(self, name: str) -> dict[str, Any]:
        for row in self.agents():
            if row["name"] == name:
                return row
        raise UnknownAgent(name, list(self.config().agents))


class CountingSocket:
    """A page's socket that only counts what it is sent."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_str(self, text: str) -> None:
        self.sent += 1

    async def close(self, **_: Any) -> None:
        pass


def prepare_hub(parts: app_mod.App, setup: HubSetup, clock: Callable[[], float]) -> tuple[LiveHub, list[Client]]:
    """Every agent registered, a tenth paused in one of their queues, callers waiting; the hub
    and its pages (not subscribed yet)."""
    presence, control, now = parts.routing.presence, parts.routing.queue_control, clock()
    for i, (name, agent) in enumerate(presence.agents.items()):
        agent.contacts[f"sip:{name}@127.0.0.1:5060"] = True
        if i % 10 == 5:
            queue = next(iter(control.memberships(name)), "")
            control.state.paused[name] = {"reason": "lunch", "queue": queue}
            agent.paused, agent.pause_reason, agent.paused_at = True, "lunch", now
    for queue in presence.queues.values():
        for j in range(setup.waiting):
            queue.waiting[f"{queue.name}-waiting-{j}"] = (now - j, f"555{j:04d}")
    service = parts.routing.service
    routing = service
    if setup.all_lists:
        routing = AllListsRouting(service.config, service.ami, service.tracker, service.presence,
                                  service.queue_control, service.callbacks, service.clock, service.ticket_exists)
    hub = LiveHub(service.config, routing, parts.calls.tracker, presence, None, None, clock)
    clients = []
    for i in range(setup.pages):
        principal = (Principal(f"supervisor{i}", "supervisor", None, "session") if i % 10 == 0
                     else Principal(f"agent{i}", "agent", f"agent{i}", "session"))
        # Unbounded: the feed loop does not yield (as in (c)), no page may fall behind and be closed.
        clients.append(Client(CountingSocket(), principal, queue=asyncio.Queue()))  # type: ignore[arg-type]
    return hub, clients


# -- the stages ------------------------------------------------------------------------------------

def stage_translate(raw: list[Message]) -> tuple[float, dict[str, Any]]:
    used = 0
    t0 = time.perf_counter()
    for message in raw:
        if translate(message) is not None:
            used += 1
    return time.perf_counter() - t0, {"translated": used}


def stage_trackers(raw: list[Message], runtime: Path) -> tuple[float, dict[str, Any]]:
    parts, _ = build(runtime)
    tracker, presence, clock = parts.calls.tracker, parts.routing.presence, time.time
    changes = ended = 0
    t0 = time.perf_counter()
    for message in raw:
        event = translate(message)
        if event is not None:
            now = clock()
            out = tracker.apply(event, now) + presence.apply(event, now)
            changes += len(out)
            ended += sum(isinstance(e, ev.CallEnded) for e in out)
    elapsed = time.perf_counter() - t0
    return elapsed, {"domain events": changes, "calls ended": ended, "still active": len(tracker.active())}


async def stage_bus(raw: list[Message], runtime: Path, hub_setup: HubSetup | None = None) -> tuple[float, dict[str, Any]]:
    parts, ami = build(runtime, hub_setup.config() if hub_setup is not None else CONFIG)
    bus, pump = parts.bus, parts.pump
    counted = {"counter": 0, "store": 0, "browser": 0, "ended": 0}

    def counter(event: Any) -> None:
        counted["counter"] += 1
        if isinstance(event, ev.CallEnded):
            counted["ended"] += 1

    async def store(event: Any) -> None:
        counted["store"] += 1

    async def browser(event: Any) -> None:
        counted["browser"] += 1

    hub: LiveHub | None = None
    clients: list[Client] = []
    in_hub = {"seconds": 0.0, "events": 0}
    if hub_setup is not None:
        hub, clients = prepare_hub(parts, hub_setup, time.time)
        on_event = hub.on_event

        def timed_hub(event: Any) -> None:
            t = time.perf_counter()
            try:
                on_event(event)
            finally:
                in_hub["seconds"] += time.perf_counter() - t
                in_hub["events"] += 1

        if hub_setup.subscribed:
            bus.subscribe("web", timed_hub, *live_mod.EVENTS)  # inline, as the workspace feature subscribes it

    bus.subscribe("counter", counter)
    bus.subscribe_queued("store", store, on_full="wait")
    bus.subscribe_queued("browser", browser, on_full="drop")
    tasks = [asyncio.create_task(bus.run(), name="bus"), asyncio.create_task(parts.ivr.sessions.run(), name="ivr")]
    if hub is not None and hub_setup is not None and hub_setup.subscribed:
        tasks.append(asyncio.create_task(hub.run(), name="wallboard"))
        for client in clients:
            hub.clients.add(client)
            tasks.append(asyncio.create_task(hub._send(client), name="page"))
    await asyncio.sleep(0)  # let them start
    t0 = time.perf_counter()
    for message in raw:
        event = translate(message)
        if event is not None:
            await pump.feed(event)
    await bus.drain()
    while hub is not None and (hub._tasks or any(c.queue.qsize() for c in clients)):
        await asyncio.sleep(0)  # the screen pops' tasks, then every page has sent everything
    elapsed = time.perf_counter() - t0
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stats = bus.stats()
    return elapsed, {"published": bus.published, "counter": counted["counter"], "store": counted["store"],
                     "browser": counted["browser"], "browser dropped": stats["browser"]["dropped"],
                     "subscriber errors": bus.errors, "tracker errors": pump.tracker_errors,
                     "actions sent": len(ami.sent), "calls ended": counted["ended"],
                     "still active": len(parts.calls.tracker.active()),
                     **({"hub events": in_hub["events"], "hub seconds": round(in_hub["seconds"], 3),
                         "page messages sent": sum(c.ws.sent for c in clients),  # type: ignore[attr-defined]
                         "per page": round(sum(c.ws.sent for c in clients) / len(clients)),  # type: ignore[attr-defined]
                         } if hub is not None and hub_setup is not None and hub_setup.subscribed and clients else {})}


def measure(name: str, run: Callable[[], tuple[float, dict[str, Any]]], events: int, repeat: int) -> dict[str, Any]:
    times: list[float] = []
    info: dict[str, Any] = {}
    for _ in range(repeat):
        elapsed, info = run()
        times.append(elapsed)
    best, median = min(times), statistics.median(times)
    return {"name": name, "best": events / best, "median": events / median, "us": best / events * 1e6,
            "seconds": times, "info": info}


def measure_interleaved(runs: dict[str, Callable[[], tuple[float, dict[str, Any]]]], events: int,
                        repeat: int) -> dict[str, dict[str, Any]]:
    """`measure` of several variants, their runs taken in turn (a, b, c, a, b, c, ...): what drifts
    while the benchmark runs (other work on the machine, the process's heap) falls on each alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    infos: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, info = run()
            times[name].append(elapsed)
            infos[name].append(info)
    return {name: {"name": name, "best": events / min(times[name]), "median": events / statistics.median(times[name]),
                   "us": min(times[name]) / events * 1e6, "seconds": times[name], "info": infos[name][-1],
                   "infos": infos[name]} for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="copies of the recorded calls (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage, each on fresh state (default 3)")
    parser.add_argument("--hub-queues", type=int, default=10, help="queues of the hub's controller (default 10)")
    parser.add_argument("--hub-agents", type=int, default=100, help="agents of the hub's controller (default 100)")
    parser.add_argument("--hub-pages", type=int, default=50, help="pages open on the hub (default 50)")
    parser.add_argument("--hub-waiting", type=int, default=0, help="callers kept waiting in every queue (default 0)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    raw, left_out = replay(args.calls)
    prepared = time.perf_counter() - t0
    gc.collect()
    gc.freeze()  # the replay itself is the benchmark's, not the pipeline's (see above)
    n = len(raw)
    print(f"replay: {args.calls} calls from {', '.join(TRACES)}: {n} raw AMI events "
          f"({n / args.calls:.1f} per call; {left_out} AsyncAGIStart left out), prepared in {prepared:.1f} s")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} (other work on the machine "
          f"lowers the figures); best and median of {args.repeat} runs per stage, fresh state each run")

    with tempfile.TemporaryDirectory(prefix="cc-bench-events-") as tmp:
        runs = iter(range(10**9))

        def runtime() -> Path:
            path = Path(tmp) / f"run{next(runs)}"
            path.mkdir()
            return path

        results = [
            measure("(a) translate", lambda: stage_translate(raw), n, args.repeat),
            measure("(b) translate + CallTracker + Presence", lambda: stage_trackers(raw, runtime()), n, args.repeat),
            measure("(c) translate + Pump.feed + Bus (3 extra subscribers) + drain",
                    lambda: asyncio.run(stage_bus(raw, runtime())), n, args.repeat),
        ]
        setup = HubSetup(args.hub_queues, args.hub_agents, args.hub_pages, args.hub_waiting)
        variants = {"no hub": replace(setup, subscribed=False), "per item": setup,
                    "all lists": replace(setup, all_lists=True)}
        hub_results = measure_interleaved(
            {f"(c') (c) + hub, {label}" if label != "no hub" else "(c') (c), no hub":
             lambda v=v: asyncio.run(stage_bus(raw, runtime(), v)) for label, v in variants.items()},  # type: ignore[misc]
            n, args.repeat)

    print()
    print("rates are per raw AMI event of the replay (translated or not)")
    print(f"{'stage':<64} {'events/s best':>14} {'median':>10} {'us/event':>9} {'vs 20k/s':>9}")
    for r in results:
        print(f"{r['name']:<64} {r['best']:>14,.0f} {r['median']:>10,.0f} {r['us']:>9.1f} {r['best'] / BUDGET:>8.1f}x")
    print()
    for r in results:
        details = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in r["info"].items())
        print(f"{r['name'].split(' ')[0]} {details}")
        print(f"    run times (s): {', '.join(f'{s:.3f}' for s in r['seconds'])}")
    a, b, c = (r["best"] for r in results)
    print()
    print(f"share of the full path (per event, best runs): translate {100 * c / a:.0f}%, trackers "
          f"{100 * (c / b - c / a):.0f}%, pump + bus {100 * (1 - c / b):.0f}%")
    print(f"full path: {c:,.0f} events/s = {c / BUDGET:.1f}x the budget of {BUDGET:,} events/s "
          f"({100 * BUDGET / c:.0f}% of one core at the budget)")
    report_hub(setup, hub_results, n)


def report_hub(setup: HubSetup, results: dict[str, dict[str, Any]], n: int) -> None:
    results = {name.split(", ")[-1]: r for name, r in results.items()}  # "no hub", "per item", "all lists"
    supervisors = sum(i % 10 == 0 for i in range(setup.pages))
    print()
    print(f"the hub: {setup.queues} queues, {setup.agents} agents, {setup.pages} pages ({supervisors} supervisors), "
          f"{setup.waiting} callers kept waiting per queue")
    for r in results.values():
        details = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in r["info"].items())
        print(f"{r['name']}: {details}")
        print(f"    run times (s): {', '.join(f'{s:.3f}' for s in r['seconds'])}")
    print()
    alone = {}
    for label in ("per item", "all lists"):
        infos = results[label]["infos"]
        seconds = [i["hub seconds"] for i in infos]
        events = infos[-1]["hub events"]
        alone[label] = events / min(seconds)
        print(f"(d) the hub alone, {label:<9}: {alone[label]:>10,.0f} hub events/s best "
              f"({events / statistics.median(seconds):,.0f} median; {min(seconds) / events * 1e6:.1f} us per hub "
              f"event, {min(seconds) / n * 1e6:.2f} us per raw AMI event; {events:,} hub events per run)")
    print(f"(d) ratio per item / all lists: {alone['per item'] / alone['all lists']:.1f}x")
    print()
    full = {label: r["best"] for label, r in results.items()}
    for label, r in results.items():
        print(f"{r['name']:<40} {r['best']:>10,.0f} events/s best, {r['median']:>10,.0f} median, {r['us']:.1f} us/event")
    print(f"(c') ratio per item / all lists: {full['per item'] / full['all lists']:.2f}x; the hub's share of the full "
          f"path: per item {100 * (1 - full['per item'] / full['no hub']):.0f}%, "
          f"all lists {100 * (1 - full['all lists'] / full['no hub']):.0f}%")


if __name__ == "__main__":
    main()
