"""The CLI and the REST API against the running system; the API wants its token."""

from __future__ import annotations

import json
import stat

from tests.support.system import API_PORT, SIP_PORT, System


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
    assert data["asterisk"]["uptime_seconds"] >= 0
    assert data["ami"]["connected"] is True
    assert {"support", "sales"} <= {q["name"] for q in data["queues"]}
    assert isinstance(data["calls"]["active"], int)


def test_status_and_calls_text(system: System) -> None:
    out = system.cli("status").stdout
    assert "Asterisk   22." in out and "AMI        connected" in out and "support" in out
    assert "Store      sqlite+aiosqlite:///" in out and "PROBLEM" not in out
    assert system.cli("calls").returncode == 0


def test_agent_credentials(system: System) -> None:
    rows = json.loads(system.cli("agent", "credentials", "--json").stdout)
    assert [r["agent"] for r in rows] == ["agent1", "agent2", "agent3"]
    assert all(len(r["password"]) >= 16 for r in rows)
    assert len({r["password"] for r in rows}) == 3  # generated, one each
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
