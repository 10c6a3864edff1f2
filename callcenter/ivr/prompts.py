"""Sounds for flows: turn `say:` text into telephone audio, and find Asterisk's own sounds.

`say:` text is synthesized once, when a flow is loaded, with espeak-ng (Debian), resampled by sox
to 8 kHz 16-bit mono WAV (what Asterisk plays without transcoding surprises), and cached by a
hash of (voice, text): editing one prompt re-synthesizes only that prompt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from callcenter.core.errors import Unavailable

SOUND_EXTENSIONS = ("gsm", "wav", "ulaw", "alaw", "sln", "sln16", "g722", "g729", "wav16")
# Flow `language` → espeak-ng voice, when the flow names no `voice`.
VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de", "es": "es", "it": "it", "nl": "nl", "pt": "pt-br"}


class TtsFailed(Unavailable):
    def __init__(self, text: str, why: str) -> None:
        why = " ".join(why.split())[:300]  # one line: it ends up in the log and `callcenter flow list`
        super().__init__("tts-failed", f"could not turn {text[:40]!r} into audio: {why}", {"text": text})


class PromptSynth:
    """espeak-ng + sox, with a content-hash cache in `directory` (a folder Asterisk can read)."""

    def __init__(self, directory: Path, asterisk_name: Callable[[Path], str], uid: int = -1, gid: int = -1) -> None:
        self.directory = directory
        self.asterisk_name = asterisk_name  # host path → the name Asterisk plays it by
        self.uid, self.gid = uid, gid

    @staticmethod
    def voice_for(language: str, voice: str) -> str:
        return voice or VOICES.get(language, language)

    def file_for(self, text: str, language: str, voice: str = "") -> str:
        """The sound for `text` (synthesized now unless cached), as Asterisk names it."""
        voice = self.voice_for(language, voice)
        digest = hashlib.sha256(f"espeak-ng|{voice}|{text}".encode()).hexdigest()[:20]
        target = self.directory / f"{digest}.wav"
        if not target.exists():
            self._synthesize(text, voice, target)
        return self.asterisk_name(target.with_suffix(""))

    def _synthesize(self, text: str, voice: str, target: Path) -> None:
        for tool in ("espeak-ng", "sox"):
            if shutil.which(tool) is None:
                raise TtsFailed(text, f"{tool} is not installed (make install, or apt-get install espeak-ng sox)")
        raw, tmp = target.with_suffix(".raw.wav"), target.with_suffix(".tmp.wav")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # The text goes on stdin, never in argv: no "Argument list too long", and a text that starts
            # with "-" is not an option.
            subprocess.run(["espeak-ng", "-v", voice, "-s", "155", "-w", str(raw), "--stdin"], input=text.encode(),
                           check=True, capture_output=True, timeout=60)
            subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(tmp)],
                           check=True, capture_output=True, timeout=60)
            if self.uid >= 0 and os.geteuid() == 0:
                os.chown(tmp, self.uid, self.gid)
            os.replace(tmp, target)
        except subprocess.CalledProcessError as exc:
            raise TtsFailed(text, (exc.stderr or b"").decode(errors="replace").strip() or str(exc)) from None
        except subprocess.TimeoutExpired as exc:
            raise TtsFailed(text, f"timed out after {exc.timeout:g} s") from None
        except OSError as exc:  # cannot run it, or cannot write the cache
            raise TtsFailed(text, f"{type(exc).__name__}: {exc}") from None
        finally:
            raw.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)


def resolve_in_root(sysroot: Path, inner: str) -> Path:
    """Host path of a path inside `sysroot`, following absolute symlinks as Asterisk would see them
    (Debian's sounds/en is a link to /etc/alternatives/..., which only resolves inside the root)."""
    path = sysroot / inner.lstrip("/")
    for _ in range(20):
        parts = path.relative_to(sysroot).parts
        for i in range(1, len(parts) + 1):
            part = sysroot.joinpath(*parts[:i])
            if part.is_symlink():
                link = os.readlink(part)
                base = sysroot / link.lstrip("/") if link.startswith("/") else part.parent / link
                path = Path(os.path.normpath(base.joinpath(*parts[i:])))
                break
        else:
            return path
    return path


def sound_finder(sysroot: Path, data_dir: str) -> Callable[[str, str], bool]:
    """`exists(name, language)` for Asterisk's sounds (names like `hello-world`, `digits/1`)."""
    def exists(name: str, language: str) -> bool:
        try:
            if name.startswith("/"):
                stems = [resolve_in_root(sysroot, name)]
            else:
                stems = [resolve_in_root(sysroot, f"{data_dir}/sounds/{language}/{name}"),
                         resolve_in_root(sysroot, f"{data_dir}/sounds/{name}")]
            return any(stem.with_name(f"{stem.name}.{ext}").exists() for stem in stems for ext in SOUND_EXTENSIONS)
        except (OSError, ValueError):  # a name too long for a file, a NUL, a path out of the root
            return False
    return exists
