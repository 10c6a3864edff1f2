"""faster-whisper (CTranslate2 Whisper): the offline default engine, with language detection.

Telephone audio (8 kHz) is read and resampled to Whisper's 16 kHz by faster-whisper itself (PyAV).
int8 on the CPU, `threads` per transcription, greedy decoding (beam 1: measured on this machine,
it is as accurate on short clean messages and twice as fast).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from callcenter.voicemail.audio import MAX_SECONDS, check_wav, head
from callcenter.voicemail.engine import Progress, SpeechError, Transcript, Word
from callcenter.voicemail.models import check



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

    def transcribe(self, path: Path, language: str = "auto", max_seconds: float = MAX_SECONDS,
                   progress: Progress | None = None) -> Transcript:
        """Errors: SpeechError `unreadable-audio` (missing, not a regular file, empty, not a WAV),
        `bad-language`. Audio past `max_seconds` is left out (the transcript says `truncated`)."""
        if language != "auto" and language not in languages():
            raise SpeechError("bad-language", f"{language!r} is not a language Whisper knows (e.g. en, zh, de)")
        duration = check_wav(path)
        model = self._load()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="callcenter-stt-") as tmp:
            source = path if duration <= max_seconds else head(path, max_seconds, Path(tmp) / "head.wav")
            try:
                # vad_filter: silence is skipped, not "transcribed" into invented words (Silero VAD,
                # shipped with faster-whisper): a silent message comes back empty, and fast.
                segments, info = model.transcribe(str(source), language=None if language == "auto" else language,
                                                  beam_size=1, word_timestamps=True, vad_filter=True)
                done = []
                for segment in segments:  # decoded lazily, one segment at a time
                    done.append(segment)
                    if progress is not None:
                        progress(segment.end)
                segments = done
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
