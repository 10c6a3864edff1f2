"""The browser softphone's server side (docs/softphone.md), without Asterisk: whose phone a
channel is, the desk|browser choice (queue interfaces, kept state, presence), the rendered
Asterisk config (WebSocket, WebRTC endpoints, the DTLS certificate) and the checks of its settings."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from callcenter.ami.events import ContactChanged, DeviceStateChanged
from callcenter.ami.testing import FakeAmi
from callcenter.asterisk.install import AsteriskInstall
from callcenter.asterisk.render import render
from callcenter.config import parse_config
from callcenter.core.credentials import Credentials
from callcenter.core.endpoints import endpoint_of_channel, endpoint_of_device, phone_interface, phone_of_device
from callcenter.core.errors import CallcenterError
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl
from callcenter.softphone.service import with_softphone
from tests.support.config import CONFIG


def control(tmp_path: Path, ami: FakeAmi | None = None) -> QueueControl:
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    return QueueControl(config, ami or FakeAmi([]), tmp_path / "routing.json")


def test_both_phones_of_an_agent_are_the_agents() -> None:
    assert endpoint_of_channel("PJSIP/agent1-webrtc-0000002b") == "agent1"
    assert endpoint_of_channel("PJSIP/agent1-0000002a") == "agent1"
    assert endpoint_of_channel("PJSIP/carrier-00000001") == "carrier"
    assert endpoint_of_device("PJSIP/agent1-webrtc") == "agent1" and phone_of_device("PJSIP/agent1-webrtc") == "browser"
    assert endpoint_of_device("PJSIP/agent1") == "agent1" and phone_of_device("PJSIP/agent1") == "desk"
    assert phone_interface("agent1", "browser") == "PJSIP/agent1-webrtc"


async def test_choosing_the_browser_moves_the_queue_members_and_keeps_the_pause(tmp_path: Path) -> None:
    ami = FakeAmi([])
    qc = control(tmp_path, ami)
    await qc.pause("agent1", "lunch")
    ami.sent.clear()
    await qc.set_phone("agent1", "browser")
    sent = [(a.name, a.fields.get("Interface"), a.fields.get("Paused")) for a in ami.sent]
    assert sent == [("QueueRemove", "PJSIP/agent1", None), ("QueueAdd", "PJSIP/agent1-webrtc", "true")]
    assert qc.interface("agent1") == "PJSIP/agent1-webrtc" and qc.interface("agent2") == "PJSIP/agent2"
    assert json.loads((tmp_path / "routing.json").read_text())["phones"] == {"agent1": "browser"}
    again = control(tmp_path)  # kept: a restart rings the same phone
    assert again.phone("agent1") == "browser"
    ami.sent.clear()
    await qc.set_phone("agent1", "browser")  # no change, nothing sent
    assert ami.sent == []
    await qc.set_phone("agent1", "desk")
    assert [(a.name, a.fields.get("Interface")) for a in ami.sent] == [("QueueRemove", "PJSIP/agent1-webrtc"),
                                                                       ("QueueAdd", "PJSIP/agent1")]
    assert json.loads((tmp_path / "routing.json").read_text())["phones"] == {}


@pytest.mark.parametrize("phone", ["fax", "", None, 1, "Browser"])
async def test_a_phone_that_is_not_desk_or_browser_is_refused(tmp_path: Path, phone: object) -> None:
    ami = FakeAmi([])
    qc = control(tmp_path, ami)
    with pytest.raises(CallcenterError) as info:
        await qc.set_phone("agent1", phone)  # type: ignore[arg-type]
    assert info.value.error_id == "bad-phone" and ami.sent == [] and qc.phone("agent1") == "desk"
    with pytest.raises(CallcenterError) as info:
        await qc.set_phone("nobody", "browser")
    assert info.value.error_id == "unknown-agent"


def test_a_bad_phone_in_the_kept_state_is_dropped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "routing.json").write_text(json.dumps({"members": {"support": {"agent1": 0, "agent2": 0}},
                                                       "paused": {}, "phones": {"agent1": "fax", "agent2": "browser"},
                                                       "agents": ["agent1", "agent2"], "queues": ["support"]}))
    qc = control(tmp_path)
    assert qc.phone("agent1") == "desk" and qc.phone("agent2") == "browser"
    assert "fax" in (tmp_path / "routing.broken").read_text()


async def test_restore_replaces_a_member_asterisk_has_on_the_other_phone(tmp_path: Path) -> None:
    (tmp_path / "routing.json").write_text(json.dumps({"members": {"support": {"agent1": 0, "agent2": 0}},
                                                       "paused": {}, "phones": {"agent1": "browser"},
                                                       "agents": ["agent1", "agent2"], "queues": ["support"]}))
    ami = FakeAmi([], {"QueueStatus": [
        {"Event": "QueueMember", "Queue": "support", "Name": "agent1", "Interface": "PJSIP/agent1", "Paused": "0"},
        {"Event": "QueueMember", "Queue": "support", "Name": "agent2", "Interface": "PJSIP/agent2", "Paused": "0"}]})
    qc = control(tmp_path, ami)
    await qc.restore()
    changes = [(a.name, a.fields.get("Interface")) for a in ami.sent if a.name in ("QueueAdd", "QueueRemove")]
    assert changes == [("QueueRemove", "PJSIP/agent1"), ("QueueAdd", "PJSIP/agent1-webrtc")]


def test_presence_is_the_chosen_phones() -> None:
    p = Presence(["agent1"], ["support"])
    p.apply(ContactChanged("agent1", "Created", "sip:agent1@127.0.0.1:5070"), 1.0)
    assert p.agents["agent1"].state(1.0) == "ready"
    changed = p.set_phone("agent1", "browser", 2.0)  # the browser has not registered yet
    assert [(e.agent, e.state) for e in changed] == [("agent1", "logged_out")]
    p.apply(ContactChanged("agent1-webrtc", "Created", "sip:x@df7jal23ls0d.invalid;transport=ws"), 3.0)
    p.apply(DeviceStateChanged("PJSIP/agent1", "INUSE"), 3.0)  # the desk phone's call decides nothing now
    assert p.agents["agent1"].state(3.0) == "ready"
    p.apply(DeviceStateChanged("PJSIP/agent1-webrtc", "RINGING"), 4.0)
    assert p.agents["agent1"].state(4.0) == "ringing"
    shown = p.agents["agent1"].as_dict(4.0)
    assert shown["phone"] == "browser" and shown["phones"]["desk"]["registered"] and shown["phones"]["browser"]["registered"]
    p.apply(ContactChanged("agent1-webrtc", "Removed", "sip:x@df7jal23ls0d.invalid;transport=ws"), 5.0)
    assert p.agents["agent1"].state(5.0) == "logged_out"  # the page closed: its WebSocket, its contact gone


def test_the_agent_page_may_connect_to_the_softphones_websocket_only() -> None:
    csp = "default-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    assert with_softphone(csp, "ws://127.0.0.1:8088/ws") == \
        "default-src 'self'; connect-src 'self' ws://127.0.0.1:8088; frame-ancestors 'none'"
    assert with_softphone(csp, "wss://pbx.example.com/ws").count("wss://pbx.example.com") == 1
    assert with_softphone(csp, "") == csp


@pytest.mark.parametrize("change, error", [
    ("  agent1-webrtc: {extension: \"1009\"}\n", "bad-name"),
    ("sip: {ws_port: 70000}\n", "bad-port"),
    ("sip: {ws_url: \"http://x/ws\"}\n", "bad-value"),
    ("sip: {ws_url: \"wss://pbx.example.com/ws\\\"<script>\"}\n", "bad-value"),
])
def test_softphone_settings_from_outside_are_checked(tmp_path: Path, change: str, error: str) -> None:
    text = CONFIG.format(runtime=tmp_path)
    text = text.replace("dids:\n", change + "dids:\n") if change.startswith("  ") else text + change
    with pytest.raises(CallcenterError) as info:
        parse_config(text, file="test.yaml", env={})
    assert info.value.error_id == error


def test_the_rendered_asterisk_has_a_websocket_and_a_webrtc_endpoint_per_agent(tmp_path: Path) -> None:
    text = CONFIG.format(runtime=tmp_path / "runtime") + "sip: {bind: 127.0.0.1, ws_port: 18088}\n"
    config = parse_config(text, file="test.yaml", env={})
    install = AsteriskInstall(Path("/"), "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "/usr/share/asterisk",
                              "22.0.0", os.geteuid(), os.getegid())
    creds = Credentials.load_or_create(config.runtime_dir, config.agents)
    dirs = render(install, config, creds)
    http = (dirs.etc / "http.conf").read_text()
    assert "enabled = yes" in http and "bindaddr = 127.0.0.1" in http and "bindport = 18088" in http
    pjsip = (dirs.etc / "pjsip.conf").read_text()
    assert "[transport-ws]\ntype = transport\nprotocol = ws" in pjsip
    endpoint = pjsip.split("[agent1-webrtc]\ntype = endpoint\n", 1)[1].split("\n\n", 1)[0]
    assert "webrtc = yes" in endpoint and f"dtls_cert_file = {dirs.dtls / 'dtls.pem'}" in endpoint
    assert f"password = {creds.agent_passwords['agent1']}" in pjsip.split("[agent1-webrtc]\ntype = auth", 1)[1]
    modules = (dirs.etc / "modules.conf").read_text()
    for module in ("res_http_websocket.so", "res_pjsip_transport_websocket.so", "res_srtp.so", "res_crypto.so"):
        assert f"load => {module}" in modules
    key = dirs.dtls / "dtls.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(dirs.dtls.stat().st_mode) == 0o700
    assert "PRIVATE KEY" in key.read_text()
    first = key.read_bytes()
    render(install, config, creds)  # generated once: the next start keeps it
    assert key.read_bytes() == first


def test_a_softphone_switched_off_renders_no_websocket(tmp_path: Path) -> None:
    text = CONFIG.format(runtime=tmp_path / "runtime") + "sip: {ws_port: 0}\n"
    config = parse_config(text, file="test.yaml", env={})
    install = AsteriskInstall(Path("/"), "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "/usr/share/asterisk",
                              "22.0.0", os.geteuid(), os.getegid())
    dirs = render(install, config, Credentials.load_or_create(config.runtime_dir, config.agents))
    assert "enabled = no" in (dirs.etc / "http.conf").read_text()
    assert "webrtc" not in (dirs.etc / "pjsip.conf").read_text()
    assert config.sip.softphone_url == ""
