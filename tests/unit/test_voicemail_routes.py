"""The voicemail inbox over HTTP (voicemail/routes.py), through the real app of `app.build` (a fake
AMI, a real SQLite store): audio only from inside the recording roots, a retranscribe wakes the
worker, ids as `12` or `#12`."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import app as app_mod
from callcenter.voicemail.feature import VoicemailFeature
from callcenter.ami.testing import FakeAmi
from callcenter.config import parse_config
from callcenter.tickets import db
from callcenter.tickets.core import TicketCore
from callcenter.tickets.store import StorePolicy
from tests.support.config import CONFIG

WAV = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "speech").glob("*.wav"))[0]


class Inbox:
    def __init__(self, client: TestClient, parts: app_mod.App, folder: Path) -> None:
        self.client, self.parts, self.folder = client, parts, folder
        self.auth = {"Authorization": f"Bearer {parts.token}"}

    async def voicemail(self, call_id: str, path: Path) -> int:
        store = self.parts.store
        assert store is not None
        await store.calls.step(call_id, step="started", caller_id="+14155552671", did="8005550100", topic="support")
        row = await store.calls.step(call_id, step="ended", channel="voicemail", caller_id="+14155552671",
                                     topic="support", values={"recording_path": str(path), "recording_seconds": 6.0})
        await store.jobs.queue(call_id)
        return int(row["id"])


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Inbox]:
    (tmp_path / "rec").mkdir()
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url, StorePolicy(recording_roots=(tmp_path / "rec",)))
    await store.open()
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    parts = app_mod.build(config, ami=FakeAmi([]), tickets=store)
    client = TestClient(TestServer(parts.web, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Inbox(client, parts, tmp_path)
    finally:
        await client.close()
        await store.close()


async def test_audio_is_served_only_from_inside_the_recording_roots(inbox: Inbox) -> None:
    inside, outside = inbox.folder / "rec" / "in.wav", inbox.folder / "out.wav"
    shutil.copy(WAV, inside)
    shutil.copy(WAV, outside)
    (inbox.folder / "rec" / "link.wav").symlink_to(outside)
    ids = [await inbox.voicemail(f"{n}.1", path) for n, path in
           enumerate((inside, outside, inbox.folder / "rec" / "link.wav", inbox.folder / "rec" / "gone.wav"))]
    r = await inbox.client.get(f"/api/interactions/{ids[0]}/audio", headers=inbox.auth)
    assert r.status == 200 and r.content_type == "audio/wav" and await r.read() == WAV.read_bytes()
    assert r.headers["Cache-Control"] == "private, no-store"
    for interaction in (*ids[1:], 999_999):
        r = await inbox.client.get(f"/api/interactions/{interaction}/audio", headers=inbox.auth)
        assert r.status == 404 and (await r.json())["error_id"] == "no-audio", interaction
    r = await inbox.client.get("/api/interactions/x/audio", headers=inbox.auth)
    assert r.status == 404 and (await r.json())["error_id"] == "unknown-interaction"


async def test_a_retranscribe_queues_a_job_and_wakes_the_worker(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    woken: list[bool] = []
    assert inbox.parts.feature(VoicemailFeature) is not None
    monkeypatch.setattr(inbox.parts.feature(VoicemailFeature).worker, "wake", lambda: woken.append(True))
    vm = await inbox.voicemail("1.1", inbox.folder / "rec" / "in.wav")
    for path in (f"/api/voicemails/{vm}/retranscribe", f"/api/voicemails/%23{vm}/retranscribe"):
        r = await inbox.client.post(path, json={"language": "zh"}, headers=inbox.auth)
        assert r.status == 200 and (await r.json())["voicemail"] == vm and (await r.json())["state"] == "queued"
    assert woken == [True, True]
    for body, error_id in (({"language": "xx"}, "bad-language"), ({"engine": "nope"}, "unknown-engine")):
        r = await inbox.client.post(f"/api/voicemails/{vm}/retranscribe", json=body, headers=inbox.auth)
        assert r.status == 400 and (await r.json())["error_id"] == error_id
    r = await inbox.client.post("/api/voicemails/999/retranscribe", json={}, headers=inbox.auth)
    assert r.status == 404 and (await r.json())["error_id"] == "unknown-voicemail" and len(woken) == 2
    r = await inbox.client.get(f"/api/voicemails/{vm}", headers=inbox.auth)
    assert r.status == 200 and (await r.json())["jobs"] == 1  # the queued job is the one asked for again
    r = await inbox.client.post(f"/api/voicemails/{vm}/handled", headers=inbox.auth)
    assert r.status == 200 and (await r.json())["handled_by"] == "api"
    r = await inbox.client.post("/api/voicemails/999/handled", headers=inbox.auth)
    assert r.status == 404 and (await r.json())["error_id"] == "unknown-voicemail"
