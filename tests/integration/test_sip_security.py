"""A burst of REGISTERs with a wrong password from another address (127.0.0.2, a second loopback
address) is counted and banned through Asterisk's own ACL, while 127.0.0.1 keeps working; the ban
ends by itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.sipphone import RegistrationFailed, SipPhone
from tests.support.system import SIP_PORT, System, wait_until


def phone(system: System, ports, password: str, host: str = "127.0.0.2") -> SipPhone:
    return SipPhone(server_port=SIP_PORT, username="agent3", password=password, local_host=host,
                    **ports.allocate().as_kwargs())


async def test_a_brute_force_source_is_banned_and_loopback_keeps_working(system: System, ports, phones) -> None:
    for _ in range(6):
        attacker = phone(system, ports, "wrong-password")
        with pytest.raises(RegistrationFailed):
            await asyncio.to_thread(attacker.start, 3)
        attacker.stop()
    security = await asyncio.to_thread(
        wait_until, lambda: system.api("/api/status")[1]["security"]["banned"].get("127.0.0.2"), 10, "the ban")
    assert security > 0
    status = system.api("/api/status")[1]["security"]
    assert status["failures"]["127.0.0.2"] >= 5
    # Banned: even the right password from there is refused now ...
    right = phone(system, ports, system.creds.agent_passwords["agent3"])
    with pytest.raises(RegistrationFailed):
        await asyncio.to_thread(right.start, 3)
    right.stop()
    # ... while 127.0.0.1 (exempt, and not the attacker) registers as usual.
    assert phones.agent("agent2").registered
    assert "127.0.0.2" in system.cli("status").stdout
    # The ban ends by itself.
    started = time.monotonic()
    await asyncio.to_thread(wait_until, lambda: not system.api("/api/status")[1]["security"]["banned"], 20,
                            "the ban to end")
    back = phone(system, ports, system.creds.agent_passwords["agent3"])
    await asyncio.to_thread(back.start, 5)
    assert back.registered and time.monotonic() - started < 20
    back.stop()
