"""Find the Asterisk we run: one on PATH, or Debian sid's in a folder root (scripts/install-asterisk.sh).

With a folder root, Asterisk runs under `chroot`, so every path Asterisk sees is a path inside
the root; `AsteriskInstall.inner()` turns our host paths into those.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callcenter.core.errors import Unavailable

DEFAULT_ROOT = Path("/opt/callcenter/asterisk-root")
ROOT_UID = 640  # the asterisk user inside the root (scripts/install-asterisk.sh)


class AsteriskNotInstalled(Unavailable):
    def __init__(self, detail: str) -> None:
        super().__init__("asterisk-not-installed",
                         f"no Asterisk >= 20 found ({detail}); run `make install` or scripts/install-asterisk.sh "
                         "as root", {"detail": detail})


@dataclass(frozen=True)
class AsteriskInstall:
    """Where Asterisk is and how to start it."""

    sysroot: Path  # "/" for an Asterisk on PATH
    binary: str  # path inside sysroot
    modules_dir: str  # inside sysroot
    data_dir: str  # inside sysroot: sounds, moh
    version: str
    uid: int
    gid: int

    @property
    def chrooted(self) -> bool:
        return self.sysroot != Path("/")

    def inner(self, host_path: Path) -> str:
        """The path Asterisk sees for one of our host paths."""
        if not self.chrooted:
            return str(host_path)
        return "/" + str(host_path.resolve().relative_to(self.sysroot.resolve()))

    def command(self, *args: str) -> list[str]:
        """The argv that runs Asterisk (as its own user) with these arguments."""
        if self.chrooted:
            return ["chroot", f"--userspec={self.uid}:{self.gid}", str(self.sysroot), self.binary, *args]
        return [self.binary, *args]

    def instance_base(self, runtime_dir: Path) -> Path:
        """Host folder for one instance's rendered config and state (inside the root if chrooted)."""
        if not self.chrooted:
            return runtime_dir / "asterisk"
        tag = hashlib.sha1(str(runtime_dir.resolve()).encode()).hexdigest()[:10]
        return self.sysroot / "var/lib/callcenter" / f"instance-{tag}"


def _version(argv: list[str]) -> str:
    out = subprocess.run(argv + ["-V"], capture_output=True, text=True, timeout=20)
    return out.stdout.strip()


def _major(version: str) -> int:
    m = re.match(r"Asterisk (\d+)", version)
    return int(m.group(1)) if m else 0


def _find_dir(sysroot: Path, candidates: list[str], marker: str) -> str:
    for c in candidates:
        if (sysroot / c.lstrip("/") / marker).exists():
            return c
    raise AsteriskNotInstalled(f"no {marker} under {sysroot} in {', '.join(candidates)}")


def find_asterisk(env: dict[str, str] | None = None) -> AsteriskInstall:
    """An Asterisk >= 20 on PATH wins; else the folder root (CALLCENTER_ASTERISK_ROOT or the default)."""
    env = dict(os.environ if env is None else env)
    multiarch = f"/usr/lib/{os.uname().machine}-linux-gnu/asterisk/modules"
    module_dirs = [multiarch, "/usr/lib/asterisk/modules", "/usr/lib64/asterisk/modules"]
    data_dirs = ["/usr/share/asterisk", "/var/lib/asterisk"]
    on_path = shutil.which("asterisk")
    if on_path and "CALLCENTER_ASTERISK_ROOT" not in env:
        version = _version([on_path])
        if _major(version) >= 20:
            try:
                user = pwd.getpwnam("asterisk")
                uid, gid = user.pw_uid, user.pw_gid
            except KeyError:
                uid, gid = os.getuid(), os.getgid()
            root = Path("/")
            return AsteriskInstall(root, on_path, _find_dir(root, module_dirs, "res_pjsip.so"),
                                   _find_dir(root, data_dirs, "sounds"), version, uid, gid)
    sysroot = Path(env.get("CALLCENTER_ASTERISK_ROOT", str(DEFAULT_ROOT)))
    binary = "/usr/sbin/asterisk"
    if not (sysroot / binary.lstrip("/")).exists() or not (sysroot / ".callcenter-ready").exists():
        raise AsteriskNotInstalled(f"not on PATH and no root at {sysroot}")
    version = _version(["chroot", str(sysroot), binary])
    return AsteriskInstall(sysroot, binary, _find_dir(sysroot, module_dirs, "res_pjsip.so"),
                           _find_dir(sysroot, data_dirs, "sounds"), version, ROOT_UID, ROOT_UID)
