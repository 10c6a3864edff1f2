"""The event pump and the true picture, against the real Asterisk with real SIP phones.

- a subscriber that raises on every event drops no call (the errors are counted);
- a broken or badly timed edit of callcenter.yaml stops nothing;
- agent presence comes from the device: direct calls, vanished phones, re-registrations;
- untrusted text (pause reasons with CR/LF, too long) never reaches AMI or the kept routing state;
- after a controller SIGKILL the next start rebuilds connected and queued calls, agents, queues;
- after Asterisk is SIGKILLed again and again, memberships, pauses, agent states and waiting
  lists are right after each restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from callcenter.ami import actions
from callcenter.tickets.core import TicketCore
from tests.support.system import PLAIN, AmiWatch, System, find_call, wait_until


def api(system: System, path: str) -> Any:
    status, data = system.api(path)
    assert status == 200, (path, status, data)
    return data


def agent_state(system: System, name: str) -> str:
    return api(system, f"/api/agents/{name}")["state"]


async def wait_state(system: System, name: str, state: str, timeout: float = 15) -> None:
    await asyncio.to_thread(wait_until, lambda: agent_state(system, name) == state, timeout,
                            f"{name} to be {state} (is {agent_state(system, name)})")


def resyncs(system: System) -> int:
    return int(api(system, "/api/status")["resync"]["resyncs"])


async def wait_resync_after(system: System, count: int, timeout: float = 40) -> None:
    def done() -> bool:
        status, data = system.api("/api/status")
        return status == 200 and data["resync"]["resyncs"] > count and data["resync"]["state"] == "done"
    await asyncio.to_thread(wait_until, done, timeout, "a completed resync")


async def test_a_subscriber_failing_on_every_event_drops_no_call(system: System, ami_watch: AmiWatch,
                                                                 phones) -> None:
    # Restart the controller alone with a fault injected (Asterisk keeps running; the new one adopts it).
    system.stop_controller(signal.SIGKILL)
    await asyncio.to_thread(system.start_controller, {"CALLCENTER_FAULTS": "subscriber"})
    try:
        callers = [phones.caller(f"55580000{i:02d}") for i in range(10)]
        calls = []
        for caller in callers:
            calls.append(await asyncio.to_thread(caller.call, PLAIN))
        for i in range(10):
            await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=f"55580000{i:02d}", timeout=30)
        for call in calls:
            await asyncio.to_thread(call.hangup)
        for i in range(10):
            record = await asyncio.to_thread(wait_until, lambda i=i: find_call(system, f"55580000{i:02d}"), 15,
                                             "the call's record")
            assert record["queue"] == "support" and "greeting:hello-world" in record["path"]
            assert record["hung_up_by"] == "caller" and record["ended_at"] is not None
        status = api(system, "/api/status")
        fault = status["subscribers"]["fault: inline"]
        assert fault["errors"] > 100 and "FaultySubscriberError" in fault["last_error"]
        assert status["subscribers"]["ivr"]["errors"] == 0
        assert status["controller"]["subscriber_errors"] >= fault["errors"]
        shown = system.cli("status").stdout
        assert "fault: inline:" in shown and "errors" in shown
    finally:
        system.stop_controller(signal.SIGKILL)
        await asyncio.to_thread(system.start_controller)


async def test_a_config_saved_with_an_invalid_byte_or_while_asterisk_hangs_stops_nothing(
        system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent1")
    system.cli("queue", "unpause", "agent1")
    caller = phones.caller("5558100001")
    call = await asyncio.to_thread(caller.call, PLAIN)
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1", CallerIDNum="5558100001")
    original = system.config_path.read_bytes()
    try:
        system.config_path.write_bytes(original.replace(b"Ada Agent", b"Ada \xff Agent"))
        await asyncio.to_thread(wait_until, lambda: api(system, "/api/status")["config"]["error_id"] == "bad-encoding",
                                10, "the refused edit in status")
        assert system.proc is not None and system.proc.poll() is None  # the controller runs on
        assert incoming.state != "ended" and call.state != "ended"  # the call is untouched

        # A valid edit saved while Asterisk does not answer: refused with the reason, applied later.
        pid = system.asterisk_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            system.config_path.write_bytes(original.replace(b"Ada Agent", b"Ada Q. Agent"))
            await asyncio.to_thread(
                wait_until, lambda: api(system, "/api/status")["config"]["error_id"] == "ami-unavailable", 20,
                "the edit refused while Asterisk hangs")
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.to_thread(wait_until, lambda: api(system, "/api/agents/agent1")["full_name"] == "Ada Q. Agent",
                                30, "the edit applied once Asterisk answers again")
        await asyncio.to_thread(wait_until, lambda: api(system, "/api/status")["config"]["error"] == "", 20,
                                "the retried reload to succeed")
        assert system.proc.poll() is None
    finally:
        system.config_path.write_bytes(original)
        await asyncio.to_thread(wait_until, lambda: api(system, "/api/agents/agent1")["full_name"] == "Ada Agent",
                                20, "the original config back")
        await asyncio.to_thread(call.hangup)


async def test_presence_comes_from_the_device(system: System, ami_watch: AmiWatch, phones) -> None:
    agent1, agent2 = phones.agent("agent1"), phones.agent("agent2")
    for name in ("agent1", "agent2"):
        system.cli("queue", "unpause", name)
        await wait_state(system, name, "ready")
    # A direct extension call: both busy, whatever the queues say; agent1 not available in support.
    dialing = asyncio.create_task(asyncio.to_thread(agent1.call, "1002"))  # returns once answered
    incoming = await asyncio.to_thread(agent2.wait_for_incoming, 10)
    await wait_state(system, "agent2", "ringing")
    await asyncio.to_thread(incoming.answer)
    call = await dialing
    await wait_state(system, "agent1", "on_call")
    await wait_state(system, "agent2", "on_call")
    support = api(system, "/api/queues/support")
    assert support["agents_available"] == 0
    await asyncio.to_thread(call.hangup)
    await wait_state(system, "agent1", "ready")
    await wait_state(system, "agent2", "ready")

    # A second registration of the same agent replaces the first contact: never logged out.
    seen: list[str] = []
    replacement = phones.agent("agent1")
    for _ in range(20):
        seen.append(agent_state(system, "agent1"))
        await asyncio.sleep(0.1)
    assert "logged_out" not in seen and agent_state(system, "agent1") == "ready"

    # A phone that vanishes without unregistering: unreachable, and not offered calls.
    replacement.freeze()
    try:
        await wait_state(system, "agent1", "unreachable", timeout=20)
        caller = phones.caller("5558200001")
        queued = await asyncio.to_thread(caller.call, PLAIN)
        await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5558200001", timeout=20)
        await asyncio.sleep(4)
        assert not ami_watch.seen(Event="AgentCalled", MemberName="agent1", CallerIDNum="5558200001")
        assert api(system, "/api/queues/support")["agents_available"] == 0
        replacement.thaw()
        await wait_state(system, "agent1", "ringing", timeout=20)  # back, and offered the waiting caller
        await asyncio.to_thread(queued.hangup)
    finally:
        replacement.thaw()
    await wait_state(system, "agent1", "ready")


async def routing_state(system: System) -> str:
    """The kept routing state (the store's document `routing`)."""
    store = TicketCore.build(system.config.store_url)
    try:
        return await store.routing_state.document("routing") or ""
    finally:
        await store.close()


async def test_untrusted_text_never_reaches_ami_or_the_routing_state(system: System, ami_watch: AmiWatch) -> None:
    before = await routing_state(system)
    assert '"members"' in before
    injected = "lunch\r\nAction: Originate\r\nChannel: Local/1002@agents\r\nApplication: Wait\r\nData: 1"
    mark = len(ami_watch.events)
    for reason in (injected, "x" * 1100, "tab\there", "nul\x00", 42):
        status, data = system.api("/api/agents/agent2/pause", method="POST", body={"reason": reason})
        assert status == 400 and data["error_id"] == "invalid-text", (reason, data)
    result = system.cli("queue", "pause", "agent2", "--reason", "lunch\nAction: Originate", check=False)
    assert result.returncode != 0 and "invalid-text" in result.stderr and len(result.stderr.splitlines()) == 1
    await asyncio.sleep(1.0)
    assert await routing_state(system) == before
    assert api(system, "/api/agents/agent2")["pause"] is None
    assert not [e for e in ami_watch.events[mark:] if e.get("Event") in ("OriginateResponse", "Newchannel")]
    members = (await ami_watch.client.send(actions.queue_status())).members
    assert not any(m.agent == "agent2" and m.paused for m in members)
    assert "lunch\r\n" not in await routing_state(system)


async def test_controller_killed_with_connected_and_queued_calls_rebuilds_the_picture(
        system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent1")
    system.cli("queue", "unpause", "agent1")
    await wait_state(system, "agent1", "ready")
    first = phones.caller("5558300001")
    connected = await asyncio.to_thread(first.call, PLAIN)
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1", CallerIDNum="5558300001")
    second = phones.caller("5558300002")
    queued = await asyncio.to_thread(second.call, PLAIN)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5558300002", timeout=20)
    asterisk = system.asterisk_pid()
    try:
        system.stop_controller(signal.SIGKILL)
        await asyncio.sleep(1.0)
        assert system.asterisk_pid() == asterisk and connected.state != "ended" and queued.state != "ended"
        started = time.monotonic()
        await asyncio.to_thread(system.start_controller)
        await wait_resync_after(system, 0)
        rebuilt_in = time.monotonic() - started
        calls = {c["caller_id"]: c for c in api(system, "/api/calls")["active"]}
        a, b = calls["5558300001"], calls["5558300002"]
        assert (a["state"], a["agent"], a["did"], a["queue"], a["direction"]) == (
            "connected", "agent1", PLAIN, "support", "inbound")
        assert (b["state"], b["agent"], b["did"], b["queue"]) == ("queued", None, PLAIN, "support")
        assert agent_state(system, "agent1") == "on_call"
        support = api(system, "/api/queues/support")
        assert [c["caller_id"] for c in support["callers"]] == ["5558300002"]
        assert support["callers"][0]["wait_seconds"] >= 1.0
        assert rebuilt_in < 30
    finally:
        await asyncio.to_thread(queued.hangup)
        await asyncio.to_thread(connected.hangup)
    await wait_state(system, "agent1", "ready")
    assert api(system, "/api/queues/support")["waiting"] == 0


async def test_asterisk_killed_five_times_the_picture_is_right_after_each(system: System, ami_watch: AmiWatch,
                                                                          phones) -> None:
    agents = {name: phones.agent(name) for name in ("agent1", "agent2")}
    system.cli("queue", "pause", "agent2", "--reason", "coaching")
    system.cli("queue", "add", "wrap", "agent1", "--penalty", "3")
    try:
        for round_ in range(5):
            # Something live to lose: agent1 talking to a caller, another caller waiting in sales.
            caller = phones.caller(f"555840000{round_}")
            talk = await asyncio.to_thread(caller.call, PLAIN)
            incoming = await asyncio.to_thread(agents["agent1"].wait_for_incoming, 20)
            await asyncio.to_thread(incoming.answer)
            waiter = phones.caller(f"555841000{round_}")
            waiting = await asyncio.to_thread(waiter.call, PLAIN)
            await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=f"555841000{round_}", timeout=20)
            await wait_state(system, "agent1", "on_call")
            count = resyncs(system)
            old = system.asterisk_pid()
            os.kill(old, signal.SIGKILL)
            await wait_resync_after(system, count)
            # Memberships and pauses with reasons, in Asterisk itself.
            members = (await _members(ami_watch))
            assert members[("support", "agent1")] == (0, False, "")
            assert members[("wrap", "agent1")] == (3, False, "")
            assert members[("sales", "agent2")] == (0, True, "coaching")
            # Agent states and waiting lists: the calls died with Asterisk.
            for name in ("agent1", "agent2"):
                registered = await _registered(ami_watch, name)
                expected = ("paused" if name == "agent2" else "ready") if registered else "logged_out"
                await wait_state(system, name, expected, timeout=10)
            for queue in api(system, "/api/queues"):
                assert queue["waiting"] == 0, queue
            for phone_call in (talk, waiting, incoming):
                if phone_call.state != "ended":
                    await asyncio.to_thread(phone_call.hangup)
    finally:
        system.cli("queue", "unpause", "agent2")
        system.cli("queue", "remove", "wrap", "agent1", check=False)


async def _members(ami_watch: AmiWatch) -> dict[tuple[str, str], tuple[int, bool, str]]:
    for _ in range(100):
        try:
            status = await ami_watch.client.send(actions.queue_status())
            return {(m.queue, m.agent): (m.penalty, m.paused, m.pause_reason) for m in status.members}
        except Exception:  # the watch connection may still be reconnecting
            await asyncio.sleep(0.2)
    raise AssertionError("no QueueStatus from Asterisk")


async def _registered(ami_watch: AmiWatch, name: str) -> bool:
    contacts = await ami_watch.client.send(actions.pjsip_show_contacts())
    return any(c.endpoint == name or c.aor == name for c in contacts)


async def test_config_edited_while_the_controller_was_down_applies_when_it_adopts_asterisk(
        system: System, ami_watch: AmiWatch, phones) -> None:
    original = system.config_path.read_text()
    system.stop_controller(signal.SIGKILL)
    system.config_path.write_text(original.replace(
        "agents:\n", 'agents:\n  agent5: {full_name: Eve Agent, extension: "1005", queues: [support]}\n'))
    try:
        banner = await asyncio.to_thread(system.start_controller)
        assert "adopted" in banner
        agent5 = phones.agent("agent5")  # the adopted Asterisk knows the new endpoint and its password
        assert agent5.registered
        assert (await _members(ami_watch))[("support", "agent5")] == (0, False, "")
        await wait_state(system, "agent5", "ready")
    finally:
        system.config_path.write_text(original)
        system.cli("config", "reload")
    assert ("support", "agent5") not in await _members(ami_watch)
