"""callcenter.yaml validation: every error names file, line and key on one line."""

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
sip:
  port: 5060
queues:
  support: {strategy: ringall}
agents:
  agent1:
    extension: "1001"
    queues: [support]
dids:
  "8005550100": {queue: support}
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="cc.yaml", env={})
    return info.value


def test_the_shipped_demo_config_is_valid():
    config = load_config(REPO / "callcenter.yaml", env={})
    assert set(config.agents) == {"agent1", "agent2", "agent3"}
    assert "support" in config.agents["agent1"].queues
    assert config.dids["8005550100"].queue == "support"
    assert config.runtime_dir == REPO / "var"  # relative to the file, not to the cwd
    assert config.api.bind == config.sip.bind == config.ami.bind == "127.0.0.1"


def test_defaults_fill_what_the_file_leaves_out():
    config = parse_config(GOOD, env={})
    assert config.queues["support"].ring_timeout == 15
    assert config.api.port == 8080


def test_unknown_key_names_file_line_and_key():
    err = error_of(GOOD.replace("  port: 5060", "  port: 5060\n  prot: 1"))
    assert str(err).startswith("cc.yaml:3:3: sip.prot: unknown key 'prot'")
    assert err.error_id == "unknown-key"
    assert "\n" not in str(err)


def test_wrong_type():
    err = error_of(GOOD.replace("port: 5060", "port: fifty"))
    assert str(err) == "cc.yaml:2:3: sip.port: must be an integer, not str 'fifty'"
    assert err.error_id == "wrong-type"


def test_duplicate_agent():
    text = GOOD + 'agents:\n  agent2: {extension: "1002"}\n'
    err = error_of(text.replace("agents:\n  agent1:", "agents:\n  agent1:", 1))
    assert err.error_id == "duplicate-key"
    err = error_of(GOOD.replace("    queues: [support]\n", "    queues: [support]\n  agent1:\n    extension: '1009'\n"))
    assert str(err) == "cc.yaml:9:3: agents.agent1: duplicate agent 'agent1' (first written at line 6)"


def test_duplicate_extension():
    err = error_of(GOOD.replace("    queues: [support]\n", "    queues: [support]\n  agent2:\n    extension: '1001'\n"))
    assert err.error_id == "duplicate-extension"
    assert str(err).startswith("cc.yaml:10:5: agents.agent2.extension:")


def test_unknown_queue_reference():
    err = error_of(GOOD.replace("queues: [support]", "queues: [suport]"))
    assert str(err) == "cc.yaml:8:14: agents.agent1.queues.0: unknown queue 'suport'"
    err = error_of(GOOD.replace("{queue: support}", "{queue: nope}"))
    assert err.error_id == "unknown-queue" and err.key == "dids.8005550100.queue"


def test_missing_required_key_and_bad_values():
    assert error_of(GOOD.replace('extension: "1001"', 'full_name: X')).error_id == "missing-key"
    assert error_of(GOOD.replace('"1001"', '"1x"')).error_id == "bad-extension"
    assert error_of(GOOD.replace("ringall", "roundrobin")).error_id == "unknown-strategy"
    assert error_of(GOOD.replace("port: 5060", "port: 70000")).error_id == "bad-port"
    assert error_of(GOOD + "sip:\n  rtp_ports: 9-5\n").error_id == "duplicate-key"
    assert error_of(GOOD.replace("port: 5060", "rtp_ports: 20000-10000")).error_id == "bad-port"


def test_yaml_syntax_error_is_located():
    err = error_of("sip:\n  port: [5060\n")
    assert err.error_id == "yaml-syntax" and err.line == 3


def test_environment_overrides_the_file():
    config = parse_config(GOOD, env={"CALLCENTER_SIP_PORT": "15060", "CALLCENTER_RUNTIME_DIR": "/tmp/x"})
    assert config.sip.port == 15060 and str(config.runtime_dir) == "/tmp/x"
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD, env={"CALLCENTER_API_PORT": "http"})
    assert "CALLCENTER_API_PORT='http' must be an integer" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert info.value.error_id == "config-not-found"


def test_skills_map_to_penalties():
    from callcenter.routing.queues import RoutingState

    config = load_config(REPO / "callcenter.yaml", env={})
    members = RoutingState.from_config(config).members
    assert members["support"] == {"agent1": 2, "agent2": 5}  # support wants skill support: 10 - level
    assert members["sales"] == {"agent1": 0, "agent3": 0}  # no skill asked: no penalty
    err = error_of(GOOD.replace("    queues: [support]", "    queues: [support]\n    skills: {billing: 11}"))
    assert err.error_id == "bad-level" and err.key == "agents.agent1.skills.billing"


def test_speech_settings_are_checked_with_clear_errors():
    config = parse_config(GOOD, env={})
    assert (config.speech.threads, config.speech.beam_size, config.speech.nice) == (0, 1, 10)  # 0: from the cores
    speech = GOOD + "speech:\n  threads: 1\n  beam_size: 5\n  nice: 19\n"
    assert (lambda s: (s.threads, s.beam_size, s.nice))(parse_config(speech, env={}).speech) == (1, 5, 19)
    for key, value, message in (
            ("nice", 0, "speech.nice: nice 0 must be 1 to 19 (the niceness added to the transcription processes: "
                        "they must run below the controller and Asterisk)"),
            ("nice", 20, "speech.nice: nice 20 must be 1 to 19"),
            ("beam_size", 0, "speech.beam_size: beam_size 0 must be 1 to 10"),
            ("beam_size", 11, "speech.beam_size: beam_size 11 must be 1 to 10"),
            ("threads", -1, "speech.threads: threads -1 must be 0 to 64"),
            ("workers", 0, "speech.workers: workers 0 must be 1 to 16")):
        err = error_of(GOOD + f"speech:\n  {key}: {value}\n")
        assert err.error_id == "bad-value" and f"cc.yaml:{GOOD.count(chr(10)) + 2}:3: {message}" in str(err), str(err)
    err = error_of(GOOD + "speech:\n  nice: low\n")
    assert err.error_id == "wrong-type" and "speech.nice: must be an integer" in str(err)
