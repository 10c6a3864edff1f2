"""A live reload of callcenter.yaml: validated first, rendered into Asterisk's configuration,
reloaded into Asterisk module by module (PJSIP, queues, dialplan: calls in progress are not
touched), then handed to the running features.

Whatever goes wrong (an unreadable file, a render error, AMI down meanwhile) is refused with its
reason in `error`, the log and `callcenter status`, and the watcher keeps watching
(docs/design.md#11). Sections that move sockets or folders need a restart (`needs-restart`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from callcenter.ami import actions
from callcenter.ami.client import AmiError
from callcenter.ami.port import AmiPort
from callcenter.asterisk.install import AsteriskInstall
from callcenter.asterisk.render import render
from callcenter.config import Config, ConfigError, check_sounds, load_config
from callcenter.core.credentials import Credentials
from callcenter.core.errors import CallcenterError
from callcenter.ivr.prompts import sound_finder

log = logging.getLogger(__name__)

# Sections a running system cannot change: they move sockets or folders.
# (chat is live: its limits, queue, origins and canned replies are read from the config in force.)
RESTART_ONLY = ("runtime_dir", "ivr_flows", "sip", "ami", "api", "store", "speech", "email", "sms")


async def reload_asterisk_config(ami: AmiPort) -> None:
    """Make a running Asterisk read its rendered config again (PJSIP, queues, dialplan); calls in
    progress are not touched. Errors: AmiError."""
    for command in ("module reload res_pjsip.so", "queue reload parameters", "dialplan reload"):
        await ami.send(actions.command(command), timeout=15)


class ConfigReloader:
    """Apply an edited callcenter.yaml live: agents, queues, DIDs, trunk, routing, chat.

    `current()` is the configuration in force; `apply(new)` hands a validated, rendered and
    reloaded configuration to the running features; `banned()` lists the SIP guard's bans (kept in
    the rendered pjsip.conf)."""

    def __init__(self, path: Path, install: AsteriskInstall, ami: AmiPort, current: Callable[[], Config],
                 apply: Callable[[Config], Awaitable[None]], banned: Callable[[], list[str]]) -> None:
        self.path, self.install, self.ami, self.current, self.apply, self.banned = path, install, ami, current, apply, banned
        self.error = ""
        self.error_id = ""
        self.reloads = 0
        self._seen = self._stat()
        self._lock = asyncio.Lock()  # the file watcher and `callcenter config reload` may both ask

    def _stat(self) -> str:
        """What the file says (a hash): saving it unchanged reloads nothing."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def describe(self) -> dict[str, Any]:
        """The `config` part of the status: reloads done, and why the last one was refused."""
        return {"reloads": self.reloads, "error": self.error, "error_id": self.error_id}

    async def reload(self) -> dict[str, Any]:
        """Apply the file now; `{"reloaded": bool, ...}` with `error_id` and `error` when refused."""
        async with self._lock:
            try:
                return await self._reload()
            except AmiError as exc:
                # Asterisk was not reachable for the reload: try again at the next look.
                self._seen = ""
                return self._refused(f"not applied, Asterisk unreachable ({exc}); will retry", "ami-unavailable")
            except CallcenterError as exc:
                return self._refused(str(exc), exc.error_id)
            except Exception as exc:  # noqa: BLE001 - a bad edit must never stop the controller
                log.exception("config reload failed")
                return self._refused(f"{type(exc).__name__}: {exc}", "reload-failed")

    def _refused(self, reason: str, error_id: str) -> dict[str, Any]:
        if (error_id, reason) != (self.error_id, self.error):  # a retry that fails alike is not logged again
            log.error("config NOT reloaded: %s: %s", error_id, reason)
        self.error, self.error_id = reason, error_id
        return {"reloaded": False, "error": self.error, "error_id": error_id}

    async def _reload(self) -> dict[str, Any]:
        self._seen = self._stat()
        old = self.current()
        # Off the event loop: a large or hostile file must not stall the calls (and is bounded anyway).
        new = await asyncio.to_thread(load_config, self.path)
        check_sounds(new, sound_finder(self.install.sysroot, self.install.data_dir))
        moved = [k for k in RESTART_ONLY if getattr(new, k) != getattr(old, k)]
        if moved:
            raise ConfigError(f"changing {', '.join(moved)} needs a restart (callcenter run again)",
                              file=str(self.path), error_id="needs-restart")
        creds = Credentials.load_or_create(new.runtime_dir, new.agents, new.supervisors)
        render(self.install, new, creds, banned=self.banned())
        await reload_asterisk_config(self.ami)
        await self.apply(new)
        self.error = self.error_id = ""
        self.reloads += 1
        log.info("config reloaded: %d agents, %d queues, %d DIDs", len(new.agents), len(new.queues), len(new.dids))
        return {"reloaded": True, "agents": list(new.agents), "queues": list(new.queues), "dids": list(new.dids)}

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._stat() != self._seen:
                await self.reload()
