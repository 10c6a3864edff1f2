"""Settings of voicemail transcription (`speech:`): the engine, its model and language, and how
much work it may take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callcenter.core.config import Locator

ENGINES = ("faster-whisper", "vosk")


@dataclass(frozen=True)
class SpeechSettings:
    """Voicemail transcription (callcenter/voicemail/). `model` empty: the installed default
    (Whisper base, /opt/callcenter/models/whisper-base, or $CALLCENTER_MODELS)."""

    engine: str = "faster-whisper"
    model: str = ""  # a model folder; relative to this file
    language: str = "auto"  # auto-detect, or an ISO 639-1 code: en, zh, ...
    threads: int = 0  # CPU threads per transcription; 0: the cores shared among the workers (at most cores // workers)
    workers: int = 1  # transcription processes (each holds a model: ~350 MB)
    beam_size: int = 1  # Whisper's beam: 1 is greedy decoding (the fastest; 2: ~25% slower, see docs/voicemail.md)
    nice: int = 10  # niceness added to the transcription processes: voice (controller, Asterisk) goes first
    attempts: int = 3  # tries of a voicemail before it is recorded as failed
    max_seconds: int = 600  # audio past this is not transcribed (the transcript says truncated)


def _languages() -> frozenset[str]:
    from callcenter.voicemail.whisper import languages  # imports faster-whisper: only when a language is set
    return languages()


def check(speech: SpeechSettings, model: Path | None, loc: Locator) -> None:
    """`model`: the folder `speech.model` names, resolved against the config file (None: the default)."""
    if speech.engine not in ENGINES:
        raise loc.error(("speech", "engine"), f"unknown engine '{speech.engine}' (engines: {', '.join(ENGINES)})",
                        "bad-value")
    if speech.language != "auto" and speech.language not in _languages():
        raise loc.error(("speech", "language"), f"'{speech.language}' is not auto or a language code Whisper "
                        "knows (en, zh, de, ...)", "bad-value")
    if model is not None and not model.is_dir():
        raise loc.error(("speech", "model"), f"no model folder '{speech.model}' (relative to this file)", "no-model")
    if not 1 <= speech.nice <= 19:
        # 0 would let transcription compete with the calls for the CPU; 19 is the lowest priority.
        raise loc.error(("speech", "nice"), f"nice {speech.nice} must be 1 to 19 (the niceness added to the "
                        "transcription processes: they must run below the controller and Asterisk)", "bad-value")
    for key, value, low, high in (("threads", speech.threads, 0, 64), ("workers", speech.workers, 1, 16),
                                  ("beam_size", speech.beam_size, 1, 10), ("attempts", speech.attempts, 1, 20),
                                  ("max_seconds", speech.max_seconds, 1, 7200)):
        loc.check_range(("speech", key), value, low, high)
