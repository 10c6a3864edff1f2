"""Which engine: by name and model folder (config `speech.engine`, `speech.model`).

`faster-whisper` (the default: Whisper base, English and Chinese, language detection) or `vosk`
(one language per model folder). Without `speech.model`, each engine takes its installed default
(models.default_model: for vosk, an installed model of the language asked for).
"""

from __future__ import annotations

from pathlib import Path

from callcenter.voicemail import models
from callcenter.voicemail.engine import Engine, SpeechError

ENGINES = ("faster-whisper", "vosk")


def model_for(name: str, model: Path | None = None, language: str = "auto") -> Path:
    """The model folder `name` runs with: the configured one, else the engine's default."""
    return model or models.default_model(engine=name, language=language)


def check(name: str, model: Path | None = None, language: str = "auto") -> Path:
    """The model folder, ready to load (quick: no checksum). Errors: SpeechError `unknown-engine`,
    `no-model` saying how to install one."""
    folder = model_for(name, model, language)
    if name == "faster-whisper":
        models.check(folder)
    elif name == "vosk":
        from callcenter.voicemail.vosk import check_folder
        check_folder(folder)
    else:
        raise SpeechError("unknown-engine", f"no speech engine {name!r} (engines: {', '.join(ENGINES)})")
    return folder


def engine(name: str = "faster-whisper", model: Path | None = None, threads: int = 2,
           language: str = "auto") -> Engine:
    """Errors: SpeechError `unknown-engine`, `no-model`."""
    folder = check(name, model, language)
    if name == "vosk":
        from callcenter.voicemail.vosk import VoskEngine
        return VoskEngine(folder)
    from callcenter.voicemail.whisper import WhisperEngine
    return WhisperEngine(folder, threads)
