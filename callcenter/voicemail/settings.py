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
    threads: int = 2  # CPU threads per transcription
    workers: int = 1  # transcription processes (each holds a model: ~350 MB)
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
    for key, value, high in (("threads", speech.threads, 64), ("workers", speech.workers, 16),
                             ("attempts", speech.attempts, 20), ("max_seconds", speech.max_seconds, 7200)):
        loc.check_range(("speech", key), value, 1, high)
