"""Web logins, roles, CSRF, sessions and the WebSocket, through the real aiohttp app of
`app.build` (a fake AMI, a real SQLite store, a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import app as app_mod
from callcenter.workspace.feature import WorkspaceFeature
from callcenter.core import events as ev
from callcenter.core.credentials import Credentials
from callcenter.ami.testing import FakeAmi
from tests.support.webapp import running_app
from tests.support.config import CONFIG


class Web:
    def __init__(self, client: TestClient, creds: Credentials, parts: app_mod.App) -> None:
        self.client, self.creds, self.parts = client, creds, parts

    async def login(self, name: str, password: str | None = None) -> tuple[aiohttp.ClientSession, str]:
        """A browser of its own (cookie jar) logged in as `name`; returns it and its CSRF token."""
        browser = aiohttp.ClientSession(base_url=str(self.client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
        password = password or (self.creds.web_admin_password if name == "admin" else self.creds.web_passwords[name])
        async with browser.post("/api/login", json={"name": name, "password": password}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        return browser, body["csrf_token"]


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    async with running_app(CONFIG.format(runtime=tmp_path), tmp_path) as (client, creds, parts):
        yield Web(client, creds, parts)


async def test_logins_are_generated_hashed_and_refused_alike(web: Web, tmp_path: Path) -> None:
    secrets = (tmp_path / "secrets.yaml").read_text()
    assert web.creds.web_passwords["agent1"] in secrets and oct((tmp_path / "secrets.yaml").stat().st_mode)[-3:] == "600"
    stored = await web.parts.feature(WorkspaceFeature).accounts.user("agent1")  # type: ignore[union-attr]
    assert stored["role"] == "agent" and stored["password_hash"].startswith("$argon2id$")
    assert web.creds.web_passwords["agent1"] not in stored["password_hash"]
    answers = []
    for body in ({"name": "agent1", "password": "wrong"}, {"name": "nobody", "password": "wrong"}):
        r = await web.client.post("/api/login", json=body)
        answers.append((r.status, (await r.json())["message"]))
    assert answers[0] == answers[1] == (401, "wrong name or password")
    for body in ({"name": 1, "password": []}, {"name": "a" * 10_000, "password": "x"}, {}):
        assert (await web.client.post("/api/login", json=body)).status in (400, 401)
    browser, _ = await web.login("agent1")
    async with browser.get("/api/session") as r:
        assert (await r.json())["agent"] == "agent1"
    cookie = next(iter(browser.cookie_jar))
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    await browser.close()


async def test_too_many_failed_logins_wait(web: Web) -> None:
    for _ in range(5):
        assert (await web.client.post("/api/login", json={"name": "agent2", "password": "x"})).status == 401
    r = await web.client.post("/api/login", json={"name": "agent2", "password": web.creds.web_passwords["agent2"]})
    assert r.status == 429 and int(r.headers["Retry-After"]) > 200
    assert (await r.json())["error_id"] == "too-many-attempts"


async def test_roles_csrf_and_origins_are_enforced_on_the_server(web: Web) -> None:
    agent, csrf = await web.login("agent1")
    async with agent.post("/api/agents/agent1/unpause") as r:
        assert r.status == 403 and (await r.json())["error_id"] == "csrf"  # no CSRF token
    async with agent.post("/api/agents/agent1/unpause", headers={"X-CSRF-Token": "forged"}) as r:
        assert r.status == 403 and (await r.json())["error_id"] == "csrf"
    headers = {"X-CSRF-Token": csrf}
    async with agent.post("/api/agents/agent1/unpause", headers={**headers, "Origin": "http://evil.example"}) as r:
        assert r.status == 403 and (await r.json())["error_id"] == "csrf"
    async with agent.post("/api/agents/agent2/pause", json={"reason": "lunch"}, headers=headers) as r:
        assert r.status == 403 and (await r.json())["error_id"] == "forbidden"  # not another agent
    async with agent.post("/api/agents/agent1/unpause", headers=headers) as r:
        assert r.status == 200, await r.text()  # their own: yes
    for path in ("/api/wallboard", "/api/wallboard.csv", "/api/users", "/api/status"):
        async with agent.get(path) as r:
            assert r.status == 403, path
    admin, admin_csrf = await web.login("admin")
    async with admin.post("/api/users", json={"name": "sam", "role": "supervisor"},
                          headers={"X-CSRF-Token": admin_csrf}) as r:
        assert r.status == 201
        sam_password = (await r.json())["password"]
    supervisor, sup_csrf = await web.login("sam", sam_password)
    async with supervisor.get("/api/wallboard") as r:
        board = await r.json()
        assert r.status == 200 and [q["name"] for q in board["queues"]] == ["support"]
        assert board["store"] == {"backlog": 0, "backlog_peak": board["store"]["backlog_peak"], "backlog_dropped": 0}
    async with supervisor.post("/api/agents/agent2/pause", json={"reason": "lunch"},
                               headers={"X-CSRF-Token": sup_csrf}) as r:
        assert r.status == 200  # a supervisor pauses anyone
    async with supervisor.get("/api/users") as r:
        assert r.status == 403  # users are the admin's
    async with supervisor.get("/api/wallboard.csv") as r:
        assert r.status == 200 and r.content_type == "text/csv" and "support" in await r.text()
    # The CLI's token needs no CSRF token (no cookie a browser would send by itself).
    r = await web.client.post("/api/agents/agent2/unpause", headers={"Authorization": f"Bearer {web.creds.api_token}"})
    assert r.status == 200
    for browser in (agent, admin, supervisor):
        await browser.close()


async def test_a_session_survives_a_restart_and_ends_idle_at_logout_or_with_a_new_password(web: Web) -> None:
    browser, csrf = await web.login("agent1")
    # "Restart": a new app on the same store knows the session.
    again_app = app_mod.build(web.parts.config, ami=FakeAmi([]), tickets=web.parts.store, credentials=web.creds)
    again = TestClient(TestServer(again_app.web, host="127.0.0.1"))
    await again.start_server()
    cookie = next(iter(browser.cookie_jar)).value
    r = await again.get("/api/session", cookies={"cc_session": cookie})
    assert r.status == 200 and (await r.json())["csrf_token"] == csrf
    await again.close()
    store = web.parts.store
    assert store is not None
    real = store.store.clock
    store.store.clock = lambda: real() + 9 * 3600  # idle longer than web.session_idle_minutes (480)
    async with browser.get("/api/session") as r:
        assert r.status == 401
    store.store.clock = real
    browser, csrf = await web.login("agent1")
    async with browser.post("/api/logout", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200
    async with browser.get("/api/session") as r:
        assert r.status == 401
    browser2, _ = await web.login("agent2")
    r = await web.client.patch("/api/users/agent2", json={"new_password": True},
                               headers={"Authorization": f"Bearer {web.creds.api_token}"})
    assert r.status == 200 and (await r.json())["password"]
    async with browser2.get("/api/session") as r:
        assert r.status == 401  # a new password ends the sessions
    await browser.close()
    await browser2.close()


async def test_the_websocket_sends_a_snapshot_then_live_changes_and_refuses_strangers(web: Web) -> None:
    r = await web.client.get("/api/ws")
    assert r.status == 401
    browser, _ = await web.login("agent1")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with browser.ws_connect("/api/ws", headers={"Origin": "http://evil.example"}):
            pass
    assert refused.value.status == 403
    async with browser.ws_connect("/api/ws") as ws:
        snapshot = json.loads((await ws.receive(timeout=5)).data)
        assert snapshot["type"] == "snapshot" and snapshot["me"]["agent"] == "agent1"
        assert snapshot["settings"]["pause_reasons"] and snapshot["wallboard"] is None  # agents get no wallboard
        await web.parts.bus.publish(ev.CallbackRequested("r1", "support", "4155550100", "1.1", 0.0))
        message = json.loads((await ws.receive(timeout=5)).data)
        assert message == {"type": "callbacks", "at": 0.0}  # the event's own time
    await browser.close()


async def test_pages_are_served_with_a_strict_policy_and_nothing_outside_static(web: Web) -> None:
    for path in ("/", "/login", "/wallboard"):
        r = await web.client.get(path)
        assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"], path
        assert r.headers["X-Frame-Options"] == "DENY"
    for path in ("/static/../api.py", "/static/%2e%2e/api.py", "/static/", "/static/js/../../api.py"):
        r = await web.client.get(path)
        assert r.status in (403, 404), path


async def test_a_burst_of_logins_is_counted_whole_and_a_logout_closes_the_sessions_pages(web: Web) -> None:
    answers = await asyncio.gather(*(web.client.post("/api/login", json={"name": "agent3", "password": "guess"})
                                     for _ in range(20)))
    statuses = sorted(r.status for r in answers)
    assert statuses.count(401) <= 5 and statuses.count(429) >= 15, statuses  # never 20 guesses checked
    browser, csrf = await web.login("agent1")
    async with browser.ws_connect("/api/ws") as ws:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "snapshot"
        async with browser.post("/api/logout", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4001
    await browser.close()


async def test_pause_reasons_from_the_page_come_from_the_list_and_click_to_call_says_what_is_missing(web: Web) -> None:
    browser, csrf = await web.login("agent1")
    headers = {"X-CSRF-Token": csrf}
    async with browser.post("/api/agents/agent1/pause", json={"reason": "coffee"}, headers=headers) as r:
        assert r.status == 400 and (await r.json())["error_id"] == "bad-reason"
    async with browser.post("/api/originate", json={"number": "+14155550100"}, headers=headers) as r:
        assert r.status == 409 and (await r.json())["error_id"] == "no-trunk"  # the test config has no carrier
    await browser.close()
