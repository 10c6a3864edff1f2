"""faster-whisper (CTranslate2 Whisper): the offline default engine, with language detection.

Telephone audio (8 kHz) is read and resampled to Whisper's 16 kHz by faster-whisper itself (PyAV).
Settings for speed on a small CPU (measured with bench/stt.py on this project's 2-core machine;
docs/voicemail.md#speed-and-cpu-priority):

- int8 weights on the CPU (`compute_type="int8"`), `threads` CTranslate2 threads per transcription
  (speech.threads; by default the cores shared among speech.workers: engines.cpu_threads).
- Voice-activity filter (`vad_filter=True`: Silero VAD, whose ONNX file ships inside the
  faster-whisper wheel, run by onnxruntime: nothing is downloaded): silence is cut out before
  Whisper sees the audio, so a silent message comes back empty instead of as invented words, and
  pauses cost nothing.
- Greedy decoding by default (`beam_size` 1, speech.beam_size): on the fixtures, the same English
  as beam 2 and one Chinese character more wrong, in about 80% of beam 2's time.
- The encoder sees the message, not 30 s: Whisper's encoder takes 30 s windows (3000 feature
  frames of 10 ms), a voicemail of 6 s is padded with 24 s of nothing, and the encoder (its
  attention is quadratic in the frames) was most of the time. Here it is given the audio's length
  plus WINDOW_MARGIN_SECONDS of that padding (in whole seconds), at most 30 s (Whisper.encode):
  about 7x less encoder work for a 7 s message. Measured: RTF 0.70 → 0.23 on the fixtures, the
  same English, one Chinese character more wrong (申请 heard as 先请); a margin of 3 s was slower
  and no more accurate.
- One encoder pass per window: with the language to detect, faster-whisper 1.2.1 encodes the
  first window once to detect it and once again to transcribe it; here the second is the first's
  result (Whisper.encode keeps the last one).

Chinese transcripts (zh, yue) come back in Simplified characters with numbers as digits
(voicemail/chinese.py).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from callcenter.voicemail.audio import MAX_SECONDS, check_wav, head
from callcenter.voicemail.chinese import normalise
from callcenter.voicemail.engine import Progress, SpeechError, Transcript, Word
from callcenter.voicemail.models import check

COMPUTE_TYPE = "int8"
BEAM_SIZE = 1
FRAMES_PER_SECOND = 100  # Whisper's feature frames (10 ms hop)
FULL_WINDOW = 3000  # frames: the 30 s Whisper was trained on
WINDOW_MARGIN_SECONDS = 2  # of silence after the message in the encoder's window (fewer made the
                           # decoder end a segment early or repeat itself on the fixtures)


def encoder_frames(seconds: float) -> int:
    """Feature frames the encoder is given for `seconds` of audio: the audio and
    WINDOW_MARGIN_SECONDS, rounded up to a whole second, at most Whisper's 30 s window."""
    return min(FULL_WINDOW, math.ceil(seconds + WINDOW_MARGIN_SECONDS) * FRAMES_PER_SECOND)


def _whisper_model() -> Any:
    """WhisperModel with the encoder changes above (a class made at first use: faster-whisper is
    imported only in a process that transcribes)."""
    import numpy as np
    from faster_whisper import WhisperModel

    class Whisper(WhisperModel):
        frames = FULL_WINDOW  # feature frames of this transcription's encoder window
        _last: tuple[bytes, Any] | None = None  # (the features' digest, the encoder's output)

        def encode(self, features: Any) -> Any:
            features = np.ascontiguousarray(features[..., : self.frames])
            digest = hashlib.blake2b(features.tobytes(), digest_size=16).digest()
            if self._last is None or self._last[0] != digest:
                self._last = (digest, super().encode(features))
            return self._last[1]

        def detect_language(self, audio: Any = None, features: Any = None, *args: Any, **kwargs: Any) -> Any:
            # transcribe() gives the features with one frame more (its padding) than it transcribes
            # (generate_segments' content_frames): without it, the window is the one transcribed
            # next, and its encoding is reused.
            if audio is None and features is not None and features.shape[-1] > 1:
                features = features[..., :-1]
            return super().detect_language(audio, features, *args, **kwargs)

    return Whisper


class WhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_dir: Path, threads: int = 2, beam_size: int = BEAM_SIZE) -> None:
        check(model_dir)
        self.model = model_dir.name
        self.model_dir, self.threads, self.beam_size = model_dir, threads, beam_size
        self._model: Any = None
        self.load_seconds = 0.0

    def _load(self) -> Any:
        if self._model is None:
            t0 = time.perf_counter()
            self._model = _whisper_model()(str(self.model_dir), device="cpu", compute_type=COMPUTE_TYPE,
                                           cpu_threads=self.threads)
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
            model.frames = encoder_frames(min(duration, max_seconds))
            try:
                segments, info = model.transcribe(str(source), language=None if language == "auto" else language,
                                                  beam_size=self.beam_size, word_timestamps=True, vad_filter=True)
                done = []
                for segment in segments:  # decoded lazily, one segment at a time
                    done.append(segment)
                    if progress is not None:
                        progress(segment.end)
                segments = done
            except Exception as exc:  # noqa: BLE001 - PyAV/CTranslate2 errors on a strange file
                raise SpeechError("unreadable-audio", f"{path}: {type(exc).__name__}: {exc}") from None
            finally:
                model._last = None  # the encoder's output of this message: not kept for the next
        words = [Word(w.word.strip(), round(w.start, 2), round(w.end, 2), round(w.probability, 3))
                 for s in segments for w in (s.words or [])]
        text = " ".join(s.text.strip() for s in segments).strip()
        return normalise(Transcript(text, info.language if text else (language if language != "auto" else ""),
                                    round(info.language_probability, 3) if text else None, round(duration, 2),
                                    self.name, self.model, round(time.perf_counter() - t0, 3), words,
                                    truncated=duration > max_seconds))


def languages() -> frozenset[str]:
    """The language codes Whisper knows (en, zh, ...)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    return frozenset(_LANGUAGE_CODES)
