"""The email quarantine's release and delete (docs/email.md, "What is kept"): through the real app
(a fake AMI, a real SQLite store, the HTTP API with its roles and CSRF) and the CLI against it.
Hostile ids never reach a path outside the quarantine folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from click.testing import CliRunner

from callcenter.channels.email.feature import EmailFeature
from callcenter.channels.email.intake import QUARANTINE_ID, MailIntake
from callcenter.cli.main import main as cli_main
from callcenter.core.errors import Conflict, NotFound
from callcenter.tickets import db
from callcenter.tickets.core import TicketCore
from tests.support.config import CONFIG
from tests.support.mail import message
from tests.support.webapp import running_app

KLINGON = b"From: eve@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=klingon\r\n\r\nqapla'\r\n"
OURS = message("Test from the admin", "Does the desk work?", sender="Desk <support@callcenter.localhost>",
               msgid="<own1@callcenter.localhost>").as_bytes()
HOSTILE = ["..", "../secrets.yaml", "..%2Fsecrets.yaml", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "secrets",
           "20261207-223507-0123456789AB", "20261207-223507-0123456789ab.json", "20261207-223507-0123456789ab%00",
           "20261207-223507-0123456789a", "*", "x" * 5000, "20261207-223507-0123456789ab%2F..%2F..%2Fsecrets.yaml",
           "%20", "20261207-223507-0123456789ab "]


class Browser:
    """A logged-in browser (its own cookie jar) and its CSRF token."""

    def __init__(self, session: aiohttp.ClientSession, csrf: str) -> None:
        self.session, self.csrf = session, csrf

    async def call(self, method: str, path: str, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.session.request(method, path, headers=headers) as r:
            return r.status, await r.json()


async def log_in(base: str, name: str, password: str) -> Browser:
    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post("/api/login", json={"name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
        return Browser(session, (await r.json())["csrf_token"])


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[MailIntake]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    yield MailIntake(store.messages, tmp_path, lambda e: asyncio.sleep(0))
    await store.close()


async def test_a_released_message_lands_on_its_ticket_and_one_still_unreadable_stays_with_its_reason(
        intake: MailIntake) -> None:
    assert "quarantined" in await intake.take(KLINGON, peer="127.0.0.1", mail_from="eve@example.com")
    assert "own address" in (await intake.take(OURS))["quarantined"]
    kept = {"klingon" if "klingon" in m["reason"] else "ours": m for m in intake.quarantine()}
    broken, ours = kept["klingon"], kept["ours"]
    assert ours["reason"].startswith("sent from our own address support@callcenter.localhost")
    assert all(QUARANTINE_ID.fullmatch(m["id"]) and Path(m["file"]).name == f"{m['id']}.eml" for m in kept.values())

    again = await intake.release(broken["id"], actor="sue")  # nothing changed: it stays, the note says who tried
    assert again == {"id": broken["id"], "released": False, "reason": broken["reason"]}
    (still,) = [m for m in intake.quarantine() if m["id"] == broken["id"]]
    assert still["released_by"] == "sue" and still["released_at"] and still["mail_from"] == "eve@example.com"
    assert len(list(intake.quarantine_dir.iterdir())) == 4  # no copy made by the second try

    released = await intake.release(ours["id"], actor="sue")  # a person accepts mail from our own address
    assert released["released"] is True and released["new"] is True
    ticket = await intake.messages.tickets.get(released["ticket"])
    assert ticket["interactions"][0]["body"] == "Does the desk work?"
    assert [m["id"] for m in intake.quarantine()] == [broken["id"]]

    # The fix: an admin corrects the charset in the kept file; now it lands (and only once).
    eml = intake.quarantine_dir / f"{broken['id']}.eml"
    eml.write_bytes(eml.read_bytes().replace(b"klingon", b"utf-8"))
    fixed = await intake.release(broken["id"], actor="sue")
    assert fixed["released"] is True and intake.quarantine() == [] and list(intake.quarantine_dir.iterdir()) == []
    with pytest.raises(NotFound):
        await intake.release(broken["id"], actor="sue")


async def test_one_release_at_a_time_and_hostile_ids_make_no_path(intake: MailIntake, tmp_path: Path) -> None:
    await intake.take(OURS)
    (kept,) = intake.quarantine()
    first, second = await asyncio.gather(intake.release(kept["id"], actor="a"), intake.release(kept["id"], actor="b"),
                                         return_exceptions=True)
    assert isinstance(first, dict) and first["released"] is True
    assert isinstance(second, Conflict) and second.error_id == "quarantine-busy"
    # A delete and a release at once: one of them, and nothing left behind (no orphan note).
    await intake.take(KLINGON)
    (broken,) = intake.quarantine()
    done = await asyncio.gather(intake.delete(broken["id"], actor="a"), intake.release(broken["id"], actor="b"),
                                return_exceptions=True)
    assert isinstance(done[0], dict) and done[0]["deleted"] is True
    # The release finds the message being deleted (409) or already gone (404), as the threads fall.
    assert isinstance(done[1], (Conflict, NotFound)), done[1]
    assert intake.quarantine() == [] and list(intake.quarantine_dir.iterdir()) == []
    secret = tmp_path / "secrets.yaml"
    secret.write_text("api_token: x\n")
    (intake.quarantine_dir / "secrets.eml").write_text("not one of ours")
    for bad in ["../secrets", "../../secrets", "secrets", "/etc/passwd", "20261207-223507-0123456789ab/../../secrets",
                "20261207-223507-0123456789ab\x00", "", "20261207-223507-0123456789ab\n", 12]:
        for action in (intake.release, intake.delete):
            with pytest.raises(NotFound) as refused:
                await action(bad, actor="sue")  # type: ignore[arg-type]
            assert refused.value.error_id == "unknown-quarantined"
    assert secret.exists() and (intake.quarantine_dir / "secrets.eml").exists()


async def test_release_and_delete_over_http_for_supervisors_with_csrf_and_the_cli(tmp_path: Path) -> None:
    async with running_app(CONFIG.format(runtime=tmp_path), tmp_path) as (client, creds, parts):
        email = parts.feature(EmailFeature)
        assert email is not None
        await email.intake.take(KLINGON, mail_from="eve@example.com")
        await email.intake.take(OURS)
        base = str(client.make_url(""))
        token = {"Authorization": f"Bearer {creds.api_token}"}
        async with client.post("/api/users", json={"name": "sue", "role": "supervisor"}, headers=token) as r:
            sue = await log_in(base, "sue", (await r.json())["password"])
        agent = await log_in(base, "agent1", creds.web_passwords["agent1"])
        try:
            status, listed = await sue.call("GET", "/api/email/quarantine")
            assert status == 200 and listed["problem"] == "" and len(listed["messages"]) == 2
            ids = {"klingon" if "klingon" in m["reason"] else "ours": m["id"] for m in listed["messages"]}
            broken, ours = ids["klingon"], ids["ours"]
            for method, path in (("GET", "/api/email/quarantine"), ("POST", f"/api/email/quarantine/{ours}/release"),
                                 ("DELETE", f"/api/email/quarantine/{ours}")):
                assert (await agent.call(method, path))[0] == 403  # an agent may not
            assert (await sue.call("DELETE", f"/api/email/quarantine/{ours}", csrf=False))[1]["error_id"] == "csrf"

            status, answer = await sue.call("POST", f"/api/email/quarantine/{broken}/release")
            assert status == 422 and answer["error_id"] == "still-quarantined"
            assert answer["details"] == {"id": broken, "reason": "a text/plain part in an unknown charset 'klingon'"}
            status, answer = await sue.call("POST", f"/api/email/quarantine/{ours}/release")
            assert status == 200 and answer["released"] is True and answer["ticket"] > 0

            secret = tmp_path / "secrets.yaml"
            before = secret.read_bytes()
            for bad in HOSTILE:
                for method, path in (("POST", f"/api/email/quarantine/{bad}/release"),
                                     ("DELETE", f"/api/email/quarantine/{bad}")):
                    status, answer = await sue.call(method, path)
                    assert status == 404 and answer["error_id"] in ("unknown-quarantined", "not-found"), (bad, answer)
            assert secret.read_bytes() == before and (tmp_path / "quarantine" / f"{broken}.eml").exists()

            # The CLI, against this server (a config naming its port), on a thread: it blocks.
            config = tmp_path / "cli.yaml"
            config.write_text(CONFIG.format(runtime=tmp_path) + f"api: {{bind: 127.0.0.1, port: {client.port}}}\n")

            def cli(*args: str) -> Any:
                return CliRunner().invoke(cli_main, ["--config", str(config), "email", "quarantine", *args])
            listing = await asyncio.to_thread(cli, "list")
            assert listing.exit_code == 0 and listing.output.startswith(broken)
            refused = await asyncio.to_thread(cli, "release", broken)
            assert refused.exit_code == 1 and "still-quarantined" in refused.output and "klingon" in refused.output
            hostile = await asyncio.to_thread(cli, "delete", "../secrets.yaml")
            assert hostile.exit_code == 1 and "unknown-quarantined" in hostile.output
            deleted = await asyncio.to_thread(cli, "delete", broken)
            assert deleted.exit_code == 0 and deleted.output == f"deleted {broken}\n"
            gone = await asyncio.to_thread(cli, "delete", broken)
            assert gone.exit_code == 1 and "unknown-quarantined" in gone.output
            assert (await sue.call("GET", "/api/email/quarantine"))[1]["messages"] == []
        finally:
            await sue.session.close()
            await agent.session.close()


async def test_with_email_off_release_and_delete_say_so(tmp_path: Path) -> None:
    async with running_app(CONFIG.format(runtime=tmp_path) + "email: {enabled: false}\n", tmp_path) as (client, creds, _):
        headers = {"Authorization": f"Bearer {creds.api_token}"}
        for method, path in (("POST", "/api/email/quarantine/20261207-223507-0123456789ab/release"),
                             ("DELETE", "/api/email/quarantine/20261207-223507-0123456789ab")):
            async with client.request(method, path, headers=headers) as r:
                assert r.status == 503 and (await r.json())["error_id"] == "email-off"
