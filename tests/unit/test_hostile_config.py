"""A fixture of hostile configs (tests/fixtures/config/hostile/, one file per kind, like the broken
flows): each is refused with the error id and location its header names, in well under a second,
and `callcenter config check` says it in one line (no traceback). Plus a bounded fuzz of the loader."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "fixtures" / "config" / "hostile"
_EXPECT = re.compile(rb"^# expect: (?P<id>[a-z-]+) at (?P<line>\d+):(?P<col>\d+)")


def cases() -> list[Path]:
    return sorted(HOSTILE.glob("*.yaml"))


def expected(path: Path) -> tuple[str, int, int]:
    m = _EXPECT.match(path.read_bytes())
    assert m, f"{path.name} must start with '# expect: <id> at <line>:<col>'"
    return m["id"].decode(), int(m["line"]), int(m["col"])


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.stem)
def test_each_hostile_config_is_refused_where_it_is_wrong(path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert time.monotonic() - started < 5.0  # refused by shape: expanding an alias bomb would take minutes
    error = info.value
    assert (error.error_id, error.line, error.column) == expected(path), str(error)
    assert "\n" not in str(error) and "\x00" not in str(error)


def test_the_fixture_covers_every_kind() -> None:
    ids = {expected(p)[0] for p in cases()}
    assert {"missing-key", "bad-value", "bad-name", "bad-did", "bad-address", "port-conflict", "too-large",
            "bad-encoding", "unknown-sound"} <= ids
    assert len(cases()) >= 20


def test_utf16_and_oversized_files_are_refused(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes((HOSTILE.parent.parent.parent.parent / "callcenter.yaml").read_text().encode("utf-16"))
    with pytest.raises(ConfigError) as info:
        load_config(utf16, env={})
    assert info.value.error_id == "bad-encoding" and "UTF-16" in str(info.value)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * 200_000)  # 2 MB
    with pytest.raises(ConfigError) as info:
        load_config(big, env={})
    assert info.value.error_id == "too-large"


@pytest.mark.parametrize("path", [p for p in cases() if p.stem in ("nul-byte", "invalid-utf8", "alias-bomb",
                                                                    "newline-in-full-name", "empty")],
                         ids=lambda p: p.stem)
def test_config_check_says_it_in_one_line(path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "callcenter.cli", "--config", str(path), "config", "check"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {expected(path)[0]}: ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_the_loader_never_raises_anything_but_a_located_config_error(text: str) -> None:
    """Fuzz: any text is either a config or a ConfigError; never a traceback of another kind."""
    try:
        parse_config(text, file="fuzz.yaml", env={})
    except ConfigError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["sip:", "  port: 5060", "queues:", "  q: {strategy: ringall}", "agents:",
                                 '  a: {extension: "10", queues: [q]}', "dids:", '  "800": {queue: q}', "- x",
                                 "&a [1]", "*a", "{", "]", ": :", "\t", "  bind: 1.2.3.4", "x: !!python/object {}",
                                 "'", '"\\u0000"', "? [a]", "--- ", "..."]), max_size=12))
def test_the_loader_survives_yaml_shaped_noise(lines: list[str]) -> None:
    try:
        parse_config("\n".join(lines), file="fuzz.yaml", env={})
    except ConfigError:
        pass


def test_deep_nesting_is_too_large_not_a_recursion_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("sip: " + "[" * 3000 + "]" * 3000, file="deep.yaml", env={})
    assert info.value.error_id == "too-large"


def test_config_check_finds_a_dids_missing_flow_at_the_dids_line(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    text = (REPO / "callcenter.yaml").read_text().replace("ivr_flows: ivr_flows", "ivr_flows: flows")
    config = tmp_path / "callcenter.yaml"
    config.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "flow: hotline" in row)
    result = subprocess.run([sys.executable, "-m", "callcenter.cli", "--config", str(config), "config", "check"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert f"{config}:{line}:" in result.stderr and "missing-flow" in result.stderr
