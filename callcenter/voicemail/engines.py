"""Which engine: by name and model folder (config `speech.engine`, `speech.model`).

`faster-whisper` (the default: Whisper base, English and Chinese, language detection) or `vosk`
(one language per model folder). Without `speech.model`, each engine takes its installed default
(models.default_model: for vosk, an installed model of the language asked for).
"""

from __future__ import annotations

import os
from pathlib import Path

from callcenter.voicemail import models
from callcenter.voicemail.engine import Engine, SpeechError

ENGINES = ("faster-whisper", "vosk")


def cores() -> int:
    """CPU cores this process may run on (its affinity: a container's or taskset's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_threads(threads: int, workers: int) -> int:
    """Threads of one transcription: speech.threads (0: automatic), so that threads x workers is
    at most the cores (more would only make the workers take turns on them, each transcription
    slower and the calls' CPU scarcer): at most cores // workers, at least 1."""
    fair = max(1, cores() // max(1, workers))
    return min(threads, fair) if threads > 0 else fair


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
           language: str = "auto", beam_size: int = 1) -> Engine:
    """`threads`: CPU threads of one transcription; `beam_size`: Whisper's beam (1: greedy).
    Errors: SpeechError `unknown-engine`, `no-model`."""
    folder = check(name, model, language)
    if name == "vosk":
        from callcenter.voicemail.vosk import VoskEngine
        return VoskEngine(folder)
    from callcenter.voicemail.whisper import WhisperEngine
    return WhisperEngine(folder, threads, beam_size)
