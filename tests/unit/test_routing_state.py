"""routing.json and the restore into app_queue: checked entry by entry, never silently lost, and
Asterisk made to match our state (pauses too), with a fake AMI client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.config import parse_config
from callcenter.core.errors import CallcenterError
from callcenter.routing.queues import QueueControl
from callcenter.routing.presence import Presence
from callcenter.ami.testing import FakeAmi
from tests.support.config import CONFIG


def control(tmp_path: Path, routing: dict | None = None, ami: FakeAmi | None = None) -> QueueControl:
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    if routing is not None:
        (tmp_path / "routing.json").write_text(json.dumps(routing))
    return QueueControl(config, ami or FakeAmi([]), tmp_path / "routing.json")


def test_one_bad_entry_is_dropped_and_reported_the_rest_is_kept(tmp_path: Path) -> None:
    qc = control(tmp_path, {"members": {"support": {"agent1": 4, "agent2": "x"}},
                            "paused": {"agent1": {"reason": "lunch", "queue": ""},
                                       "agent2": {"reason": "evil\r\nAction: Originate", "queue": ""}},
                            "agents": ["agent1", "agent2"], "queues": ["support"]})
    assert qc.state.members["support"] == {"agent1": 4}
    assert qc.state.paused == {"agent1": {"reason": "lunch", "queue": ""}}
    broken = (tmp_path / "routing.broken").read_text()
    assert "evil" in broken  # the original is kept aside, for a person to look at
    saved = json.loads((tmp_path / "routing.json").read_text())
    assert "agent2" not in saved["paused"] and saved["members"]["support"] == {"agent1": 4}


def test_agents_added_while_the_controller_was_down_take_their_configured_queues(tmp_path: Path) -> None:
    # The file knew agent1 only (agent2 was added to callcenter.yaml since): agent2 joins support as
    # configured, while agent1's live removal from support is respected.
    qc = control(tmp_path, {"members": {"support": {}}, "paused": {}, "agents": ["agent1"], "queues": ["support"]})
    assert qc.state.members["support"] == {"agent2": 0}


async def test_restore_unpauses_what_asterisk_has_paused_without_us(tmp_path: Path) -> None:
    ami = FakeAmi([], {"QueueStatus": [
        {"Event": "QueueMember", "Queue": "support", "Name": "agent1", "Paused": "1", "PausedReason": "old"},
        {"Event": "QueueMember", "Queue": "support", "Name": "agent2", "Paused": "0"}]})
    qc = control(tmp_path, {"members": {"support": {"agent1": 0, "agent2": 0}}, "paused": {},
                            "agents": ["agent1", "agent2"], "queues": ["support"]}, ami)
    await qc.restore()
    pauses = [a.fields for a in ami.sent if a.name == "QueuePause"]
    assert pauses == [{"Action": "QueuePause", "Interface": "PJSIP/agent1", "Paused": "false", "Reason": "",
                       "Queue": "support"}]


@pytest.mark.parametrize("reason", ["x" * 80, "é" * 40, "\U0001F355" * 20])
async def test_a_pause_reason_asterisk_would_cut_is_refused_before_anything_is_stored(tmp_path: Path,
                                                                                       reason: str) -> None:
    ami = FakeAmi([])
    qc = control(tmp_path, None, ami)
    with pytest.raises(CallcenterError) as info:
        await qc.pause("agent1", reason)
    assert info.value.error_id == "invalid-text" and qc.state.paused == {} and ami.sent == []
    await qc.pause("agent1", "é" * 39)  # 78 bytes: kept whole by app_queue
    assert qc.state.paused["agent1"]["reason"] == "é" * 39


def test_a_device_that_is_unavailable_after_a_restart_makes_its_kept_contacts_unreachable() -> None:
    p = Presence(["a1"], ["q"])
    p.rebuild(actions.QueueStatus([], []), [actions.DeviceRow("PJSIP/a1", "UNAVAILABLE")],
              [actions.ContactRow("a1", "a1", "sip:a1@127.0.0.1:5", "Reachable")], 10.0)
    assert p.agents["a1"].state(10.0) == "unreachable"


def test_an_edit_that_loses_agents_keeps_their_routing_state_until_they_come_back(tmp_path: Path) -> None:
    qc = control(tmp_path, {"members": {"support": {"agent1": 7, "agent2": 3}},
                            "paused": {"agent2": {"reason": "training", "queue": ""}},
                            "agents": ["agent1", "agent2"], "queues": ["support"]})
    full = qc.config
    fewer = parse_config(CONFIG.format(runtime=tmp_path).replace(
        '  agent2: {extension: "1002", queues: [support]}\n', ""), file="test.yaml", env={})
    qc.apply_config(fewer)  # a truncated save: agent2 is gone from the file
    assert qc.state.members["support"] == {"agent1": 7} and "agent2" not in qc.state.paused
    saved = json.loads((tmp_path / "routing.json").read_text())
    assert saved["members"]["support"]["agent2"] == 3 and saved["paused"]["agent2"]["reason"] == "training"
    qc.apply_config(full)  # the file is fixed: agent2 comes back as it was, not as configured
    assert qc.state.members["support"] == {"agent1": 7, "agent2": 3}
    assert qc.state.paused["agent2"] == {"reason": "training", "queue": ""}
    # ... and a restart in between keeps it too.
    again = QueueControl(fewer, FakeAmi([]), tmp_path / "routing.json")
    assert "agent2" not in again.state.members["support"]
    again.apply_config(full)
    assert again.state.members["support"]["agent2"] == 3
