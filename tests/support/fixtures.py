"""The system fixtures (one Asterisk + controller per session, its AMI watch, SIP phones): shared by
tests/integration and tests/browser through tests/conftest.py (see tests/support/system.py)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from callcenter.ami.client import AmiClient
from callcenter.asterisk.install import find_asterisk
from tests.support.sipphone import PortAllocator, SipPhone
from tests.support.system import (AMI_PORT, CARRIER_PORT, PHONE_PORTS, SIP_PORT, TEST_CONFIG, AmiWatch, System,
                                  write_flows)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test of the real system shows the controller's errors of the session so far (the
    last 6 KB of them): CI keeps only pytest's output, and a 500 says nothing without them."""
    outcome = yield
    report = outcome.get_result()
    system_ = getattr(item, "funcargs", {}).get("system")
    if report.failed and isinstance(system_, System):
        errors = "".join(m.group(0) for m in ERROR_RECORD.finditer(system_.logs()))
        report.sections.append(("controller errors", errors[-6000:] or "(none)"))


# A log record at ERROR or above and its traceback: up to the next line that starts a record.
ERROR_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?:ERROR|CRITICAL) .*\n(?:(?!\d{4}-\d\d-\d\d ).*\n)*",
                          re.M)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("callcenter")
    config_path = base / "callcenter.yaml"
    config_path.write_text(TEST_CONFIG)
    write_flows(base / "flows")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_AMI_RECORD"] = str(base / "ami-trace.ami")
    sys_ = System(base, config_path, env)
    sys_.start_controller()
    yield sys_
    sys_.stop_controller()
    # Asterisk stops with the controller; make sure, then drop the instance folder from the root.
    install = find_asterisk()
    instance = install.instance_base(sys_.config.runtime_dir)
    try:
        pid = int((instance / "run" / "asterisk.pid").read_text())
        os.kill(pid, 0)
        raise AssertionError(f"Asterisk (pid {pid}) still runs after the controller stopped")
    except (OSError, ValueError):
        pass
    if install.chrooted and not os.environ.get("CALLCENTER_TEST_KEEP"):  # keep it to look at after a failure
        shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture(scope="session")
async def ami_watch(system: System) -> Any:
    config = system.config
    client = AmiClient("127.0.0.1", AMI_PORT, config.ami.username, system.creds.ami_secret, ping_interval=1.0)
    await client.connect()
    watch = AmiWatch(client)
    tasks = [asyncio.create_task(client.run()), asyncio.create_task(watch.consume())]
    yield watch
    await client.close()
    for t in tasks:
        t.cancel()


@pytest.fixture(scope="session")
def ports() -> PortAllocator:
    return PortAllocator(base=PHONE_PORTS, span=10000)


@pytest.fixture
def phones(system: System, ports: PortAllocator) -> Any:
    """Make SIP phones: phones.caller('5551230001') or phones.agent('agent1'); all stopped after the test."""
    made: list[SipPhone] = []

    class Factory:
        def caller(self, caller_id: str, display_name: str | None = None) -> SipPhone:
            phone = SipPhone(server_port=SIP_PORT, caller_id=caller_id, display_name=display_name,
                             **ports.allocate().as_kwargs())
            phone.start()
            made.append(phone)
            return phone

        def agent(self, name: str) -> SipPhone:
            """An agent's phone, or a supervisor's (`supervisors:`)."""
            password = system.creds.agent_passwords.get(name) or system.creds.supervisor_passwords[name]
            phone = SipPhone(server_port=SIP_PORT, username=name, password=password,
                             **ports.allocate().as_kwargs())
            phone.start()
            made.append(phone)
            return phone

    yield Factory()
    for phone in made:
        phone.stop()




@pytest.fixture
def carrier(ports: PortAllocator) -> Any:
    """The carrier's side of the trunk: calls our Asterisk sends out (callbacks, click-to-call) arrive here."""
    rtp = ports.allocate()
    phone = SipPhone(server_port=SIP_PORT, caller_id="carrier", sip_port=CARRIER_PORT, rtp_low=rtp.rtp_low,
                     rtp_high=rtp.rtp_high)
    phone.start()
    yield phone
    phone.stop()
