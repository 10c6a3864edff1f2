"""Hostile input against the running system: the worst config saves while a call is connected,
API bodies at the edges, odd names on the CLI, and a CLI that keeps working while callcenter.yaml
is broken."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.system import API_PORT, PLAIN, REPO, AmiWatch, System, wait_until

HOSTILE = REPO / "tests" / "fixtures" / "config" / "hostile"


def raw_post(system: System, path: str, body: bytes) -> tuple[int, bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{API_PORT}{path}", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {system.creds.api_token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def test_api_bodies_at_the_edges_get_json_errors(system: System) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body, kind = raw_post(system, "/api/agents/agent1/pause", deep)
    assert status in (400, 413) and kind.startswith("application/json"), body[:200]
    status, body, kind = raw_post(system, "/api/agents/agent1/pause", b'{"reason": "' + b"x" * 900_000 + b'"}')
    assert status in (400, 413) and kind.startswith("application/json")
    status, body, kind = raw_post(system, "/api/agents/agent1/pause", b'{"reason": ' + b"[" * 20 + b"1" + b"]" * 20 + b"}")
    assert status == 400 and b"invalid-text" in body
    status, data = system.api("/api/no/such/route")
    assert status == 404 and data["error_id"] == "not-found"
    for limit in ("-1", "0", "99999999999999999999", "x"):
        status, data = system.api(f"/api/calls?limit={limit}")
        assert status == 400 and data["error_id"] == "bad-limit"
    status, body, kind = raw_post(system, "/api/queues/support/members", b'{"agent": NaN}')
    assert status == 400 and b"bad-request" in body
    assert system.api("/api/agents/agent1")[1]["pause"] is None  # nothing was stored


def test_odd_names_on_the_cli_are_answered_in_one_line(system: System) -> None:
    for args, error in ((("queue", "show", "../../etc"), "error: unknown-queue: no queue '../../etc'"),
                        (("agent", "show", ""), "error: unknown-agent: no agent ''"),
                        (("queue", "add", "support", "a/b"), "error: unknown-agent: no agent 'a/b'")):
        result = system.cli(*args, check=False)
        assert result.returncode == 1 and result.stderr.startswith(error), result.stderr
        assert len(result.stderr.splitlines()) == 1
    result = system.cli("calls", "--limit", "0", check=False)
    assert result.returncode == 2 and "limit" in result.stderr and "Traceback" not in result.stderr


async def test_the_worst_config_saves_are_refused_while_calls_carry_on(system: System, ami_watch: AmiWatch,
                                                                       phones) -> None:
    agent = phones.agent("agent1")
    system.cli("queue", "unpause", "agent1")
    caller = phones.caller("5558900001")
    call = await asyncio.to_thread(caller.call, PLAIN)
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1", CallerIDNum="5558900001")
    original = system.config_path.read_bytes()
    before = system.api("/api/queues/support")[1]["members"]
    huge = system.dir / "huge.yaml"
    huge.write_bytes(original + b"# padding padding padding padding padding padding padding padding\n" * 800_000)
    try:
        for name, content in (("alias-bomb", (HOSTILE / "alias-bomb.yaml").read_bytes()),
                              ("50 MB", huge.read_bytes()), ("empty", b""),
                              ("newline-in-full-name", (HOSTILE / "newline-in-full-name.yaml").read_bytes())):
            system.config_path.write_bytes(content)
            # Refused within a few seconds (the watcher looks every second), and the event loop never
            # stalls meanwhile: parsing 50 MB or an alias bomb on it would block for far longer than the
            # generous bounds here (they catch a stall or a hang; they are not a latency figure).
            started = time.monotonic()
            worst_api = 0.0
            while time.monotonic() - started < 10:
                t = time.monotonic()
                status, data = system.api("/api/status")
                worst_api = max(worst_api, time.monotonic() - t)
                if data.get("config", {}).get("error_id"):
                    break
                await asyncio.sleep(0.05)
            assert data["config"]["error_id"] in ("too-large", "missing-key", "bad-value"), (name, data["config"])
            assert worst_api < 2.5, (name, worst_api)
            assert system.api("/api/queues/support")[1]["members"] == before  # nothing was applied
            system.config_path.write_bytes(original)
            await asyncio.to_thread(wait_until, lambda: system.api("/api/status")[1]["config"]["error"] == "", 10,
                                    "the good file back")
        assert call.state != "ended" and incoming.state != "ended"
    finally:
        system.config_path.write_bytes(original)
        await asyncio.to_thread(call.hangup)


def test_the_cli_keeps_working_while_the_config_is_broken(system: System, tmp_path: Path) -> None:
    original = system.config_path.read_bytes()
    try:
        system.config_path.write_bytes(original.replace(b"queues:\n", b"queues:\n  colour: red\n", 1))
        wait_until(lambda: system.api("/api/status")[1]["config"]["error_id"] == "wrong-type"
                   or system.api("/api/status")[1]["config"]["error_id"] == "unknown-key", 10, "the refused edit")
        result = system.cli("status", check=False)
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith("warning: ") and len(result.stderr.splitlines()) == 1
        assert "Config     last reload refused:" in result.stdout
        assert system.cli("agent", "list", check=False).returncode == 0
        check = system.cli("config", "check", check=False)
        assert check.returncode == 2 and check.stderr.startswith("error: ") and "Traceback" not in check.stderr
        # Broken past what even a lenient reader takes (nested thousands deep): still one warning line.
        system.config_path.write_bytes(original + b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n")
        result = system.cli("status", check=False)
        assert result.returncode == 0 and len(result.stderr.splitlines()) == 1, result.stderr[-500:]
    finally:
        system.config_path.write_bytes(original)
    # Outside the repo, without --config: the CLI says how to point at the config.
    import subprocess
    import sys
    lost = subprocess.run([sys.executable, "-m", "callcenter.cli", "status"], capture_output=True, text=True,
                          cwd=tmp_path, env={k: v for k, v in system.env.items() if k != "CALLCENTER_CONFIG"},
                          timeout=60)
    assert lost.returncode == 2 and "--config" in lost.stderr and "CALLCENTER_CONFIG" in lost.stderr
