"""One small interface for speech engines.

`transcribe(path, language)` takes a WAV file (any rate; telephone audio is 8 kHz mono) and a
language (`auto`, `en`, `zh`, ...) and returns a Transcript. Engines are slow to load (a model of
~150 MB): load once per process, reuse. Errors: SpeechError `unreadable-audio` (a missing, empty or
corrupt file), `no-model` (the model folder is missing or fails its checksum).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from callcenter.core.errors import CallcenterError


class SpeechError(CallcenterError):
    """`unreadable-audio`, `no-model`, `unknown-engine`, `bad-language`, `model-install-failed`."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    confidence: float  # 0..1, as the engine gives it


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # ISO 639-1, as detected or as asked
    language_probability: float | None
    duration: float  # seconds of audio
    engine: str
    model: str
    seconds: float  # processing time
    words: list[Word] = field(default_factory=list)
    truncated: bool = False  # the audio was longer than the limit: only its beginning is here

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[float], None]  # seconds of audio done so far


class Engine(Protocol):
    name: str
    model: str

    def transcribe(self, path: Path, language: str = "auto", max_seconds: float = 600.0,
                   progress: Progress | None = None) -> Transcript: ...
