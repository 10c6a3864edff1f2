"""The CLI and the REST API against the running system; the API wants its token."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

from tests.support.system import API_PORT, PLAIN, SIP_PORT, AmiWatch, System, wait_until


def test_api_refuses_requests_without_the_right_token(system: System) -> None:
    for path in ("/api/status", "/api/calls", "/api/calls/x"):
        status, body = system.api(path, token=None)
        assert status == 401 and body["error_id"] == "unauthorized"
        status, body = system.api(path, token="not-the-token")
        assert status == 401
    status, body = system.api("/api/health", token=None)
    assert status == 200 and body["ok"] is True  # liveness only, no data


def test_api_unknown_call_is_404(system: System) -> None:
    status, body = system.api("/api/calls/no-such-call")
    assert status == 404 and body["error_id"] == "unknown-call"


def test_status_json(system: System) -> None:
    data = json.loads(system.cli("status", "--json").stdout)
    assert data["asterisk"]["reachable"] is True
    assert data["asterisk"]["version"].startswith("22.")
    # Asterisk's own uptime: as old as its process (/proc: start time in clock ticks after boot).
    started = int(Path(f"/proc/{system.asterisk_pid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
    age = float(Path("/proc/uptime").read_text().split()[0]) - started / os.sysconf("SC_CLK_TCK")
    assert abs(data["asterisk"]["uptime_seconds"] - age) <= 5, (data["asterisk"], age)
    assert data["ami"]["connected"] is True
    assert {"support", "sales"} <= {q["name"] for q in data["queues"]}
    assert data["calls"]["active"] == len(system.api("/api/calls")[1]["active"])  # the calls the API lists


def call_row(system: System, caller_id: str) -> list[str] | None:
    """The fields of this caller's line in `callcenter calls` (CALL STATE CALLER DID START ANSWER END QUEUE AGENT CAUSE)."""
    lines = system.cli("calls").stdout.splitlines()
    assert lines[0].split()[:4] == ["CALL", "STATE", "CALLER", "DID"], lines[:1]
    rows = [line.split() for line in lines[1:] if line.split()[2:3] == [caller_id]]
    return rows[0] if rows else None


async def test_status_and_calls_text(system: System, ami_watch: AmiWatch, phones) -> None:
    out = system.cli("status").stdout
    assert "Asterisk   22." in out and "AMI        connected" in out and "support" in out
    assert "Store      sqlite+aiosqlite:///" in out and "PROBLEM" not in out
    # `calls` shows a waiting caller as queued, then as ended with its hangup cause.
    call = await asyncio.to_thread(phones.caller("5551100077").call, PLAIN)
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551100077", timeout=20)
    row = await asyncio.to_thread(wait_until, lambda: call_row(system, "5551100077"), 10, "the caller in `calls`")
    assert row[0] == join["Linkedid"] and row[1:4] == ["queued", "5551100077", PLAIN], row
    assert row[5] != "-" and row[6:9] == ["-", "support", "-"], row  # answered (the greeting), not ended, no agent
    await asyncio.to_thread(call.hangup)
    row = await asyncio.to_thread(wait_until, lambda: (r := call_row(system, "5551100077")) and r[1] == "ended" and r,
                                  10, "the ended call in `calls`")
    assert row[0] == join["Linkedid"] and row[6] != "-" and row[7] == "support" and row[9] == "16", row


def test_agent_credentials(system: System) -> None:
    rows = json.loads(system.cli("agent", "credentials", "--json").stdout)
    assert [r["agent"] for r in rows] == ["agent1", "agent2", "agent3", "agent6", "agent7", "sue"]
    assert [r["role"] for r in rows] == ["agent"] * 5 + ["supervisor"]
    assert all(len(r["password"]) >= 16 for r in rows)
    assert len({r["password"] for r in rows}) == 6  # generated, one each
    secrets_file = system.config.runtime_dir / "secrets.yaml"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    text = system.cli("agent", "credentials").stdout
    assert rows[0]["password"] in text and f"sip:127.0.0.1:{SIP_PORT}" in text


def test_cli_reports_a_missing_controller_in_one_line(system: System, tmp_path) -> None:
    config = tmp_path / "cc.yaml"
    config.write_text(system.config_path.read_text().replace(f"port: {API_PORT}", f"port: {API_PORT + 919}"))
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "secrets.yaml").write_text("ami_secret: a\napi_token: b\n")
    result = system.cli("--config", str(config), "status", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: controller-unreachable: no controller at http://127.0.0.1:{API_PORT + 919}")
    assert result.stderr.count("\n") == 1


def test_a_live_reload_that_moves_a_port_is_refused_with_needs_restart(system: System) -> None:
    """README: "ports and folders need a restart": `config reload` refuses such an edit (`needs-restart`),
    and the running controller keeps its port."""
    original = system.config_path.read_text()
    token = system.creds.api_token
    moved = original.replace(f"api: {{bind: 127.0.0.1, port: {API_PORT}}}", f"api: {{bind: 127.0.0.1, port: {API_PORT + 7}}}")
    assert moved != original
    try:
        system.config_path.write_text(moved)
        # (The CLI would look for the controller on the new port: ask the running one, on its port.)
        status, body = system.api("/api/config/reload", token=token, method="POST")
        assert status >= 400 and body["error_id"] == "needs-restart", (status, body)
        assert "api" in body["error"] and "needs a restart" in body["error"], body
        status, data = system.api("/api/status", token=token)
        assert status == 200 and data["ami"]["connected"]  # still here, on its old port
    finally:
        system.config_path.write_text(original)
    status, body = system.api("/api/config/reload", method="POST")
    assert status == 200 and body["reloaded"] is True, body
