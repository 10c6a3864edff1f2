"""The call log: call events held without waiting, written in batches on the store's own thread
(both databases), short calls opening nothing, a stalled store never blocking the publisher, an
overflow or a failed batch reconciled."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from callcenter.cli.status import lines as status_lines
from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.routing.presence import Presence
from callcenter.core.events import CallRecord
from callcenter.tickets import db
from callcenter.tickets.call_batch import Folder, identified_in
from callcenter.tickets import calls as calls_mod
from callcenter.tickets.calls import CallLog
from callcenter.tickets.core import TicketCore
from callcenter.tickets.store import StorePolicy
from callcenter.workspace.wallboard import wallboard

T0 = 1_800_000_000.0


@pytest.fixture
async def core(store_url: str) -> AsyncIterator[TicketCore]:
    c = TicketCore.build(store_url, StorePolicy(default_region="US"), clock=lambda: T0 + 100)
    c.store.start_thread()  # as `callcenter run` does: the store on a loop of its own
    await c.open()
    yield c
    await c.close()


def started(call_id: str, caller: str, at: float = T0, direction: str = "inbound") -> ev.CallStarted:
    return ev.CallStarted(call_id, caller, "", "8005550100", direction, at)


def ended(call_id: str, caller: str, *, queue: str | None = None, agent: str | None = None,
          at: float = T0 + 60) -> ev.CallEnded:
    record = CallRecord(call_id, caller, "", "8005550100", "inbound", T0, answered_at=T0, queue=queue,
                        queued_at=T0 + 5 if queue else None, agent=agent, agent_answered_at=T0 + 20 if agent else None,
                        ended_at=at, hangup_cause=16, hangup_cause_text="Normal Clearing", hung_up_by="caller")
    return ev.CallEnded(record, at)


def a_whole_call(call_id: str, caller: str) -> list[Any]:
    return [started(call_id, caller), ev.CallerQueued(call_id, "support", caller, T0 + 5),
            ev.AgentConnected(call_id, "support", "agent1", 15, T0 + 20), ended(call_id, caller, queue="support",
                                                                               agent="agent1")]


async def run(log: CallLog, events: list[Any]) -> None:
    writing = asyncio.create_task(log.run())
    try:
        for event in events:
            log.on_event(event)
        await asyncio.wait_for(log.drained(), 30)
    finally:
        writing.cancel()
        await asyncio.gather(writing, return_exceptions=True)


async def test_a_burst_is_written_in_batches_one_interaction_and_ticket_per_call(core: TicketCore) -> None:
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)
    log = CallLog(core, lambda did: "support", publish=publish)
    events = [e for i in range(300) for e in a_whole_call(f"burst.{i}", f"+1415555{i:04d}")]
    await run(log, events)
    calls = await core.calls.recent(1000)
    assert len(calls) == 300 and {c["step"] for c in calls} == {"ended"}
    assert all(c["queue"] == "support" and c["agent"] == "agent1" and c["talk_seconds"] == 40 for c in calls)
    assert len({c["ticket_id"] for c in calls}) == 300 and log.batches < 10 and log.failed == 0
    assert sorted(e.record.call_id for e in published if isinstance(e, ev.CallStored)) == \
        sorted(f"burst.{i}" for i in range(300))
    ticket = await core.tickets.get(calls[0]["ticket_id"])
    assert ticket["first_response_at"] is not None and ticket["history"][0]["field"] == "created"


async def test_one_customer_calling_twice_in_a_batch_joins_one_ticket_a_withheld_caller_gets_each_their_own(
        core: TicketCore) -> None:
    log = CallLog(core, lambda did: "support")
    await run(log, a_whole_call("twice.1", "+14155550777") + a_whole_call("twice.2", "(415) 555-0777")
              + a_whole_call("hidden.1", "anonymous") + a_whole_call("hidden.2", "anonymous"))
    rows = {c["call_id"]: c for c in await core.calls.recent(10)}
    assert rows["twice.1"]["ticket_id"] == rows["twice.2"]["ticket_id"]
    assert rows["twice.1"]["customer_id"] == rows["twice.2"]["customer_id"]
    assert rows["hidden.1"]["customer_id"] != rows["hidden.2"]["customer_id"]
    assert rows["hidden.1"]["ticket_id"] != rows["hidden.2"]["ticket_id"]
    # A later batch joins the same ticket (touched within reopen_days), as a single call does.
    await run(log, a_whole_call("twice.3", "4155550777"))
    rows = {c["call_id"]: c for c in await core.calls.recent(10)}
    assert rows["twice.3"]["ticket_id"] == rows["twice.1"]["ticket_id"]


async def test_a_caller_who_hangs_up_in_the_greeting_opens_nothing_a_known_one_is_on_their_file(
        core: TicketCore) -> None:
    known = await core.customers.create("Ann", [("phone", "+14155550101")])
    log = CallLog(core, lambda did: "support")
    burst = [e for i in range(50) for e in (started(f"spam.{i}", "anonymous"), ended(f"spam.{i}", "anonymous"))]
    await run(log, burst + [started("ann.1", "+14155550101"), ended("ann.1", "+14155550101"),
                            started("new.1", "+14155550199"), ended("new.1", "+14155550199")])
    assert (await core.calls.counts())["customers"] == 1  # 50 withheld hang-ups are not 50 customers
    assert (await core.calls.counts())["tickets"] == 0
    # Withheld callers who give up in the queue: nobody to call back, nothing known: nothing opened.
    queued = [e for i in range(50) for e in (started(f"hidden.{i}", "anonymous"),
                                             ev.CallerQueued(f"hidden.{i}", "support", "anonymous", T0 + 5),
                                             ended(f"hidden.{i}", "anonymous", queue="support"))]
    await run(log, queued)
    assert (await core.calls.counts()) == {"customers": 1, "tickets": 0, "interactions": 1}
    file = await core.customers.file(known["id"])
    [short] = file["timeline"]
    assert short["call_id"] == "ann.1" and short["ticket_id"] is None and short["step"] == "ended"
    assert await core.customers.find("+14155550199") is None
    none = CallLog(core, lambda did: "support", settings=lambda: ("none", 200_000, "auto"))
    await run(none, [started("ann.2", "+14155550101"), ended("ann.2", "+14155550101")])
    assert [i["call_id"] for i in (await core.customers.file(known["id"]))["timeline"]] == ["ann.1"]


async def test_a_voicemail_after_its_call_ended_joins_the_calls_ticket_and_queues_a_job(core: TicketCore) -> None:
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)
    log = CallLog(core, lambda did: "support", publish=publish)
    await run(log, [started("vm.1", "+14155550303"), ended("vm.1", "+14155550303", queue="support"),
                    ev.VoicemailRecorded("vm.1", "/x/vm.1.wav", 4.0, "+14155550303", "8005550100", T0 + 70)])
    file = await core.customers.file((await core.customers.find("+14155550303"))["id"])  # type: ignore[index]
    channels = {i["channel"]: i for i in file["timeline"]}
    assert channels["voicemail"]["ticket_id"] == channels["voice"]["ticket_id"]
    assert [type(e).__name__ for e in published] == ["CallStored", "TranscriptionQueued"]


async def test_a_stalled_store_never_blocks_the_publisher_and_nothing_is_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    core = TicketCore.build(url, clock=lambda: T0 + 100)
    core.store.start_thread()
    await core.open()
    log = CallLog(core, lambda did: "support")
    writing = asyncio.create_task(log.run())
    blocker = sqlite3.connect(tmp_path / "store.db", timeout=1)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock: the store stalls
    try:
        started_at = time.perf_counter()
        for i in range(500):
            for event in a_whole_call(f"stall.{i}", f"+1650555{i:04d}"):
                log.on_event(event)
        assert time.perf_counter() - started_at < 1.0  # 2,000 events held, not written: no waiting
        await asyncio.sleep(2)
        assert len(log.backlog) > 0 and await core.calls.counts() == {"customers": 0, "tickets": 0, "interactions": 0}
        assert log.describe()["backlog"] == 2000  # the batch being tried counts as waiting
        monkeypatch.setattr(calls_mod, "SLOW_BATCH", 1.0)
        assert "not answered" in log.describe()["refused"]["error"]  # status says why
        # What waits is shown: `callcenter status` and the wallboard.
        shown = status_lines({"asterisk": {"reachable": False}, "ami": {"connected": True}, "calls": {"active": 0},
                              "store": {"url": url, "writes": 0, **log.describe()}, "queues": []})
        assert any("call log: " in line and "events waiting (peak 2000)" in line for line in shown), shown
        assert wallboard(Presence([], []), Config(), T0, {}, log.describe())["store"]["backlog"] == 2000
    finally:
        blocker.rollback()
        blocker.close()
    await asyncio.wait_for(log.drained(), 60)
    writing.cancel()
    assert (await core.calls.counts())["interactions"] == 500 and log.failed == 0 and log.peak == 2000
    assert log.describe()["refused"] is None and log.describe()["backlog"] == 0
    await core.close()


async def test_an_overflow_is_counted_and_reconciled_once_the_backlog_drains(core: TicketCore) -> None:
    reconciled: list[set[str]] = []
    log: CallLog

    async def reconcile() -> None:
        reconciled.append(set(log.unwritten))
    log = CallLog(core, lambda did: "support", settings=lambda: ("file", 8, "auto"), reconcile=reconcile)
    for i in range(4):
        for event in a_whole_call(f"over.{i}", f"+1415555{i:04d}"):
            log.on_event(event)  # no writer yet: the backlog fills at 8
    assert log.dropped == 8 and log.unwritten == {"over.2", "over.3"}
    await run(log, [])
    assert reconciled == [{"over.2", "over.3"}] and log.unwritten == set()
    assert {c["call_id"] for c in await core.calls.recent(10)} == {"over.0", "over.1"}
    assert log.describe()["backlog_dropped"] == 8


def test_the_fold_keeps_steps_forward_and_internal_calls_out() -> None:
    folder = Folder(lambda did: "support")
    batch = folder.fold([started("f.1", "+14155550101"), ev.AgentConnected("f.1", "support", "agent1", 3, T0 + 9),
                         ev.CallerQueued("f.1", "support", "+14155550101", T0 + 5),
                         started("i.1", "1001", direction="internal"), ended("i.1", "1001")])
    [change] = batch.calls
    assert change.step == "answered" and change.counts and change.first_response and change.values["agent"] == "agent1"
    assert folder.internal == set()  # the internal call ended: forgotten
    folder.written(batch)
    assert folder.live["f.1"].stored
    again = folder.fold([ended("f.1", "+14155550101", queue="support", agent="agent1")])
    assert again.calls[0].stored and again.calls[0].ended is not None
    folder.written(again)
    assert folder.live == {}


def test_a_withheld_caller_counts_once_an_agent_answers() -> None:
    folder = Folder(lambda did: "support", identified_in("US"))
    queued = folder.fold([started("w.1", "anonymous"), ev.CallerQueued("w.1", "support", "anonymous", T0 + 5)])
    assert not queued.calls[0].counts  # waiting, withheld: nothing to write yet
    folder.written(queued)
    answered = folder.fold([ev.AgentConnected("w.1", "support", "agent1", 3, T0 + 9)])
    assert answered.calls[0].counts and not answered.calls[0].stored and answered.calls[0].contact is not None
    assert Folder(lambda did: "support", identified_in("US")).fold(
        [started("k.1", "4155550101"), ev.CallerQueued("k.1", "support", "4155550101", T0 + 5)]).calls[0].counts


async def test_a_reconcile_whose_write_fails_reads_the_same_cdr_rows_again(core: TicketCore, tmp_path: Path) -> None:
    import json

    from callcenter.tickets.reconcile import CdrReconciler

    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps({"linkedid": "500.1", "uniqueid": "500.1", "src": "4155550123", "clid": "<4155550123>",
                               "dst": "s", "dcontext": "cc-entry", "channel": "PJSIP/carrier-00000001",
                               "dstchannel": "", "lastapp": "Queue", "lastdata": "support,t,,,", "start": T0,
                               "answer": T0 + 1, "end": T0 + 30, "duration": 30, "billsec": 29,
                               "disposition": "ANSWERED", "cc_did": "8005550100"}) + "\n")
    reconciler = CdrReconciler(core, cdr, agents=lambda: [], live=lambda: [], topic_of=lambda did: "support",
                               recording_of=lambda record: None)
    real_step = core.calls.step

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")
    core.calls.step = refused  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        await reconciler.run_once()
    core.calls.step = real_step  # type: ignore[method-assign]
    assert await reconciler.run_once() == {"added": 1, "completed": 0}  # not skipped: read again
    assert await reconciler.run_once() == {"added": 0, "completed": 0}
    assert [c["call_id"] for c in await core.calls.recent(10)] == ["500.1"]


async def test_a_screen_pop_can_wait_for_its_calls_row(core: TicketCore) -> None:
    log = CallLog(core, lambda did: "support")
    writing = asyncio.create_task(log.run())
    try:
        waiting = asyncio.create_task(log.stored("pop.1", 5))
        for event in (started("pop.1", "+14155550150"), ev.CallerQueued("pop.1", "support", "+14155550150", T0 + 5)):
            log.on_event(event)
        assert await waiting and (await core.calls.get("pop.1")) is not None  # True once the row is there
        assert await log.stored("pop.1", 0.01)
        log.on_event(started("pop.2", "anonymous"))
        await asyncio.wait_for(log.drained(), 5)
        assert not await asyncio.wait_for(log.stored("pop.2", 5), 0.5)  # withheld: no row until answered, no wait
        assert not await log.stored("nobody", 0.05) and log._stored_waiters == {}
    finally:
        writing.cancel()


async def test_a_call_gets_the_ticket_of_the_queue_it_reached_assigned_to_who_answered(core: TicketCore) -> None:
    log = CallLog(core, lambda did: "support")  # the DID's queue is support; the caller chose billing
    billing = [started("bill.1", "+14155550100"), ev.CallerQueued("bill.1", "billing", "+14155550100", T0 + 5),
               ev.AgentConnected("bill.1", "billing", "agent3", 10, T0 + 15),
               ended("bill.1", "+14155550100", queue="billing", agent="agent3")]
    missed = [started("miss.1", "+14155550101"), ev.CallerQueued("miss.1", "support", "+14155550101", T0 + 5)]
    await run(log, billing + missed)
    gave_up = CallRecord("miss.1", "+14155550101", "", "8005550100", "inbound", T0, answered_at=T0, queue="support",
                         queued_at=T0 + 5, ended_at=T0 + 40, abandoned=True, hangup_cause=16,
                         hangup_cause_text="Normal Clearing", hung_up_by="caller")
    await run(log, [ev.CallEnded(gave_up, T0 + 40)])
    call = await core.calls.get("bill.1")
    assert call is not None
    ticket = await core.tickets.get(call["ticket_id"])
    assert ticket["topic"] == ticket["queue"] == "billing" and ticket["channel"] == "voice"
    assert ticket["assignee"] == "agent3" and ticket["status"] == "open" and ticket["awaiting_since"] is None
    assert ticket["first_response_at"] is not None
    assert [(h["field"], h["new"]) for h in ticket["history"]][-2:] == [("assignee", "agent3"), ("status", "open")]
    missed_call = await core.calls.get("miss.1")
    assert missed_call is not None
    left = await core.tickets.get(missed_call["ticket_id"])
    # A caller who gave up in the queue waits to be called back: a work item nobody has yet.
    assert left["queue"] == "support" and left["assignee"] == "" and left["awaiting_since"] is not None
    assert [w.ticket for w in await core.work.waiting({"support"})] == [left["id"]]
