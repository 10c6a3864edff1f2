"""Wiring: build everything from the config, start it in order, stop it in reverse.

`run()` is what `make run` / `callcenter run` does: secrets, rendered Asterisk config, our own
Asterisk (or the one a killed controller left running), the AMI connection, the controller, the
REST API. It restarts Asterisk if Asterisk dies, and on SIGINT/SIGTERM stops everything, Asterisk
included. No module-level engines or singletons: everything is built here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from callcenter.ami.client import AmiClient, AmiLoginRefused, AmiUnavailable
from callcenter.asterisk.install import AsteriskInstall, find_asterisk
from callcenter.asterisk.process import AsteriskProcess, AsteriskStartError, check_port_free
from callcenter.asterisk.render import InstanceDirs, render
from callcenter.config import Config, ConfigError, load_config
from callcenter.controller import Controller
from callcenter.credentials import Credentials
from callcenter.errors import CallcenterError
from callcenter.ivr.flows import FlowLibrary, flow_context
from callcenter.ivr.prompts import PromptSynth
from callcenter.ivr.runner import VoicemailBox
from callcenter.web.api import make_app, start_api

log = logging.getLogger("callcenter")

BOOT_TIMEOUT = 30.0


def setup_logging(config: Config, verbose: bool = False) -> None:
    config.runtime_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(config.runtime_dir / "controller.log")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


async def wait_until_booted(asterisk: AsteriskProcess, ami: AmiClient, timeout: float = BOOT_TIMEOUT) -> None:
    """Log in to AMI as soon as Asterisk opens it, then wait for it to be fully booted.

    Asterisk dying meanwhile, or never opening AMI, is reported with its log tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not asterisk.alive():
            raise AsteriskStartError(f"Asterisk stopped while starting ({asterisk.exit_status()})", asterisk.log_tail())
        try:
            await ami.connect()
            break
        except AmiLoginRefused:
            raise
        except AmiUnavailable:
            if time.monotonic() > deadline:
                raise AsteriskStartError(f"Asterisk did not open its AMI port within {timeout:g} s",
                                         asterisk.log_tail()) from None
            await asyncio.sleep(0.1)
    await ami.send({"Action": "Command", "Command": "core waitfullybooted"}, timeout=timeout)


def banner(config: Config, creds: Credentials, install: AsteriskInstall, asterisk: AsteriskProcess,
           dirs: InstanceDirs, ready_in: float, adopted: bool) -> str:
    sip = f"{config.sip.bind}:{config.sip.port}"
    lines = [
        f"callcenter is running ({install.version.split('+')[0]}, pid {asterisk.pid}"
        f"{', adopted' if adopted else ''}; ready in {ready_in:.1f} s)",
        f"  SIP (UDP)  {sip}    RTP {config.sip.rtp_ports}",
    ]
    for number, did in config.dids.items():
        route = f"flow {did.flow}" if did.flow else f"greeting, then queue {did.queue}"
        lines.append(f"  hotline    sip:{number}@{sip}  ({did.name or number}: {route})")
    lines += [
        f"  AMI        {config.ami.bind}:{config.ami.port}  (user {config.ami.username}, controller only)",
        f"  REST API   http://{config.api.bind}:{config.api.port}/api/status  "
        f"(token: {Credentials.path(config.runtime_dir)})",
        f"  agents     register at sip:{sip} (UDP) with these demo credentials:",
    ]
    for name, agent in config.agents.items():
        lines.append(f"    {name:<8} ext {agent.extension:<6} password {creds.agent_passwords[name]}  "
                     f"queues: {', '.join(agent.queues) or '-'}")
    lines += [
        f"  logs       {config.runtime_dir / 'controller.log'}, {dirs.messages_log}",
        "Press Ctrl-C to stop (Asterisk stops too).",
    ]
    return "\n".join(lines)


class FlowsInvalid(CallcenterError):
    def __init__(self, problems: list) -> None:
        super().__init__("invalid-flows", "the IVR flows have errors; nothing started:\n" +
                         "\n".join(f"  {p}" for p in problems), {"errors": [str(p) for p in problems]})


def flow_library(config: Config, install: AsteriskInstall, dirs: InstanceDirs) -> FlowLibrary:
    """The flows of config.ivr_flows."""
    context, required = flow_context(config, install)
    return FlowLibrary(config.ivr_flows, context, required, PromptSynth(dirs.tts, install.inner, install.uid,
                                                                         install.gid))


# Sections a running system cannot change: they move sockets or folders.
RESTART_ONLY = ("runtime_dir", "ivr_flows", "sip", "ami", "api")


