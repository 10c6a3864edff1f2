"""A real call through the real Asterisk: the caller hears the greeting, waits in the queue,
a registered agent answers, both hear each other; the call record tells the story."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.sipphone import CallFailed
from tests.support.system import PLAIN, AmiWatch, System, find_call, wait_until


async def test_trunk_caller_hears_greeting_and_is_recorded(system: System, ami_watch: AmiWatch, phones) -> None:
    caller = phones.caller("5551230001")
    call = await asyncio.to_thread(caller.call, PLAIN)
    level = await asyncio.to_thread(call.wait_for_audio, 200, 10)
    assert level > 200  # the greeting is not silence
    start = await ami_watch.wait_for(Event="AsyncAGIStart", CallerIDNum="5551230001")
    linkedid = start["Linkedid"]
    await ami_watch.wait_for(Event="QueueCallerJoin", Queue="support", Linkedid=linkedid)
    await asyncio.to_thread(call.hangup)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5551230001"), 10, "the call record")
    assert record["call_id"] == linkedid
    assert record["did"] == PLAIN and record["direction"] == "inbound"
    assert record["started_at"] <= record["answered_at"] <= record["queued_at"] <= record["ended_at"]
    assert record["queue"] == "support" and record["agent"] is None
    assert record["hangup_cause"] == 16 and record["hangup_cause_text"] == "Normal Clearing"
    assert record["hung_up_by"] == "caller" and record["abandoned"] is True
    assert record["path"][:2] == ["greeting:hello-world", "queue:support"]
    assert record["state"] == "ended" and record["channels"] == []


async def test_registered_agent_answers_the_queued_call(system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent1")
    await asyncio.to_thread(wait_until, lambda: system.api("/api/agents/agent1")[1]["registered"], 10,
                            "agent1 registered")
    caller = phones.caller("5551230002")
    call = await asyncio.to_thread(caller.call, PLAIN)
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    connect = await ami_watch.wait_for(Event="AgentConnect", Queue="support", MemberName="agent1",
                                       CallerIDNum="5551230002")
    # Both directions carry audio: each side sends a tone and hears the other's.
    await asyncio.gather(asyncio.to_thread(call.play_tone, 2.0), asyncio.to_thread(incoming.play_tone, 2.0))
    assert await asyncio.to_thread(incoming.wait_for_audio, 200, 5) > 200
    assert await asyncio.to_thread(call.wait_for_audio, 200, 5) > 200
    await asyncio.to_thread(incoming.hangup)
    await asyncio.to_thread(call.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5551230002"), 10, "the call record")
    assert record["call_id"] == connect["Linkedid"]
    assert record["agent"] == "agent1" and record["queue"] == "support"
    assert record["queued_at"] <= record["agent_answered_at"] <= record["ended_at"]
    assert record["hung_up_by"] == "agent" and record["abandoned"] is False
    assert "agent:agent1" in record["path"]
    # The CLI shows the same record.
    calls = json.loads(system.cli("calls", "--json").stdout)
    assert any(c["call_id"] == record["call_id"] and c["agent"] == "agent1" for c in calls["recent"])


def test_unknown_did_is_refused(system: System, phones) -> None:
    caller = phones.caller("5551230003")
    with pytest.raises(CallFailed) as info:
        caller.call("8005559999", timeout=10)
    assert info.value.status == 404  # Hangup(1): unallocated number
