"""`callcenter run` refuses to start on bad input, and says why in words a new user can act on.

Each case runs its own `callcenter run` with its own ports (the session system keeps running).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from callcenter.ami.client import AmiClient, AmiLoginRefused
from callcenter.asterisk.install import find_asterisk
from callcenter.asterisk.render import TEMPLATES
from tests.support.system import (AMI_PORT, API_PORT, CALLCENTER, EMAIL_PORT, OTHER_BASE, REPO, RTP_PORTS, SIP_PORT,
                                  TEST_CONFIG, WS_PORT, System, write_flows)

PORTS = {str(SIP_PORT): str(OTHER_BASE + 160), str(AMI_PORT): str(OTHER_BASE + 138),
         f"smtp_port: {EMAIL_PORT}": f"smtp_port: {OTHER_BASE + 125}",
         str(API_PORT): str(OTHER_BASE + 3180), RTP_PORTS: f"{OTHER_BASE + 2000}-{OTHER_BASE + 2099}",
         f"ws_port: {WS_PORT}": f"ws_port: {OTHER_BASE + 88}"}


def own_config(tmp_path: Path, text: str = TEST_CONFIG) -> Path:
    for old, new in PORTS.items():
        text = text.replace(old, new)
    path = tmp_path / "callcenter.yaml"
    path.write_text(text)
    write_flows(tmp_path / "flows")
    return path


def run(config: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`callcenter run` that is expected to fail (it is killed if it comes up instead)."""
    try:
        return subprocess.run([*CALLCENTER, "--config", str(config), "run"], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, env=env)
    finally:
        # If it came up against expectations, take its Asterisk down too.
        instance = find_asterisk().instance_base(config.parent / "runtime")
        pid_file = instance / "run" / "asterisk.pid"
        if pid_file.exists():
            subprocess.run(["pkill", "-KILL", "-F", str(pid_file)], check=False)
        if find_asterisk().chrooted:
            shutil.rmtree(instance, ignore_errors=True)


def no_asterisk_of(config: Path) -> bool:
    instance = find_asterisk().instance_base(config.parent / "runtime")
    return subprocess.run(["pgrep", "-f", str(instance.name)], capture_output=True).returncode != 0


@pytest.mark.parametrize("change, expected", [
    (("  sales: {strategy: leastrecent}", "  sales: {strategy: leastrecent, colour: blue}"),
     ":9:34: queues.sales.colour: unknown key 'colour'"),
    (("ping_interval: 1.0", "ping_interval: often"), ":4:37: ami.ping_interval: must be a number, not str"),
    (('  agent3: {full_name: Cy Agent, extension: "1003"', '  agent1: {full_name: Cy Agent, extension: "1003"'),
     ":20:3: agents.agent1: duplicate agent 'agent1' (first written at line 18)"),
])
def test_invalid_config_names_file_line_and_key_and_starts_nothing(tmp_path: Path, change, expected) -> None:
    text = TEST_CONFIG.replace(*change)
    assert text != TEST_CONFIG
    config = own_config(tmp_path, text)
    result = run(config)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and f"{config}{expected}" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert not (tmp_path / "runtime").exists()  # nothing started, nothing generated
    assert no_asterisk_of(config)


def test_api_port_taken(tmp_path: Path) -> None:
    config = own_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", OTHER_BASE + 3180))
        s.listen()
        result = run(config)
    assert result.returncode == 1
    assert f"error: port-in-use: REST API port 127.0.0.1:{OTHER_BASE + 3180}/tcp is already in use" in result.stderr
    assert no_asterisk_of(config)


def test_sip_port_taken(tmp_path: Path) -> None:
    config = own_config(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", OTHER_BASE + 160))
        result = run(config)
    assert result.returncode == 1
    assert f"error: port-in-use: SIP port 127.0.0.1:{OTHER_BASE + 160}/udp is already in use" in result.stderr
    assert no_asterisk_of(config)


def test_asterisk_failing_to_start_shows_its_log(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    with open(templates / "modules.conf.j2", "a") as f:
        f.write("require => res_no_such_module.so\n")
    config = own_config(tmp_path)
    env = {**__import__("os").environ, "CALLCENTER_ASTERISK_TEMPLATES": str(templates)}
    result = run(config, env=env)
    assert result.returncode == 1
    assert "error: asterisk-start-failed: Asterisk stopped while starting" in result.stderr
    assert "--- Asterisk's log (last lines) ---" in result.stderr
    assert "res_no_such_module" in result.stderr  # Asterisk's own words about what went wrong


async def test_wrong_ami_secret_is_reported_as_such(system: System) -> None:
    client = AmiClient("127.0.0.1", AMI_PORT, system.config.ami.username, "wrong-secret")
    with pytest.raises(AmiLoginRefused) as info:
        await client.connect()
    assert info.value.error_id == "ami-login-refused"
    assert "refused the AMI login of user 'callcenter'" in str(info.value) and "secret" in str(info.value)
    assert client.state == "login-refused"
