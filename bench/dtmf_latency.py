"""Benchmark: a key pressed in an IVR menu -> the next prompt's audio starts (p50 / p95 / max).

    .venv/bin/python -m bench.dtmf_latency                 # 200 presses
    .venv/bin/python -m bench.dtmf_latency --presses 50

Prints figures; not a test. Run from the repository root. It starts its own `callcenter run`
(real Asterisk + controller) from a temporary folder on ports of its own (SIP 35060, AMI 35038,
API 38080, RTP 37000-37999; phones 50000+) and stops it at the end.

The flow (DID 8005550110):

    menu: prompt silence/1 (1 s of silence), timeout 30 s, options {1: ack}
    ack:  play beep (0.44 s tone that is loud from its first 10 ms), then back to menu

One trunk call (a pyVoIP test phone) stays in it. For each press:

1. wait until the line is quiet (no received 20 ms packet at or above --min-level for --quiet s,
   i.e. the previous beep is over), then a random extra pause (--pause, so presses land both
   while the silent menu prompt plays (barge-in, STREAM FILE) and after it (WAIT FOR DIGIT));
2. send an RFC 4733 "1" (--duration ms; PhoneCall.send_dtmf, gap 0), noting how long send_dtmf
   blocks and when it returns;
3. the reference instant is the arrival, on the benchmark's own AMI connection, of Asterisk's
   DTMFEnd event for that press (Direction: Received): the moment Asterisk has the complete key;
4. the end instant is the arrival time of the first received RTP packet whose RMS reaches
   --min-level (the beep), as stamped by the test phone's RTP receive thread.

All instants are time.monotonic() in this one process. Reported: DTMFEnd -> prompt audio
(p50/p95/max, the budget is p95 <= 300 ms), and as a cross-check send_dtmf() return -> audio and
the offset between send_dtmf() returning and DTMFEnd arriving. send_dtmf() returns well after the
key is complete (it waits for the 2 redundant end packets and one more 20 ms frame), so that
reference is late, not early. A tap on the phone's RTP socket also stamps when the first end
packet leaves the phone: "end packet sent -> audio" is a reference that does not depend on AMI
delivery, and "end packet sent -> DTMFEnd" shows how late the AMI reference is.

Where the key lands matters little, with one exception: a key whose RFC 4733 event begins while
the prompt plays and ends just after it is delivered to WAIT FOR DIGIT about one event duration
late (~120 ms with --duration 120; most likely Asterisk's core: it drops DTMF begins during
playback, and an end without a begin is then emulated for the event's full length). Those presses show in the
"straddling" line; how many there are depends on --pause.

What is inside the figure: Asterisk ending the AGI command on the key, the AsyncAGIExec event
to the controller, the flow step, the next STREAM FILE action back over AMI, Asterisk opening the
file and the first RTP packet reaching the phone on loopback. Asterisk's async AGI loop only picks
up a queued command when a frame arrives from the caller (the test phone sends one every 20 ms) or
after 100 ms, so up to ~20 ms of the figure is that wait. Not inside: the DTMF event
duration itself (the key is only complete when its end packet arrives).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time

from bench._harness import (
    PHONE_PORTS,
    SIP_PORT,
    BenchSystem,
    DtmfEndTap,
    PhoneCall,
    PortAllocator,
    SipPhone,
    chunk_level,
    exit_on_sigterm,
    percentile,
    rx_chunks,
    summary,
)

DID = "8005550110"
CALLER_ID = "5550110001"
FLOW = """\
name: dtmfbench
language: en
entry: menu
nodes:
  menu:
    menu:
      prompt: silence/1
      options: {1: ack}
      timeout: 30
      retries: 2
    failure: bye
  ack:
    play: beep
    next: menu
  bye:
    hangup: ~
