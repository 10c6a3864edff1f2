"""Benchmark: a caller hangs up after leaving a voicemail -> the transcript is on the ticket.

    .venv/bin/python -m bench.voicemail                  # 20 voicemails, 2 callers at a time
    .venv/bin/python -m bench.voicemail --calls 40 --concurrent 4 --workers 2 --threads 1

Prints figures; not a test. Run from the repository root. It starts its own `callcenter run` (real
Asterisk + controller, the default engine faster-whisper with Whisper base) from a temporary folder
on ports of its own (SIP 35060, AMI 35038, API 38080; phones 50000+) and stops it at the end.

Each caller (a pyVoIP phone on the trunk) dials a DID whose flow is one `voicemail` node (no
greeting, a beep), waits for the beep, plays one of the natural-voice fixtures
(tests/fixtures/speech, 4.4-7.9 s) and hangs up. The figure is the time from the caller's BYE to
the moment the REST API shows that voicemail `done` (polled every 50 ms): recording closed,
VoicemailRecorded through the bus, the store's job, the worker's process transcribing, the text on
the ticket. Reported: p50/p95/max, and as a ratio to the message's length (the budget: p95 <= 2x),
and voicemails per minute over the run (first hang-up to last transcript).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import wave
from pathlib import Path

from bench._harness import (
    PHONE_PORTS,
    SIP_PORT,
    BenchSystem,
    PortAllocator,
    SipPhone,
    exit_on_sigterm,
    percentile,
)

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
DID = "8005550120"
FLOW = """\
name: vmbench
language: en
entry: message
nodes:
  message:
    voicemail: {max_length: 60, beep: true}
"""
DIDS = f'  "{DID}": {{name: Voicemail bench, flow: vmbench, queue: support}}\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=2, help="callers leaving a message at once")
    parser.add_argument("--workers", type=int, default=1, help="speech.workers")
    parser.add_argument("--threads", type=int, default=2, help="speech.threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    exit_on_sigterm()
    speech = f"speech: {{workers: {args.workers}, threads: {args.threads}}}\n"
    system = BenchSystem(DIDS, {"vmbench": FLOW}, keep=args.keep, extra_yaml=speech)
    clips = []
    for path in sorted(FIXTURES.glob("*.wav")):
        with wave.open(str(path), "rb") as w:
            clips.append((w.readframes(w.getnframes()), w.getnframes() / w.getframerate()))
    ports = PortAllocator(**PHONE_PORTS)
    hung_up: dict[str, tuple[float, float]] = {}  # caller id -> (BYE sent, message seconds)
    done: dict[str, float] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def caller(i: int) -> None:
        number = f"55501200{i:02d}"
        pcm, seconds = clips[i % len(clips)]
        phone = SipPhone(server_port=SIP_PORT, caller_id=number, **ports.allocate().as_kwargs())
        try:
            phone.start()
            call = phone.call(DID, timeout=10)
            time.sleep(1.5)  # the beep
            call.play_audio(pcm)
            time.sleep(0.3)
            with lock:
                hung_up[number] = (time.monotonic(), seconds)
            call.hangup()
        except Exception as exc:  # noqa: BLE001 - counted and shown
            errors.append(f"{number}: {type(exc).__name__}: {exc}")
        finally:
            phone.stop()

    try:
        system.start()
        print(f"callcenter ready in {system.ready_seconds:.1f} s; {args.calls} voicemails, {args.concurrent} at a "
              f"time, speech.workers {args.workers} x {args.threads} threads", flush=True)
        threads: list[threading.Thread] = []
        for i in range(args.calls):
            while sum(t.is_alive() for t in threads) >= args.concurrent:
                time.sleep(0.05)
            t = threading.Thread(target=caller, args=(i,), daemon=True)
            t.start()
            threads.append(t)
            time.sleep(0.2)
            for row in system.call("/api/voicemails?limit=1000"):
                if row["state"] in ("done", "empty", "failed") and row["caller"] not in done:
                    done[row["caller"]] = time.monotonic()
        deadline = time.monotonic() + 600
        while len(done) < args.calls - len(errors) and time.monotonic() < deadline:
            for row in system.call("/api/voicemails?limit=1000"):
                if row["state"] in ("done", "empty", "failed") and row["caller"] not in done:
                    done[row["caller"]] = time.monotonic()
                    if row["state"] != "done":
                        errors.append(f"{row['caller']}: {row['state']} {row['error']}")
            time.sleep(0.05)
    finally:
        system.stop()
    took = [done[n] - hung_up[n][0] for n in hung_up if n in done]
    ratio = [(done[n] - hung_up[n][0]) / hung_up[n][1] for n in hung_up if n in done]
    if not took:
        sys.exit(f"no voicemail transcribed; errors: {errors}")
    first, last = min(t for t, _ in hung_up.values()), max(done.values())
    print(f"hang-up -> transcript on the ticket over {len(took)} voicemails: p50 {percentile(took, 50):.2f} s, "
          f"p95 {percentile(took, 95):.2f} s, max {max(took):.2f} s")
    print(f"as a multiple of the message's length: p50 {percentile(ratio, 50):.2f}x, p95 {percentile(ratio, 95):.2f}x "
          f"(budget p95 <= 2x)")
    print(f"throughput: {len(took) / (last - first) * 60:.1f} voicemails/minute (first hang-up to last transcript, "
          f"{last - first:.0f} s)")
    if errors:
        print(f"errors ({len(errors)}): {errors[:5]}")


if __name__ == "__main__":
    main()
