"""The bus and the wiring (`app.build`) with a fake AMI client: ordered delivery, the crash policy
(a failing subscriber is counted, the rest goes on), queue policies, resync from Asterisk's lists.

The fake AMI replays traffic recorded from the real Asterisk (tests/fixtures/ami/) through the
same translation the live client uses, and answers actions with canned replies.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from callcenter import app as app_mod
from callcenter.tickets.feature import TicketsFeature
from callcenter.core import events as ev
from callcenter.core.events import AmiConnected
from callcenter.ami.events import AsteriskBooted, translate
from callcenter.ami.trace import events as trace_events
from callcenter.core.bus import Bus
from callcenter.config import parse_config
from callcenter.ami.client import AmiTimeout
from callcenter.ami.testing import FakeAmi
from callcenter.ivr import sessions as ivr_sessions
from tests.support.config import CONFIG

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"

def calls_from_traces(count: int) -> list[Any]:
    """`count` calls: the recorded ones again and again, each with its own uniqueids."""
    out: list[Any] = []
    names = ["agent-answers-queued-call.ami", "caller-abandons-in-queue.ami"]
    for i in range(count):
        for message in trace_events(FIXTURES / names[i % 2]):
            headers = {k: (v.replace(".", f".{i}9", 1) if k in ("Uniqueid", "Linkedid", "DestUniqueid",
                                                               "DestLinkedid") else v)
                       for k, v in dict(message).items()}
            event = translate(headers)
            if event is not None:
                out.append(event)
    return out


def build(tmp_path: Path, ami: FakeAmi, faults: frozenset[str] = frozenset()) -> app_mod.App:
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    return app_mod.build(config, ami=ami, clock=lambda: 1000.0, faults=faults)


async def run_until_streamed(parts: app_mod.App, ami: FakeAmi) -> None:
    task = asyncio.create_task(parts.run())
    await asyncio.wait_for(ami.done.wait(), 10)
    await asyncio.sleep(0.05)
    await parts.bus.drain()
    tickets = parts.feature(TicketsFeature)
    if tickets is not None:  # the call log writes in a task of its own
        await asyncio.wait_for(tickets.log.drained(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_subscriber_that_raises_on_every_event_stops_nothing(tmp_path: Path) -> None:
    ami = FakeAmi(calls_from_traces(10))
    parts = build(tmp_path, ami, faults=frozenset({"subscriber"}))
    ended: list[ev.CallEnded] = []

    async def collect(event: ev.CallEnded) -> None:
        ended.append(event)

    parts.bus.subscribe_queued("test: call ended", collect, ev.CallEnded)
    await run_until_streamed(parts, ami)
    # Every call was followed to its end, by the trackers and by a later subscriber ...
    assert len(parts.calls.tracker.recent()) == 10 and parts.calls.tracker.active() == []
    assert len(ended) == 10 and {e.record.queue for e in ended} == {"support"}
    # ... and each failure was counted, per subscriber, without stopping the pump.
    stats = parts.bus.stats()
    assert stats["fault: inline"]["errors"] == parts.bus.published
    assert stats["fault: queued"]["errors"] > 0
    assert "FaultySubscriberError" in stats["fault: inline"]["last_error"]
    assert stats["ivr"]["errors"] == 0 and stats["test: call ended"]["errors"] == 0


async def test_inline_subscribers_see_events_in_order_and_domain_events_follow_their_cause() -> None:
    bus = Bus()
    seen: list[str] = []
    bus.subscribe("all", lambda e: seen.append(type(e).__name__))
    bus.subscribe("only starts", lambda e: seen.append("start!"), ev.CallStarted)
    for e in (ev.CallStarted("1", "555", "", "800", "inbound", 0.0), ev.QueueChanged("q", 1, 0.0)):
        await bus.publish(e)
    assert seen == ["CallStarted", "start!", "QueueChanged"]


async def test_a_full_queue_drops_for_a_browser_and_waits_for_the_store() -> None:
    bus = Bus()
    stored: list[Any] = []

    async def store(event: Any) -> None:
        stored.append(event)

    async def browser(event: Any) -> None:
        await asyncio.sleep(10)

    bus.subscribe_queued("store", store, maxsize=2, on_full="wait")
    bus.subscribe_queued("browser", browser, maxsize=2, on_full="drop")
    runner = asyncio.create_task(bus.run())
    for i in range(20):
        await bus.publish(ev.QueueChanged("q", i, 0.0))
    await asyncio.wait_for(bus._subscribers[0].queue.join(), 5)  # type: ignore[union-attr]
    assert [e.waiting for e in stored] == list(range(20))  # nothing lost, in order
    assert bus.stats()["browser"]["dropped"] >= 17
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_resync_after_fully_booted_rebuilds_agents_and_queues(tmp_path: Path) -> None:
    replies = {
        "CoreShowChannels": [
            {"Event": "CoreShowChannel", "Channel": "PJSIP/carrier-00000001", "Uniqueid": "5.1", "Linkedid": "5.1",
             "CallerIDNum": "5551234", "ChannelStateDesc": "Up", "Context": "cc-entry", "Exten": "s",
             "Application": "Queue", "ApplicationData": "support,t,,,", "Duration": "00:00:40", "BridgeId": "b1"},
            {"Event": "CoreShowChannel", "Channel": "PJSIP/agent1-00000002", "Uniqueid": "5.2", "Linkedid": "5.1",
             "CallerIDNum": "1001", "ChannelStateDesc": "Up", "Context": "agents", "Exten": "s",
             "Application": "AppQueue", "ApplicationData": "(Outgoing Line)", "Duration": "00:00:20",
             "BridgeId": "b1"}],
        "Status": [{"Event": "Status", "Uniqueid": "5.1", "Variable": "CC_DID=8005550100"},
                   {"Event": "Status", "Uniqueid": "5.2", "Variable": "CC_DID=(null)"}],
        "QueueStatus": [
            {"Event": "QueueMember", "Queue": "support", "Name": "agent1", "Location": "PJSIP/agent1",
             "Status": "2", "Paused": "0", "InCall": "1"},
            {"Event": "QueueMember", "Queue": "support", "Name": "agent2", "Location": "PJSIP/agent2",
             "Status": "1", "Paused": "1", "PausedReason": "lunch", "InCall": "0"},
            {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "6.1", "CallerIDNum": "5559999", "Wait": "7"}],
        "DeviceStateList": [{"Event": "DeviceStateChange", "Device": "PJSIP/agent1", "State": "INUSE"},
                            {"Event": "DeviceStateChange", "Device": "PJSIP/agent2", "State": "NOT_INUSE"}],
        "PJSIPShowContacts": [
            {"Event": "ContactList", "ObjectName": "agent1;@abc", "Endpoint": "agent1", "Uri": "sip:a1@127.0.0.1:4001",
             "Status": "Reachable"},
            {"Event": "ContactList", "ObjectName": "agent2;@def", "Endpoint": "agent2", "Uri": "sip:a2@127.0.0.1:4002",
             "Status": "NonQualified"}],
    }
    ami = FakeAmi([AmiConnected(0.0, "11.0.0"), AsteriskBooted()], replies)
    parts = build(tmp_path, ami)
    states: list[ev.AgentStateChanged] = []
    parts.bus.subscribe("test", states.append, ev.AgentStateChanged)
    task = asyncio.create_task(parts.run())
    for _ in range(100):
        if parts.asterisk.liveness.status.state == "done":
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert parts.asterisk.liveness.status.state == "done"
    [call] = parts.calls.tracker.active()
    assert (call.state, call.agent, call.did) == ("connected", "agent1", "8005550100")
    assert parts.routing.presence.agents["agent1"].state(1000.0) == "on_call"
    assert parts.routing.presence.agents["agent2"].state(1000.0) == "paused"
    assert parts.routing.presence.agents["agent2"].pause_reason == "lunch"
    assert [c["caller_id"] for c in parts.routing.service.queue("support")["callers"]] == ["5559999"]
    assert {s.agent: s.state for s in states} == {"agent1": "on_call", "agent2": "paused"}
    # Channels first, then the queues put back (both agents are members already: no QueueAdd).
    names = [a.name for a in ami.sent if a.name != "DBPut"]  # (the heartbeat)
    assert names[:2] == ["CoreShowChannels", "Status"] and "QueueAdd" not in names


async def test_a_failed_resync_step_is_retried_until_it_succeeds(tmp_path: Path, monkeypatch) -> None:
    """Asterisk answers QueueStatus before app_queue is loaded: the step is retried, not given up."""
    from callcenter.asterisk import liveness
    from callcenter.ami.client import AmiActionFailed
    monkeypatch.setattr(liveness, "RETRY_BACKOFF", (0.01,))
    ami = FakeAmi([AmiConnected(0.0, "11.0.0"), AsteriskBooted()])
    failures = {"left": 3}
    real_send = ami.send

    async def send(action: Any, timeout: float | None = None) -> Any:
        if action.name == "QueueStatus" and failures["left"]:
            failures["left"] -= 1
            raise AmiActionFailed("QueueStatus", "Invalid/unknown command: QueueStatus")
        return await real_send(action, timeout)

    ami.send = send  # type: ignore[method-assign]
    parts = build(tmp_path, ami)
    task = asyncio.create_task(parts.run())
    for _ in range(200):
        if parts.asterisk.liveness.status.state == "done":
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert parts.asterisk.liveness.status.state == "done" and parts.asterisk.liveness.status.attempts == 3
    assert "Invalid/unknown command" in parts.asterisk.liveness.status.last_error
    assert [a.name for a in ami.sent].count("QueueAdd") == 2  # the members were put back after all


async def test_the_built_store_writer_puts_every_replayed_call_on_a_ticket_once(tmp_path: Path) -> None:
    from callcenter.tickets.core import TicketCore
    from callcenter.tickets import db

    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    try:
        ami = FakeAmi(calls_from_traces(6))
        config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
        parts = app_mod.build(config, ami=ami, clock=lambda: 1000.0, tickets=store)
        await run_until_streamed(parts, ami)
        calls = await store.calls.recent(50)
        # The traces' caller ID is "sipp" (no number: withheld): the three answered calls count, the
        # three that gave up in the queue open nothing (tickets/call_batch.py).
        assert len(calls) == 3 and {c["step"] for c in calls} == {"ended"}
        assert len({c["call_id"] for c in calls}) == 3
        assert all(c["agent"] and c["queue"] == "support" and c["talk_seconds"] is not None for c in calls)
        assert parts.bus.stats()["store"]["errors"] == 0 and parts.feature(TicketsFeature).log.failed == 0
    finally:
        await store.close()


class LateAmi(FakeAmi):
    """An Asterisk too loaded to answer the first two watchdog pushes in time."""

    def __init__(self) -> None:
        super().__init__([])
        self.late = 2

    async def send(self, action: Any, timeout: float | None = None) -> Any:
        if action.name == "Setvar" and self.late:
            self.late -= 1
            self.sent.append(action)
            raise AmiTimeout(action.name, 3.0)
        return await super().send(action, timeout)


async def test_a_late_answer_does_not_stop_a_callers_watchdog_push(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load Asterisk may answer an action after the limit: the push goes on, else the watchdog
    (docs/design.md#2) throws a caller who waits in our hands to the dialplan's fallback."""
    ami = LateAmi()
    parts = build(tmp_path, ami)
    monkeypatch.setattr(ivr_sessions, "KEEPALIVE_INTERVAL", 0.01)
    caller = SimpleNamespace(channel="PJSIP/carrier-00000001", ended=False, released=False)
    pushing = asyncio.create_task(parts.ivr.sessions._keepalive(caller))  # type: ignore[arg-type]
    for _ in range(200):
        if sum(a.name == "Setvar" for a in ami.sent) >= 4:
            break
        await asyncio.sleep(0.01)
    caller.ended = True
    await asyncio.wait_for(pushing, 1)
    assert sum(a.name == "Setvar" for a in ami.sent) >= 4 and ami.late == 0
