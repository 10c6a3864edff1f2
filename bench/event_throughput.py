"""Benchmark: AMI events per second through translate, the trackers and the bus (prints figures; not a test).

    .venv/bin/python -m bench.event_throughput                 # 2,000 calls, best of 3 runs per stage
    .venv/bin/python -m bench.event_throughput --calls 500 --repeat 5

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
from pathlib import Path
from typing import Any, Callable

from panoramisk.message import Message

from callcenter import app as app_mod
from callcenter.core import events as ev
from callcenter.ami.events import translate
from callcenter.ami.testing import FakeAmi
from callcenter.ami.trace import events as trace_events
from callcenter.config import parse_config
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


def build(runtime: Path) -> tuple[app_mod.App, FakeAmi]:
    config = parse_config(CONFIG.format(runtime=runtime), file="bench.yaml", env={})
    ami = FakeAmi()  # no event stream (the benchmark feeds the pump), every action answered "Success"
    return app_mod.build(config, ami=ami), ami


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


async def stage_bus(raw: list[Message], runtime: Path) -> tuple[float, dict[str, Any]]:
    parts, ami = build(runtime)
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

    bus.subscribe("counter", counter)
    bus.subscribe_queued("store", store, on_full="wait")
    bus.subscribe_queued("browser", browser, on_full="drop")
    tasks = [asyncio.create_task(bus.run(), name="bus"), asyncio.create_task(parts.ivr.sessions.run(), name="ivr")]
    await asyncio.sleep(0)  # let them start
    t0 = time.perf_counter()
    for message in raw:
        event = translate(message)
        if event is not None:
            await pump.feed(event)
    await bus.drain()
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
                     "still active": len(parts.calls.tracker.active())}


def measure(name: str, run: Callable[[], tuple[float, dict[str, Any]]], events: int, repeat: int) -> dict[str, Any]:
    times: list[float] = []
    info: dict[str, Any] = {}
    for _ in range(repeat):
        elapsed, info = run()
        times.append(elapsed)
    best, median = min(times), statistics.median(times)
    return {"name": name, "best": events / best, "median": events / median, "us": best / events * 1e6,
            "seconds": times, "info": info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="copies of the recorded calls (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage, each on fresh state (default 3)")
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


if __name__ == "__main__":
    main()
