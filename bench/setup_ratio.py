"""Benchmark: call setup through the controller vs the same route in pure dialplan (budget <= 1.2x).

    .venv/bin/python -m bench.setup_ratio               # 30 calls each way
    .venv/bin/python -m bench.setup_ratio --calls 10

Prints figures; not a test. Run from the repository root. It starts its own `callcenter run`
(real Asterisk + controller) from a temporary folder on ports of its own (SIP 35060, AMI 35038,
API 38080, RTP 37000-37999; phones 50000+) and stops it at the end.

The route: DID 8005550101 with no flow (`{name: Plain, greeting: beep, queue: support}`): the
caller hears the greeting, then waits in queue `support` (no agent registered, joinempty=yes).
--greeting picks another sound; the ratio for (b) depends on it (the greeting's length is in
both paths), the absolute difference in ms does not.

- controller: the dialplan answers, finds the controller's heartbeat fresh and parks the caller in
  AGI(agi:async); the controller (AsyncAGIStart over AMI) plays the greeting with STREAM FILE, sets
  CC_NEXT* with SET VARIABLE, releases the channel, and the dialplan runs Queue().
- pure dialplan: the very same route when the controller is away: the dialplan's fallback
  (Playback(greeting), then Queue()). The controller process is SIGSTOPped (Asterisk keeps running:
  it is its own process group), the benchmark waits until the AstDB heartbeat is stale
  (HEARTBEAT_MAX + 2 s, checked with DBGet), makes the calls, then SIGCONTs the controller.

Where the controller's time goes is printed too: after the greeting it sends 4 SET VARIABLE and an
ASYNCAGI BREAK, one at a time, and Asterisk's async AGI loop only looks for a queued command when
a frame arrives from the caller (every 20 ms here) or after 100 ms (res_agi.c), so each costs
about one frame period.

Per call (sequential, one fresh trunk phone with its own caller ID each), from the instant the
INVITE is sent (just before SipPhone.call):
  (a) greeting: the first received 20 ms RTP packet whose RMS reaches --min-level (the beep is
      loud from its first 10 ms), stamped by the test phone's RTP receive thread;
  (b) queue: the arrival of AMI QueueCallerJoin for that caller ID on the benchmark's own AMI
      connection (a separate login; it still works while the controller is stopped).
Also shown: the 200 OK (Answer() is the dialplan's first step in both paths). Each call is hung
up after QueueCallerJoin, and the next starts once Asterisk reported its Hangup. The path taken is
checked per call (an AsyncAGIStart for the caller's channel, or none); a call that took the wrong
path is left out and counted. The first --warmup calls of each mode are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from bench._harness import (
    PHONE_PORTS,
    SIP_PORT,
    AmiWatch,
    BenchSystem,
    PortAllocator,
    SipPhone,
    chunk_level,
    exit_on_sigterm,
    percentile,
    rx_chunks,
    summary,
)

from callcenter.asterisk.render import HEARTBEAT_MAX

DID = "8005550101"


def dids_yaml(greeting: str) -> str:
    return f'  "{DID}": {{name: Plain, greeting: {greeting}, queue: support}}\n'


def first_loud(call, not_before: float, min_level: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        chunks = rx_chunks(call)
        for t, pcm in chunks[seen:]:
            if t >= not_before and chunk_level(pcm) >= min_level:
                return t
        seen = len(chunks)
        if call.state != "answered" or time.monotonic() > deadline:
            return None
        time.sleep(0.005)


class Run:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.answer: list[float] = []
        self.audio: list[float] = []
        self.queue: list[float] = []
        self.wrong_path = 0
        self.after_greeting: list[float] = []  # controller: greeting's STREAM FILE done -> AsyncAGIEnd, ms
        self.commands_after: list[int] = []    # controller: AGI commands after the greeting
        self.failed = 0


def one_call(watch: AmiWatch, ports: PortAllocator, caller_id: str, expect_agi: bool, min_level: float,
             run: Run | None, verbose: bool) -> None:
    phone = SipPhone(server_port=SIP_PORT, caller_id=caller_id, **ports.allocate().as_kwargs())
    phone.start()
    call = None
    try:
        mark = watch.mark()
        t0 = time.monotonic()
        try:
            call = phone.call(DID, timeout=10)
        except Exception as exc:  # noqa: BLE001 - counted, reported
            print(f"  {caller_id}: call failed: {exc}", flush=True)
            if run:
                run.failed += 1
            return
        t_answer = time.monotonic()
        t_audio = first_loud(call, t0, min_level, 10)
        try:
            t_join, join = watch.wait_for(lambda e: e.get("Event") == "QueueCallerJoin"
                                          and e.get("CallerIDNum") == caller_id, 20, start=mark,
                                          what=f"QueueCallerJoin for {caller_id}")
        except TimeoutError as exc:
            print(f"  {caller_id}: {exc}", flush=True)
            if run:
                run.failed += 1
            return
        channel = join.get("Channel", "")
        agi = watch.find(lambda e: e.get("Event") == "AsyncAGIStart"
                         and (e.get("Channel") == channel or e.get("CallerIDNum") == caller_id), start=mark)
        call.hangup()
        try:
            watch.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == channel, 10,
                           start=mark, what="Hangup")
        except TimeoutError:
            print(f"  {caller_id}: no Hangup event for {channel}", flush=True)
        if run is None:
            return
        if bool(agi) != expect_agi:
            run.wrong_path += 1
            print(f"  {caller_id}: took the {'controller' if agi else 'dialplan fallback'} path, "
                  f"expected the {'controller' if expect_agi else 'fallback'}; not counted", flush=True)
            return
        if t_audio is None:
            print(f"  {caller_id}: no greeting audio heard; not counted", flush=True)
            run.failed += 1
            return
        run.answer.append((t_answer - t0) * 1000)
        run.audio.append((t_audio - t0) * 1000)
        run.queue.append((t_join - t0) * 1000)
        if agi:
            execs = watch.find(lambda e: e.get("Event") == "AsyncAGIExec" and e.get("Channel") == channel, start=mark)
            ends = watch.find(lambda e: e.get("Event") == "AsyncAGIEnd" and e.get("Channel") == channel, start=mark)
            if execs and ends:
                run.after_greeting.append((ends[0][0] - execs[0][0]) * 1000)
                run.commands_after.append(len(execs) - 1)
        if verbose:
            print(f"  {run.mode:10s} {caller_id}: 200 OK {run.answer[-1]:6.1f} ms, greeting "
                  f"{run.audio[-1]:6.1f} ms, QueueCallerJoin {run.queue[-1]:6.1f} ms", flush=True)
    finally:
        if call is not None:
            with contextlib.suppress(Exception):
                call.hangup()
        phone.stop()


def series(watch: AmiWatch, ports: PortAllocator, mode: str, prefix: str, calls: int, warmup: int,
           expect_agi: bool, args: argparse.Namespace) -> Run:
    run = Run(mode)
    for i in range(warmup):
        one_call(watch, ports, f"{prefix}9{i:03d}", expect_agi, args.min_level, None, False)
        time.sleep(args.gap)
    for i in range(calls):
        one_call(watch, ports, f"{prefix}{i:04d}", expect_agi, args.min_level, run, args.verbose)
        time.sleep(args.gap)
        if not args.verbose and (i + 1) % 10 == 0:
            print(f"  {mode}: {i + 1}/{calls} calls", flush=True)
    return run


def wait_heartbeat(watch: AmiWatch, fresh: bool, timeout: float) -> int | None:
    """Wait until the heartbeat is stale (as the dialplan judges it: EPOCH - hb > HEARTBEAT_MAX) or fresh."""
    deadline = time.monotonic() + timeout
    while True:
        hb = watch.heartbeat()
        stale = hb is None or int(time.time()) - hb > HEARTBEAT_MAX
        if stale != fresh:
            return hb
        if time.monotonic() > deadline:
            raise TimeoutError(f"heartbeat never became {'fresh' if fresh else 'stale'} (value {hb})")
        time.sleep(0.5)


def ratio_line(what: str, ours: list[float], pure: list[float], budget: float) -> tuple[str, bool]:
    if not ours or not pure:
        return f"{what}: not enough samples", False
    m_ours, m_pure = percentile(ours, 50), percentile(pure, 50)
    p_ours, p_pure = percentile(ours, 95), percentile(pure, 95)
    ratio = m_ours / m_pure
    ok = ratio <= budget
    return (f"{what}: controller {m_ours:.0f} ms, pure dialplan {m_pure:.0f} ms → {ratio:.2f}× "
            f"(+{m_ours - m_pure:.0f} ms; p95 {p_ours:.0f} vs {p_pure:.0f} ms → {p_ours / p_pure:.2f}×) "
            f"(budget ≤ {budget:g}×: {'OK' if ok else 'OVER'})"), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="calls per mode (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted calls before each mode (default 2)")
    parser.add_argument("--gap", type=float, default=0.3, help="pause between calls, seconds (default 0.3)")
    parser.add_argument("--min-level", type=float, default=300.0,
                        help="RMS (s16 scale) of a 20 ms packet that counts as the greeting (beep ~3500)")
    parser.add_argument("--budget", type=float, default=1.2, help="ratio budget (default 1.2)")
    parser.add_argument("--greeting", default="beep",
                        help="the DID's greeting sound (default beep, 0.44 s; it must start loud for (a))")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per call")
    args = parser.parse_args()
    exit_on_sigterm()

    system = BenchSystem(dids_yaml(args.greeting), {}, keep=args.keep)
    watch = None
    ports = PortAllocator(**PHONE_PORTS)
    try:
        print(f"starting callcenter in {system.dir} ...", flush=True)
        system.start()
        print(f"ready in {system.ready_seconds:.1f} s (Asterisk pid {system.started_asterisk_pid})", flush=True)
        watch = system.ami_watch()
        wait_heartbeat(watch, fresh=True, timeout=10)

        print(f"{args.calls} calls through the controller ...", flush=True)
        ours = series(watch, ports, "controller", "555101", args.calls, args.warmup, True, args)

        print(f"SIGSTOP controller (pid {system.proc.pid}); waiting {HEARTBEAT_MAX + 2} s for a stale heartbeat ...",
              flush=True)
        system.pause_controller()
        stopped_at = time.monotonic()
        time.sleep(HEARTBEAT_MAX + 2)
        hb = wait_heartbeat(watch, fresh=False, timeout=10)
        print(f"heartbeat {hb}, now {int(time.time())}: stale", flush=True)
        print(f"{args.calls} calls in pure dialplan (controller stopped) ...", flush=True)
        pure = series(watch, ports, "dialplan", "555102", args.calls, args.warmup, False, args)
        system.resume_controller()
        print(f"SIGCONT controller after {time.monotonic() - stopped_at:.0f} s stopped", flush=True)
        wait_heartbeat(watch, fresh=True, timeout=20)
        print("controller back: heartbeat fresh again", flush=True)
    finally:
        if watch is not None:
            watch.stop()
        system.stop()

    print()
    for run in (ours, pure):
        print(f"{run.mode:10s} counted {len(run.queue)}/{args.calls}; wrong path {run.wrong_path}; failed {run.failed}")
        print(f"  INVITE -> 200 OK:          {summary(run.answer)}")
        print(f"  INVITE -> greeting audio:  {summary(run.audio)}")
        print(f"  INVITE -> QueueCallerJoin: {summary(run.queue)}")
    if ours.after_greeting:
        n = sorted(ours.commands_after)[len(ours.commands_after) // 2]
        tail = percentile(ours.after_greeting, 50)
        print(f"controller path after the greeting: {n} more AGI commands (SET VARIABLE x{n - 1}, ASYNCAGI BREAK) "
              f"until AsyncAGIEnd: median {tail:.0f} ms (~{tail / max(n, 1):.0f} ms per command)")
    line_a, ok_a = ratio_line("setup to greeting", ours.audio, pure.audio, args.budget)
    line_b, ok_b = ratio_line("setup to queue", ours.queue, pure.queue, args.budget)
    print("ratios are of the medians (ours/pure)")
    print(line_a)
    print(line_b)
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
