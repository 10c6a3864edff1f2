"""Render Asterisk's configuration from `asterisk-config/*.j2` and callcenter.yaml.

Nobody edits the rendered files: they are rewritten at every start (and, later, on live
changes). The rendered folder is the instance's own: config, pid and control socket, logs, AstDB,
spool. Files holding secrets are readable by Asterisk's user only.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import jinja2

from callcenter.asterisk.dtls import ensure_certificate
from callcenter.asterisk.install import AsteriskInstall
from callcenter.config import Config
from callcenter.core.endpoints import BROWSER_SUFFIX
from callcenter.ivr.settings import normalize_did
from callcenter.core.credentials import Credentials

# The templates shipped in the repository; CALLCENTER_ASTERISK_TEMPLATES points at your own copy.
TEMPLATES = Path(__file__).resolve().parents[2] / "asterisk-config"

# Seconds: how stale the controller's AstDB heartbeat may be before new callers take the
# fallback, and how long a caller waits on a silent controller before the watchdog rescues it.
HEARTBEAT_INTERVAL = 2
HEARTBEAT_MAX = 6
WATCHDOG = 15
# Seconds a transfer target (an agent) rings before the transfer counts as not answered.
TRANSFER_RING_SECONDS = 20
# Seconds a hold lasts at most when nobody resumes it (the controller away): the customer goes back
# to their queue ([cc-hold] in extensions.conf.j2).
HOLD_MAX_SECONDS = 900


@dataclass(frozen=True)
class InstanceDirs:
    """Host paths of one Asterisk instance's folders."""

    base: Path

    @property
    def etc(self) -> Path:
        return self.base / "etc"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.base / "log"

    @property
    def spool(self) -> Path:
        return self.base / "spool"

    @property
    def db(self) -> Path:
        return self.base / "db"

    @property
    def lib(self) -> Path:
        return self.base / "lib"

    @property
    def voicemail(self) -> Path:
        """Recorded messages (Asterisk's RECORD FILE writes them)."""
        return self.spool / "voicemail"

    @property
    def recordings(self) -> Path:
        """Queue calls recorded by MixMonitor (queues with `record: true`): <Linkedid>.wav."""
        return self.spool / "monitor"

    @property
    def cdr(self) -> Path:
        """Asterisk's call records (cdr_custom.conf): one JSON object per line."""
        return self.log / "cdr-custom" / "cdr.json"

    @property
    def tts(self) -> Path:
        """Prompts synthesized from flows' `say:` text."""
        return self.lib / "sounds" / "tts"

    @property
    def dtls(self) -> Path:
        """The browser softphone's DTLS certificate and key (asterisk/dtls.py), generated at first start."""
        return self.lib / "dtls"

    @property
    def config_file(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.run / "asterisk.pid"

    @property
    def console_log(self) -> Path:
        return self.log / "console.log"

    @property
    def messages_log(self) -> Path:
        return self.log / "messages.log"


def render(install: AsteriskInstall, config: Config, creds: Credentials, banned: Iterable[str] = ()) -> InstanceDirs:
    """Write the instance's config; create its folders owned by Asterisk's user. `banned`: source
    addresses PJSIP refuses (callcenter/asterisk/sip_guard.py), already checked as IP addresses."""
    dirs = InstanceDirs(install.instance_base(config.runtime_dir))
    for d in (dirs.etc, dirs.run, dirs.log, dirs.cdr.parent, dirs.spool, dirs.db, dirs.lib, dirs.voicemail,
              dirs.recordings, dirs.tts):
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, install.uid, install.gid)  # Asterisk writes here (logs, AstDB, recordings)
    os.chmod(dirs.etc, 0o750)
    # A link from the runtime folder, so people find the logs and config of this instance.
    link = config.runtime_dir / "asterisk"
    if install.chrooted and not link.is_symlink():
        config.runtime_dir.mkdir(parents=True, exist_ok=True)
        link.symlink_to(dirs.base)
    low, high = config.sip.rtp_range
    dtls = ensure_certificate(dirs.dtls, install.uid, install.gid)
    context = {
        "chrooted": install.chrooted, "sysroot": str(install.sysroot),
        "dirs": {k: install.inner(getattr(dirs, k)) for k in ("etc", "run", "log", "spool", "db", "lib")},
        "modules_dir": install.modules_dir, "data_dir": install.data_dir,
        "sip": config.sip, "ami": config.ami, "trunk": config.trunk,
        "dids": {normalize_did(n): d for n, d in config.dids.items()},
        "queues": config.queues, "agents": config.agents, "secrets": creds,
        "phones": [{"name": n, "full_name": a.full_name or n, "extension": a.extension, "context": "agents",
                    "password": creds.agent_passwords[n]} for n, a in config.agents.items()]
        + [{"name": n, "full_name": s.full_name or n, "extension": s.extension, "context": "supervisors",
            "password": creds.supervisor_passwords[n]} for n, s in config.supervisors.items()],
        "rtp_low": low, "rtp_high": high,
        "heartbeat_max": HEARTBEAT_MAX, "watchdog": WATCHDOG, "transfer_ring_seconds": TRANSFER_RING_SECONDS,
        "hold_max_seconds": HOLD_MAX_SECONDS,
        "dtls": {"cert": install.inner(dtls.cert), "key": install.inner(dtls.key)},
        "webrtc_suffix": BROWSER_SUFFIX,
        "banned": [str(ipaddress.ip_address(a)) for a in sorted(banned)],
    }
    templates = Path(os.environ.get("CALLCENTER_ASTERISK_TEMPLATES") or TEMPLATES)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    for template in sorted(templates.glob("*.conf.j2")):
        target = dirs.etc / template.name.removesuffix(".j2")
        text = env.get_template(template.name).render(context)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        if os.geteuid() == 0:
            os.chown(tmp, 0, install.gid)  # readable by Asterisk's group only: secrets inside
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    return dirs
