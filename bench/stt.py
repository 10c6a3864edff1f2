"""Benchmark: speech to text on the fixture set (prints figures; not a test).

    .venv/bin/python bench/stt.py                 # the configured default: faster-whisper, Whisper base
    .venv/bin/python bench/stt.py --model /path/to/model --threads 2

Run from the repository root. For each fixture in tests/fixtures/speech (8 kHz natural-voice WAVs
with their texts, scripts/make-speech-fixtures.sh): WER against the written form of what was said
(`.expected`, numbers as digits, else the spoken `.txt`; jiwer, lower case, no punctuation),
real-time factor (processing seconds / audio seconds; the first file includes warm-up), then the
model's load time, the corpus WER, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jiwer  # noqa: E402

from callcenter.speech import models  # noqa: E402
from callcenter.speech.engines import engine  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
NORMALIZE = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                           jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=models.default_model())
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    stt = engine("faster-whisper", args.model, args.threads)
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
    print(f"faster-whisper {args.model.name}: model load {load:.2f} s; corpus WER {corpus:.1%} over {len(refs)} files; "
          f"RTF {busy / audio:.2f} ({busy:.1f} s for {audio:.1f} s of audio, {args.threads} threads); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