"""
DIDS = f'  "{DID}": {{name: DTMF bench, flow: dtmfbench, greeting: beep, queue: support}}\n'
PROMPT_SECONDS = 1.0  # silence/1


def last_loud(call: PhoneCall, min_level: float) -> float | None:
    """Arrival time of the newest received packet at or above min_level."""
    for t, pcm in reversed(rx_chunks(call)):
        if chunk_level(pcm) >= min_level:
            return t
    return None


def wait_quiet(call: PhoneCall, min_level: float, quiet: float, timeout: float = 10) -> float | None:
    """Wait until nothing loud arrived for `quiet` s; returns when the last loud packet arrived."""
    deadline = time.monotonic() + timeout
    while True:
        loud = last_loud(call, min_level)
        if loud is None or time.monotonic() - loud >= quiet:
            return loud
        if time.monotonic() > deadline:
            raise TimeoutError(f"the line never went quiet for {quiet:g} s")
        time.sleep(0.01)


def first_loud_after(call: PhoneCall, index: int, not_before: float, min_level: float, window: int,
                     timeout: float) -> float | None:
    """Arrival time of the first packet (from list index `index`, arriving after `not_before`) at which
    the RMS over the last `window` packets reaches min_level; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        chunks = rx_chunks(call)
        for k in range(index, len(chunks)):
            t, _ = chunks[k]
            if t < not_before:
                continue
            pcm = b"".join(p for _, p in chunks[max(index, k - window + 1):k + 1])
            if chunk_level(pcm) >= min_level:
                return t
        if call.state != "answered":
            raise RuntimeError(f"the call ended (end reason: {call.end_reason})")
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def explain(watch, mark: int, t_end: float, t_audio: float, press: int, latency: float, since: float | None) -> None:
    """The AMI events of our channel around one slow press, times relative to its DTMFEnd."""
    print(f"press {press}: {latency:.0f} ms (DTMFEnd {since if since is None else round(since, 3)} s after the "
          f"previous beep ended); AMI timeline:")
    start = max(0, mark - 40)
    for t, e in watch.find(lambda e: e.get("CallerIDNum") == CALLER_ID or e.get("Event", "").startswith("AsyncAGI"),
                           start=start):
        if t_end - 1.5 <= t <= t_audio + 0.05 and e.get("Event") in ("DTMFBegin", "DTMFEnd", "AsyncAGIExec",
                                                                      "AsyncAGIStart", "AsyncAGIEnd"):
            detail = e.get("Result", "") or e.get("Digit", "")
            print(f"    {(t - t_end) * 1000:+8.1f} ms  {e.get('Event')} {e.get('CommandID', e.get('CommandId', ''))} "
                  f"{detail}")
    print(f"    {(t_audio - t_end) * 1000:+8.1f} ms  first loud packet received")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=200, help="number of key presses (default 200)")
    parser.add_argument("--min-level", type=float, default=300.0,
                        help="RMS (s16 scale) that counts as audio; silence/1 peaks at ~25, the beep at ~3500")
    parser.add_argument("--window", type=float, default=0.02,
                        help="detection window in seconds, rounded to 20 ms packets (default 0.02)")
    parser.add_argument("--quiet", type=float, default=0.25,
                        help="seconds without audio before a press counts as 'line silent' (default 0.25)")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.05, 1.5), metavar=("MIN", "MAX"),
                        help="random extra pause before each press, seconds (default 0.05 1.5)")
    parser.add_argument("--duration", type=int, default=120, help="DTMF event duration in ms (default 120)")
    parser.add_argument("--timeout", type=float, default=5.0, help="give up on one press after this (s)")
    parser.add_argument("--budget", type=float, default=300.0, help="p95 budget in ms (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the pauses")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per press")
    parser.add_argument("--explain-slow", type=float, default=None, metavar="MS",
                        help="for presses slower than MS, print the AMI timeline (DTMF, AsyncAGI) around them")
    args = parser.parse_args()
    exit_on_sigterm()
    rng = random.Random(args.seed)
    window = max(1, round(args.window / 0.02))

    system = BenchSystem(DIDS, {"dtmfbench": FLOW}, keep=args.keep)
    watch = phone = call = None
    from_end: list[float] = []        # DTMFEnd arrival -> first loud packet, ms
    from_return: list[float] = []     # send_dtmf() returned -> first loud packet, ms
    end_minus_return: list[float] = []  # DTMFEnd arrival - send_dtmf() return, ms
    send_time: list[float] = []       # how long send_dtmf() blocked, ms
    from_sent: list[float] = []       # phone sent the first end packet -> first loud packet, ms
    sent_to_end: list[float] = []     # phone sent the first end packet -> DTMFEnd arrival, ms
    phases: dict[str, list[float]] = {"prompt": [], "wait": [], "unclear": []}
    no_dtmfend = no_audio = 0
    try:
        print(f"starting callcenter in {system.dir} ...", flush=True)
        system.start()
        print(f"ready in {system.ready_seconds:.1f} s (Asterisk pid {system.started_asterisk_pid})", flush=True)
        watch = system.ami_watch()
        phone = SipPhone(server_port=SIP_PORT, caller_id=CALLER_ID, **PortAllocator(**PHONE_PORTS).allocate().as_kwargs())
        phone.start()
        call = phone.call(DID)
        tap = DtmfEndTap(call)
        time.sleep(0.5)

        def is_end(e: dict[str, str]) -> bool:
            return (e.get("Event") == "DTMFEnd" and e.get("Direction") == "Received"
                    and e.get("CallerIDNum") == CALLER_ID)

        for i in range(args.presses):
            beep_end = wait_quiet(call, args.min_level, args.quiet)
            time.sleep(rng.uniform(*args.pause))
            beep_end = last_loud(call, args.min_level)  # unchanged unless something played meanwhile
            mark = watch.mark()
            sent_before = len(tap.sent_ends)
            index = len(rx_chunks(call))
            t0 = time.monotonic()
            call.send_dtmf("1", duration_ms=args.duration, gap_ms=0)
            t_return = time.monotonic()
            send_time.append((t_return - t0) * 1000)
            try:
                t_end, _ = watch.wait_for(is_end, 3.0, start=mark, what="DTMFEnd")
            except TimeoutError:
                t_end = None
                no_dtmfend += 1
            t_audio = first_loud_after(call, index, t0, args.min_level, window, args.timeout)
            if t_audio is None:
                no_audio += 1
                if args.verbose:
                    print(f"press {i + 1}: no prompt within {args.timeout:g} s"
                          f"{'' if t_end else ' (no DTMFEnd either)'}", flush=True)
                continue
            from_return.append((t_audio - t_return) * 1000)
            t_sent = tap.sent_ends[sent_before] if len(tap.sent_ends) > sent_before else None
            if t_sent is not None:
                from_sent.append((t_audio - t_sent) * 1000)
                if t_end is not None:
                    sent_to_end.append((t_end - t_sent) * 1000)
            if t_end is None:
                continue
            latency = (t_audio - t_end) * 1000
            from_end.append(latency)
            end_minus_return.append((t_end - t_return) * 1000)
            # Which menu phase the key landed in: the silent prompt starts right after the beep.
            since = (t_end - beep_end) if beep_end is not None else None
            phase = ("unclear" if since is None or PROMPT_SECONDS - 0.1 < since < PROMPT_SECONDS + 0.15
                     else "prompt" if since <= PROMPT_SECONDS - 0.1 else "wait")
            phases[phase].append(latency)
            if args.explain_slow is not None and latency > args.explain_slow:
                explain(watch, mark, t_end, t_audio, i + 1, latency, since)
            if args.verbose:
                print(f"press {i + 1}: DTMFEnd->audio {latency:6.1f} ms, return->audio "
                      f"{from_return[-1]:6.1f} ms, send_dtmf {send_time[-1]:5.1f} ms, "
                      f"{f'since beep {since:.2f} s' if since is not None else ''} [{phase}]", flush=True)
            elif (i + 1) % 25 == 0:
                print(f"  {i + 1}/{args.presses} presses, p95 so far {percentile(from_end, 95):.0f} ms", flush=True)
        call.hangup()
    finally:
        if call is not None:
            with contextlib.suppress(Exception):
                call.hangup()
        if phone is not None:
            phone.stop()
        if watch is not None:
            watch.stop()
        system.stop()

    print()
    print(f"presses: {args.presses}; measured: {len(from_end)}; no DTMFEnd seen: {no_dtmfend}; "
          f"no prompt within {args.timeout:g} s: {no_audio}")
    print(f"send_dtmf() blocked:          {summary(send_time)} (event {args.duration} ms + 3 end packets)")
    print(f"DTMFEnd arrival - send_dtmf() return: {summary(end_minus_return)} (negative: before the return)")
    print(f"send_dtmf() return -> audio:  {summary(from_return)}")
    print(f"phone sent 1st end packet -> DTMFEnd arrives on AMI: {summary(sent_to_end)}")
    print(f"phone sent 1st end packet -> audio (no AMI in the reference): {summary(from_sent)}")
    print(f"DTMFEnd -> audio, key during the silent prompt (barge-in): {summary(phases['prompt'])}")
    print(f"DTMFEnd -> audio, key while waiting (WAIT FOR DIGIT):      {summary(phases['wait'])}")
    if phases["unclear"]:
        print(f"DTMFEnd -> audio, key at the end of the prompt (straddling): {summary(phases['unclear'])}")
    print(f"detection: first 20 ms packet with RMS >= {args.min_level:g} over a {window * 20} ms window")
    if not from_end:
        print("DTMF→prompt: no measurement")
        return 1
    p50, p95, worst = percentile(from_end, 50), percentile(from_end, 95), max(from_end)
    verdict = "OK" if p95 <= args.budget and not no_audio else "OVER" if p95 > args.budget else "MISSED PRESSES"
    print(f"DTMF→prompt (from DTMFEnd on AMI): p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {worst:.0f} ms over "
          f"{len(from_end)} presses (budget p95 ≤ {args.budget:.0f} ms: {verdict})")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