class ConfigReloader:
    """Apply an edited callcenter.yaml live: agents, queues, DIDs, trunk, routing.

    The new file is validated first (a broken one changes nothing, and says where it is broken);
    then Asterisk's config is rendered again and reloaded module by module (PJSIP, queues,
    dialplan) — calls in progress are not touched — and the controller takes the new settings.
    """

    def __init__(self, path: Path, controller: Controller, install: AsteriskInstall) -> None:
        self.path, self.controller, self.install = path, controller, install
        self.error = ""
        self.reloads = 0
        self._mtime = self._stat()
        self._lock = asyncio.Lock()  # the file watcher and `callcenter config reload` may both ask

    def _stat(self) -> str:
        """What the file says (a hash): saving it unchanged reloads nothing."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    async def reload(self) -> dict[str, Any]:
        async with self._lock:
            return await self._reload()

    async def _reload(self) -> dict[str, Any]:
        self._mtime = self._stat()
        old = self.controller.config
        try:
            new = load_config(self.path)
            moved = [k for k in RESTART_ONLY if getattr(new, k) != getattr(old, k)]
            if moved:
                raise ConfigError(f"changing {', '.join(moved)} needs a restart (callcenter run again)",
                                  file=str(self.path), error_id="needs-restart")
        except ConfigError as exc:
            self.error = str(exc)
            log.error("config NOT reloaded: %s", exc)
            return {"reloaded": False, "error": self.error, "error_id": exc.error_id}
        creds = Credentials.load_or_create(new.runtime_dir, new.agents)
        render(self.install, new, creds)
        for command in ("module reload res_pjsip.so", "queue reload parameters", "dialplan reload"):
            await self.controller.ami.send({"Action": "Command", "Command": command}, timeout=15)
        await self.controller.apply_config(new, *flow_context(new, self.install))
        self.error = ""
        self.reloads += 1
        log.info("config reloaded: %d agents, %d queues, %d DIDs", len(new.agents), len(new.queues), len(new.dids))
        return {"reloaded": True, "agents": list(new.agents), "queues": list(new.queues), "dids": list(new.dids)}

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._stat() != self._mtime:
                await self.reload()


async def _watch_asterisk(asterisk: AsteriskProcess) -> None:
    """Restart Asterisk if it dies: calls already lost cannot be saved, the next ones can."""
    failures = 0
    while True:
        await asyncio.sleep(0.5)
        if asterisk.alive():
            failures = 0
            continue
        failures += 1
        log.error("Asterisk died (%s); restarting it. Last log lines:\n%s", asterisk.exit_status(),
                  asterisk.log_tail(10))
        await asyncio.sleep(min(5.0, 0.5 * failures))
        asterisk.start()


async def run(config: Config, *, out: TextIO = sys.stdout) -> None:
    """Start the whole system and run until SIGINT/SIGTERM."""
    t0 = time.monotonic()
    creds = Credentials.load_or_create(config.runtime_dir, config.agents)
    install = find_asterisk()
    check_port_free("REST API", config.api.bind, config.api.port)
    dirs = render(install, config, creds)
    flows = flow_library(config, install, dirs)
    if not flows.reload():
        raise FlowsInvalid(flows.errors)
    asterisk = AsteriskProcess(install, dirs)
    adopted = asterisk.adopt()
    if not adopted:
        check_port_free("SIP", config.sip.bind, config.sip.port, "udp")
        check_port_free("AMI", config.ami.bind, config.ami.port)
        asterisk.start()
    ami = AmiClient(config.ami.bind, config.ami.port, config.ami.username, creds.ami_secret,
                    action_timeout=config.ami.action_timeout, ping_interval=config.ami.ping_interval,
                    record_to=Path(config.ami.record) if config.ami.record else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api = None
    controller: Controller | None = None
    try:
        await wait_until_booted(asterisk, ami)
        controller = Controller(config, ami, flows=flows,
                                mailbox=VoicemailBox(dirs.voicemail, install.inner))
        reloader = ConfigReloader(Path(config.source), controller, install)
        api = await start_api(make_app(controller, creds.api_token, reload_config=reloader.reload),
                              config.api.bind, config.api.port)
        print(banner(config, creds, install, asterisk, dirs, time.monotonic() - t0, adopted), file=out, flush=True)
        async with asyncio.TaskGroup() as tasks:
            for coro, name in ((ami.run(), "ami"), (controller.run(), "controller"),
                               (_watch_asterisk(asterisk), "asterisk-watch"), (flows.watch(), "flows"),
                               (reloader.watch(), "config")):
                tasks.create_task(coro, name=name)
            await stop.wait()
            log.info("stopping")
            raise _Stop
    except* _Stop:
        pass
    finally:
        if controller is not None:
            await controller.clear_heartbeat()
        await ami.close()
        if api is not None:
            await api.cleanup()
        await asyncio.to_thread(asterisk.stop)
        with contextlib.suppress(Exception):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        print("callcenter stopped", file=out, flush=True)


class _Stop(Exception):
    """Raised inside the task group to end it on a stop signal."""
