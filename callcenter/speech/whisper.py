"""faster-whisper (CTranslate2 Whisper): the offline default engine, with language detection.

Telephone audio (8 kHz) is read and resampled to Whisper's 16 kHz by faster-whisper itself (PyAV).
int8 on the CPU, `threads` per transcription, greedy decoding (beam 1: measured on this machine,
it is as accurate on short clean messages and twice as fast).
"""

from __future__ import annotations

import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from callcenter.speech.engine import SpeechError, Transcript, Word
from callcenter.speech.models import check

MAX_SECONDS = 600.0  # audio beyond this is not transcribed (config speech.max_seconds)


class WhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_dir: Path, threads: int = 2) -> None:
        check(model_dir)
        self.model = model_dir.name
        self.model_dir, self.threads = model_dir, threads
        self._model: Any = None
        self.load_seconds = 0.0

    def _load(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel  # heavy: only in a process that transcribes
            t0 = time.perf_counter()
            self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=self.threads)
            self.load_seconds = time.perf_counter() - t0
        return self._model

    def transcribe(self, path: Path, language: str = "auto", max_seconds: float = MAX_SECONDS) -> Transcript:
        """Errors: SpeechError `unreadable-audio` (missing, not a regular file, empty, not a WAV),
        `bad-language`. Audio past `max_seconds` is left out (the transcript says `truncated`)."""
        if language != "auto" and language not in languages():
            raise SpeechError("bad-language", f"{language!r} is not a language Whisper knows (e.g. en, zh, de)")
        duration = _check_wav(path)
        model = self._load()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="callcenter-stt-") as tmp:
            source = path if duration <= max_seconds else _head(path, max_seconds, Path(tmp) / "head.wav")
            try:
                # vad_filter: silence is skipped, not "transcribed" into invented words (Silero VAD,
                # shipped with faster-whisper): a silent message comes back empty, and fast.
                segments, info = model.transcribe(str(source), language=None if language == "auto" else language,
                                                  beam_size=1, word_timestamps=True, vad_filter=True)
                segments = list(segments)
            except Exception as exc:  # noqa: BLE001 - PyAV/CTranslate2 errors on a strange file
                raise SpeechError("unreadable-audio", f"{path}: {type(exc).__name__}: {exc}") from None
        words = [Word(w.word.strip(), round(w.start, 2), round(w.end, 2), round(w.probability, 3))
                 for s in segments for w in (s.words or [])]
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcript(text, info.language if text else (language if language != "auto" else ""),
                          round(info.language_probability, 3) if text else None, round(duration, 2), self.name,
                          self.model, round(time.perf_counter() - t0, 3), words, truncated=duration > max_seconds)


def languages() -> frozenset[str]:
    """The language codes Whisper knows (en, zh, ...)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    return frozenset(_LANGUAGE_CODES)


def _check_wav(path: Path) -> float:
    """The WAV's length in seconds. Errors: SpeechError `unreadable-audio`."""
    try:
        if not path.is_file():  # a FIFO, a device, a folder: never opened (a FIFO would block)
            raise SpeechError("unreadable-audio", f"{path}: no such file" if not path.exists()
                              else f"{path}: not a regular file")
        with wave.open(str(path), "rb") as w:
            frames, rate, width, channels = w.getnframes(), w.getframerate(), w.getsampwidth(), w.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise SpeechError("unreadable-audio", f"{path}: not a WAV file ({exc or 'no RIFF/WAVE header'})") from None
    except OSError as exc:
        raise SpeechError("unreadable-audio", f"{path}: cannot be read ({exc.strerror or exc})") from None
    if frames == 0 or rate == 0:
        raise SpeechError("unreadable-audio", f"{path}: no audio (0 frames)")
    # A header may claim more than the file holds (a sparse or truncated file): trust the bytes.
    frames = min(frames, max(0, path.stat().st_size - 44) // max(1, width * channels))
    if frames == 0:
        raise SpeechError("unreadable-audio", f"{path}: no audio (the header promises data the file lacks)")
    return frames / rate


def _head(path: Path, seconds: float, out: Path) -> Path:
    """The first `seconds` of a WAV, copied into `out` (read in blocks: never the whole file)."""
    with wave.open(str(path), "rb") as src, wave.open(str(out), "wb") as dst:
        dst.setnchannels(src.getnchannels())
        dst.setsampwidth(src.getsampwidth())
        dst.setframerate(src.getframerate())
        left = int(seconds * src.getframerate())
        while left > 0:
            block = src.readframes(min(left, 1 << 16))
            if not block:
                break
            dst.writeframes(block)
            left -= len(block) // (src.getsampwidth() * src.getnchannels())
    return out
