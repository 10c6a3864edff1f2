"""Live call control against the real Asterisk with real phones (docs/call-control.md): hold heard
as music, blind and attended transfers with audio both ways afterwards and the record's legs,
three-way calls, supervisors' listen / whisper / barge, and the refusals that leave a call as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.system import TEAM_DIDS, AmiWatch, System, find_call, wait_until

XFER = TEAM_DIDS["xfer"]
CALLER_HZ, AGENT4_HZ, AGENT5_HZ, SUE_HZ = 500.0, 800.0, 1250.0, 1700.0


async def wait_registered(system: System, *names: str) -> None:
    for name in names:
        await asyncio.to_thread(wait_until, lambda: system.api(f"/api/agents/{name}")[1]["registered"], 10,
                                f"{name} registered")


async def hears(call: Any, freq: float, timeout: float = 6) -> None:
    await asyncio.to_thread(call.wait_for_tone, freq, timeout, 0.4)


async def does_not_hear(call: Any, freq: float, seconds: float = 1.5) -> None:
    await asyncio.sleep(seconds)
    assert call.tone_level(freq, 1.0) < 0.2, f"{call!r} hears {freq} Hz"


def post(system: System, call_id: str, what: str, body: dict[str, Any] | None = None,
         timeout: float = 10) -> tuple[int, Any]:
    return system.api(f"/api/calls/{call_id}/{what}", method="POST", body=body or {}, timeout=timeout)


def parties(system: System, call_id: str) -> dict[str, Any]:
    status, body = system.api(f"/api/calls/{call_id}/parties")
    return body if status == 200 else {"parties": []}


@pytest.fixture
async def team(system: System, phones) -> dict[str, Any]:
    """agent4 (member of xfer), agent5 and supervisor sue, registered."""
    made = {name: phones.agent(name) for name in ("agent4", "agent5", "sue")}
    await wait_registered(system, "agent4", "agent5")
    await asyncio.sleep(1)  # sue's REGISTER too (not an agent: no presence to poll)
    return made


async def connected_call(system: System, ami_watch: AmiWatch, phones, team, caller_id: str) -> tuple[Any, Any, str]:
    """A caller on the xfer line answered by agent4: (caller's call, agent4's call, call id)."""
    caller = phones.caller(caller_id)
    call = await asyncio.to_thread(caller.call, XFER)
    incoming = await asyncio.to_thread(team["agent4"].wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    connect = await ami_watch.wait_for(Event="AgentConnect", Queue="xfer", MemberName="agent4", CallerIDNum=caller_id)
    call_id = connect["Linkedid"]
    await asyncio.to_thread(wait_until, lambda: any(p["party"] == "agent4" for p in parties(system, call_id)["parties"]),
                            5, "agent4's leg")
    await talk(call, incoming, CALLER_HZ, AGENT4_HZ)
    return call, incoming, call_id


async def talk(a: Any, b: Any, a_hz: float, b_hz: float) -> None:
    """Both directions carry audio: each side sends its tone and hears the other's."""
    await asyncio.gather(asyncio.to_thread(a.play_tone, 2.0, a_hz, 0.3, False),
                         asyncio.to_thread(b.play_tone, 2.0, b_hz, 0.3, False))
    await asyncio.gather(hears(b, a_hz), hears(a, b_hz))


async def test_hold_is_music_and_blind_transfer_hands_the_caller_over(system: System, ami_watch: AmiWatch, phones,
                                                                       team) -> None:
    call, agent4, call_id = await connected_call(system, ami_watch, phones, team, "5558000001")
    assert post(system, call_id, "hold")[0] == 200
    await asyncio.to_thread(call.wait_for_audio, 200, 5)  # music on hold, not silence
    await asyncio.to_thread(agent4.play_tone, 1.5, AGENT4_HZ, 0.3, False)
    await does_not_hear(call, AGENT4_HZ)
    status, body = post(system, call_id, "hold")
    assert status == 409 and body["error_id"] == "on-hold"
    assert post(system, call_id, "resume")[0] == 200
    await talk(call, agent4, CALLER_HZ, AGENT4_HZ)

    status, body = post(system, call_id, "transfer", {"to": "agent5", "note": "wants a refund, order 42"})
    assert status == 200, body
    incoming = await asyncio.to_thread(team["agent5"].wait_for_incoming, 10)
    await asyncio.to_thread(agent4.wait_until_ended, 10)
    await asyncio.to_thread(incoming.answer)
    await talk(call, incoming, CALLER_HZ, AGENT5_HZ)
    await asyncio.to_thread(incoming.hangup)
    await asyncio.to_thread(call.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000001"), 10, "the call record")
    legs = [(x["agent"], x["via"], x["by"]) for x in record["legs"]]
    assert legs == [("agent4", "queue", ""), ("agent5", "transfer", "agent4")], record["legs"]
    assert record["legs"][0]["hold_seconds"] >= 1.0 and record["legs"][1]["talk_seconds"] > 0
    assert [(t["kind"], t["by"], t["to"]) for t in record["transfers"]] == [("blind", "agent4", "agent5")]
    assert record["handoff"]["note"] == "wants a refund, order 42"
