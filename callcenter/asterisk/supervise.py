"""Our own Asterisk, kept running by the controller: logging in once it opens AMI and waiting until
it is fully booted (docs/asterisk.md#fullybooted), restarting it if it dies, and making it refuse
SIP from banned addresses."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from callcenter.ami import actions
from callcenter.ami.client import AmiClient, AmiLoginRefused, AmiUnavailable
from callcenter.ami.port import AmiPort
from callcenter.asterisk.install import AsteriskInstall
from callcenter.asterisk.process import AsteriskProcess, AsteriskStartError
from callcenter.asterisk.render import render
from callcenter.config import Config
from callcenter.core.credentials import Credentials

log = logging.getLogger("callcenter")

BOOT_TIMEOUT = 30.0


async def wait_until_booted(asterisk: AsteriskProcess, ami: AmiClient, timeout: float = BOOT_TIMEOUT) -> None:
    """Log in to AMI as soon as Asterisk opens it, then wait for it to be fully booted.

    Asterisk dying meanwhile, or never opening AMI, is reported with its log tail (AsteriskStartError);
    AmiLoginRefused when the secret is wrong."""
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
    await ami.send(actions.command("core waitfullybooted"), timeout=timeout)


async def watch(asterisk: AsteriskProcess) -> None:
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


def ban_applier(install: AsteriskInstall, config: Callable[[], Config], ami: AmiPort
                ) -> Callable[[list[str]], Awaitable[None]]:
    """`apply(banned)`: render the banned addresses into pjsip.conf's ACL and reload PJSIP."""
    async def apply(banned: list[str]) -> None:
        current = config()
        render(install, current, Credentials.load(current.runtime_dir), banned=banned)
        await ami.send(actions.command("module reload res_pjsip.so"), timeout=15)
    return apply
