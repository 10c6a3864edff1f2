"""`AmiPort` is what the controller uses of its AMI connection: the real client and the test
double both satisfy it. mypy checks the annotated assignments below (`make lint` checks only
callcenter/, so the last test runs mypy on this file); the runtime checks catch a member removed
from either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.ami.client import AmiClient
from callcenter.ami.port import AmiPort
from callcenter.ami.testing import FakeAmi


async def test_the_real_client_is_an_ami_port() -> None:
    client = AmiClient("127.0.0.1", 1, "callcenter", "secret")
    port: AmiPort = client
    assert isinstance(port, AmiPort)
    assert (port.state, port.connected_since, port.events_seen, port.event_time) == ("disconnected", None, 0, None)


async def test_the_fake_is_an_ami_port_that_answers_and_keeps_what_was_sent() -> None:
    fake = FakeAmi([], {"Command": {"Response": "Success", "Message": "Command output follows"}})
    port: AmiPort = fake
    assert isinstance(port, AmiPort)
    reply = await port.send(actions.command("core waitfullybooted"), timeout=1)
    assert reply.ok and reply.message == "Command output follows"
    assert [a.name for a in fake.sent] == ["Command"]
    status = await port.send(actions.queue_status())  # a list action without a canned answer: no rows
    assert (status.members, status.entries) == ([], [])


def test_something_else_is_not_an_ami_port() -> None:
    assert not isinstance(object(), AmiPort)


def test_mypy_agrees_that_both_are_ami_ports(tmp_path: Path) -> None:
    # (In a process of its own: mypy raises the interpreter's recursion limit, which other tests rely on.)
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "--explicit-package-bases", "--cache-dir",
                             str(tmp_path / "mypy"), __file__], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
