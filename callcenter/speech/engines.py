"""Which engine: by name and model folder (config `speech.engine`, `speech.model`)."""

from __future__ import annotations

from pathlib import Path

from callcenter.speech.engine import Engine, SpeechError
from callcenter.speech.models import default_model

ENGINES = ("faster-whisper",)


def engine(name: str = "faster-whisper", model: Path | None = None, threads: int = 2) -> Engine:
    """Errors: SpeechError `unknown-engine`, `no-model`."""
    if name == "faster-whisper":
        from callcenter.speech.whisper import WhisperEngine
        return WhisperEngine(model or default_model(), threads)
    raise SpeechError("unknown-engine", f"no speech engine {name!r} (engines: {', '.join(ENGINES)})")
