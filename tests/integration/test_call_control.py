"""Live call control against the real Asterisk with real phones (docs/call-control.md): hold heard
as music, blind and attended transfers with audio both ways afterwards and the record's legs,
three-way calls, supervisors' listen / whisper / barge, and the refusals that leave a call as it was."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from tests.support.system import TEAM_DIDS, AmiWatch, System, find_call, wait_until

XFER = TEAM_DIDS["xfer"]
CALLER_HZ, AGENT6_HZ, AGENT7_HZ, SUE_HZ = 500.0, 800.0, 1250.0, 1700.0


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
    """agent6 (member of xfer), agent7 and supervisor sue, registered."""
    made = {name: phones.agent(name) for name in ("agent6", "agent7", "sue")}
    await wait_registered(system, "agent6", "agent7")
    await asyncio.sleep(1)  # sue's REGISTER too (not an agent: no presence to poll)
    return made


async def connected_call(system: System, ami_watch: AmiWatch, phones, team, caller_id: str) -> tuple[Any, Any, str]:
    """A caller on the xfer line answered by agent6: (caller's call, agent6's call, call id)."""
    caller = phones.caller(caller_id)
    call = await asyncio.to_thread(caller.call, XFER)
    incoming = await asyncio.to_thread(team["agent6"].wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    connect = await ami_watch.wait_for(Event="AgentConnect", Queue="xfer", MemberName="agent6", CallerIDNum=caller_id)
    call_id = connect["Linkedid"]
    await asyncio.to_thread(wait_until, lambda: any(p["party"] == "agent6" for p in parties(system, call_id)["parties"]),
                            5, "agent6's leg")
    await talk(call, incoming, CALLER_HZ, AGENT6_HZ)
    return call, incoming, call_id


async def talk(a: Any, b: Any, a_hz: float, b_hz: float) -> None:
    """Both directions carry audio: each side sends its tone and hears the other's."""
    await asyncio.gather(asyncio.to_thread(a.play_tone, 2.0, a_hz, 0.3, False),
                         asyncio.to_thread(b.play_tone, 2.0, b_hz, 0.3, False))
    await asyncio.gather(hears(b, a_hz), hears(a, b_hz))


async def test_hold_is_music_and_blind_transfer_hands_the_caller_over(system: System, ami_watch: AmiWatch, phones,
                                                                       team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000001")
    assert post(system, call_id, "hold")[0] == 200
    await asyncio.to_thread(call.wait_for_audio, 200, 5)  # music on hold, not silence
    await asyncio.to_thread(agent6.play_tone, 1.5, AGENT6_HZ, 0.3, False)
    await does_not_hear(call, AGENT6_HZ)
    status, body = post(system, call_id, "hold")
    assert status == 409 and body["error_id"] == "on-hold"
    assert post(system, call_id, "resume")[0] == 200
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)

    status, body = post(system, call_id, "transfer", {"to": "agent7", "note": "wants a refund, order 42"})
    assert status == 200, body
    incoming = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(agent6.wait_until_ended, 10)
    await asyncio.to_thread(incoming.answer)
    await talk(call, incoming, CALLER_HZ, AGENT7_HZ)
    await asyncio.to_thread(incoming.hangup)
    await asyncio.to_thread(call.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000001"), 10, "the call record")
    legs = [(x["agent"], x["via"], x["by"]) for x in record["legs"]]
    assert legs == [("agent6", "queue", ""), ("agent7", "transfer", "agent6")], record["legs"]
    assert record["legs"][0]["hold_seconds"] >= 1.0 and record["legs"][1]["talk_seconds"] > 0
    assert [(t["kind"], t["by"], t["to"]) for t in record["transfers"]] == [("blind", "agent6", "agent7")]
    assert record["handoff"]["note"] == "wants a refund, order 42"


async def test_attended_transfer_consults_then_completes(system: System, ami_watch: AmiWatch, phones, team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000002")
    status, body = post(system, call_id, "transfer", {"to": "agent7", "attended": True})
    assert status == 200 and body["consulting"] == "agent7", body
    consult = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(consult.answer)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)  # agent6 and agent7 talk ...
    await asyncio.to_thread(call.wait_for_audio, 200, 5)  # ... while the caller hears music
    await does_not_hear(call, AGENT7_HZ, 0.5)
    assert post(system, call_id, "transfer", {"action": "complete"})[0] == 200
    await asyncio.to_thread(agent6.wait_until_ended, 10)
    await talk(call, consult, CALLER_HZ, AGENT7_HZ)
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(consult.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000002"), 10, "the call record")
    assert [(x["agent"], x["via"]) for x in record["legs"]] == [("agent6", "queue"), ("agent7", "transfer")]
    assert record["legs"][0]["hold_seconds"] > 0
    assert [(t["kind"], t["by"], t["to"]) for t in record["transfers"]] == [("attended", "agent6", "agent7")]


async def test_consultation_cancelled_then_three_way_then_drop(system: System, ami_watch: AmiWatch, phones,
                                                                team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000003")
    assert post(system, call_id, "transfer", {"to": "1007", "attended": True})[0] == 200  # by extension
    consult = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(consult.answer)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)
    assert post(system, call_id, "transfer", {"action": "cancel"})[0] == 200
    await asyncio.to_thread(consult.wait_until_ended, 10)
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)  # back with the caller

    assert post(system, call_id, "transfer", {"to": "agent7", "attended": True})[0] == 200
    consult = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(consult.answer)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)
    status, answer = post(system, call_id, "transfer", {"action": "conference"})
    assert status == 200, answer
    # All three hear each other.
    await asyncio.to_thread(call.play_tone, 2.0, CALLER_HZ, 0.3, False)
    await asyncio.gather(hears(agent6, CALLER_HZ), hears(consult, CALLER_HZ))
    await asyncio.to_thread(consult.play_tone, 2.0, AGENT7_HZ, 0.3, False)
    await asyncio.gather(hears(agent6, AGENT7_HZ), hears(call, AGENT7_HZ))
    # agent6 drops out; the caller and agent7 go on.
    status, body = post(system, call_id, "conference", {"drop": "agent6"})
    assert status == 200 and body["dropped"] == "agent6", body
    await asyncio.to_thread(agent6.wait_until_ended, 10)
    await talk(call, consult, CALLER_HZ, AGENT7_HZ)
    await asyncio.to_thread(call.hangup)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000003"), 10, "the call record")
    assert [t["kind"] for t in record["transfers"]] == ["threeway"], record["transfers"]


async def test_supervisor_listens_whispers_and_barges(system: System, ami_watch: AmiWatch, phones, team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000004")
    status, body = {}, {}

    async def monitor() -> None:
        nonlocal status, body
        status, body = await asyncio.to_thread(post, system, call_id, "monitor", {"phone": "sue", "mode": "listen"},
                                               20)
    request = asyncio.create_task(monitor())
    ring = await asyncio.to_thread(team["sue"].wait_for_incoming, 10)
    await asyncio.to_thread(ring.answer)
    await request
    assert status == 200 and body["agent"] == "agent6", body
    # listen: sue hears the caller and the agent; nobody hears sue.
    await asyncio.to_thread(call.play_tone, 2.0, CALLER_HZ, 0.3, False)
    await hears(ring, CALLER_HZ)
    await asyncio.to_thread(ring.play_tone, 2.0, SUE_HZ, 0.3, False)
    await asyncio.gather(does_not_hear(call, SUE_HZ), does_not_hear(agent6, SUE_HZ))
    # whisper: only the agent hears sue.
    monitor_id = body["monitor"]
    assert post(system, call_id, f"monitor/{monitor_id}", {"mode": "whisper"})[0] == 200
    await asyncio.sleep(0.5)
    await asyncio.to_thread(ring.play_tone, 2.5, SUE_HZ, 0.3, False)
    await hears(agent6, SUE_HZ)
    await does_not_hear(call, SUE_HZ, 0.5)
    # barge: everyone hears sue.
    assert post(system, call_id, f"monitor/{monitor_id}", {"mode": "barge"})[0] == 200
    await asyncio.sleep(0.5)
    await asyncio.to_thread(ring.play_tone, 2.5, SUE_HZ, 0.3, False)
    await asyncio.gather(hears(agent6, SUE_HZ), hears(call, SUE_HZ))
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(ring.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000004"), 10, "the call record")
    assert [(m["supervisor"], m["modes"]) for m in record["monitors"]] == [("sue", ["listen", "whisper", "barge"])]


async def test_bad_targets_leave_the_call_as_it_was(system: System, ami_watch: AmiWatch, phones, team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000005")
    for body, error in [({"to": "agent9"}, "unknown-agent"), ({"to": "queue:nope"}, "unknown-queue"),
                        ({"to": "+12"}, "bad-number"), ({"to": "agent3"}, "agent-unavailable"),
                        ({"action": "complete"}, "no-consultation"), ({"to": ""}, "bad-target")]:
        status, answer = post(system, call_id, "transfer", body)
        assert status >= 400 and answer["error_id"] == error, (body, answer)
    assert post(system, "123.456", "hold")[1]["error_id"] == "unknown-call"
    status, answer = post(system, call_id, "monitor", {"phone": "agent2", "mode": "listen"})
    assert answer["error_id"] == "phone-unavailable", answer
    assert post(system, call_id, "monitor", {"phone": "sue", "mode": "shout"})[1]["error_id"] == "bad-mode"
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)  # untouched
    await asyncio.to_thread(call.hangup)


async def test_a_restart_during_a_consultation_keeps_the_call_and_its_picture(system: System, ami_watch: AmiWatch,
                                                                              phones, team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000006")
    assert post(system, call_id, "transfer", {"to": "agent7", "attended": True})[0] == 200
    consult = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(consult.answer)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)
    system.stop_controller(signal.SIGKILL)  # Asterisk holds the call
    await asyncio.to_thread(system.start_controller)
    await asyncio.to_thread(wait_until, lambda: system.api("/api/status")[1]["resync"]["state"] == "done", 20,
                            "the resync")
    picture = parties(system, call_id)
    talking = {p["party"]: p["conversation"] for p in picture["parties"]}
    assert talking["agent6"] and talking["agent6"] == talking["agent7"], picture  # the two agents talk ...
    assert talking.get("5558000006") != talking["agent6"], picture  # ... the caller is elsewhere (music)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)
    status, body = post(system, call_id, "transfer", {"action": "complete"})  # the consultation, seen in Asterisk
    assert status == 200 and body["target"] == "agent7", body
    await asyncio.to_thread(agent6.wait_until_ended, 10)
    await talk(call, consult, CALLER_HZ, AGENT7_HZ)
    await asyncio.to_thread(call.hangup)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000006"), 10, "the call record")
    assert {x["agent"] for x in record["legs"]} == {"agent6", "agent7"}, record["legs"]


async def test_a_held_caller_is_transferred_and_hung_up_agents_leave_nobody_in_music(system: System,
                                                                                     ami_watch: AmiWatch, phones,
                                                                                     team) -> None:
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000007")
    assert post(system, call_id, "hold")[0] == 200
    assert post(system, call_id, "transfer", {"to": "agent7"})[0] == 200
    target = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(agent6.wait_until_ended, 10)
    await asyncio.to_thread(target.answer)
    await talk(call, target, CALLER_HZ, AGENT7_HZ)
    assert post(system, call_id, "hold", {"agent": "agent7"})[0] == 200
    assert post(system, call_id, "hangup", {"agent": "agent7"})[0] == 200  # while the caller hears music
    await asyncio.to_thread(call.wait_until_ended, 10)  # ... the caller is not left there
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5558000007"), 10, "the call record")
    assert [(x["agent"], x["via"], x["by"]) for x in record["legs"]] == [("agent6", "queue", ""),
                                                                        ("agent7", "transfer", "agent6")]


async def test_a_monitored_call_beeps_where_the_law_wants_it(system: System, ami_watch: AmiWatch, phones,
                                                              team) -> None:
    original = system.config_path.read_text()
    system.config_path.write_text(original.replace("routing: {", "routing: {monitor_beep_seconds: 2, "))
    try:
        system.cli("config", "reload")
        call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000008")
        # A quiet line first (connected_call's tones are over; the agent says nothing).
        await asyncio.to_thread(wait_until, lambda: call.audio_level(1.0) < 100, 8, "a quiet line")
        request = asyncio.create_task(asyncio.to_thread(post, system, call_id, "monitor",
                                                        {"phone": "sue", "mode": "listen"}, 20))
        ring = await asyncio.to_thread(team["sue"].wait_for_incoming, 10)
        await asyncio.to_thread(ring.answer)
        status, body = await request
        assert status == 200 and body["beep_seconds"] == 2, body
        await asyncio.to_thread(call.wait_for_audio, 300, 5)  # the caller hears the beep ...
        await asyncio.to_thread(agent6.wait_for_audio, 300, 5)  # ... and so does the agent
        await asyncio.to_thread(ring.hangup)
        await asyncio.sleep(3)  # the session is over: no more beeps
        assert call.audio_level(2.0) < 100
        await asyncio.to_thread(call.hangup)
    finally:
        system.config_path.write_text(original)
        system.cli("config", "reload")


async def test_faults_around_hold_mute_and_consultation(system: System, ami_watch: AmiWatch, phones, team) -> None:
    """What a hostile trial found: mute, a hold the agent's phone leaves, an attended transfer from
    hold, a consultation whose target hung up, a restart during a hold."""
    call, agent6, call_id = await connected_call(system, ami_watch, phones, team, "5558000009")
    status, body = post(system, call_id, "mute", {"muted": True})
    assert status == 200 and any(p["muted"] for p in body["parties"]), body
    await asyncio.to_thread(agent6.play_tone, 1.5, AGENT6_HZ, 0.3, False)
    await does_not_hear(call, AGENT6_HZ)
    assert post(system, call_id, "mute", {"muted": False})[0] == 200
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)

    assert post(system, call_id, "hold")[0] == 200
    status, body = post(system, call_id, "transfer", {"to": "agent7", "attended": True})
    assert status == 409 and body["error_id"] == "on-hold", body
    system.stop_controller(signal.SIGKILL)  # a restart during the hold: Asterisk keeps both legs
    await asyncio.to_thread(system.start_controller)
    await asyncio.to_thread(wait_until, lambda: parties(system, call_id)["held"], 20, "the hold seen again")
    assert post(system, call_id, "resume")[0] == 200
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)

    assert post(system, call_id, "transfer", {"to": "agent7", "attended": True})[0] == 200
    consult = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(consult.answer)
    await talk(agent6, consult, AGENT6_HZ, AGENT7_HZ)
    await asyncio.to_thread(consult.hangup)  # the target leaves: agent6 is back with the caller
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)
    status, body = post(system, call_id, "transfer", {"action": "complete"})
    assert status == 409 and body["error_id"] == "no-consultation", body
    await talk(call, agent6, CALLER_HZ, AGENT6_HZ)  # untouched

    assert post(system, call_id, "hold")[0] == 200
    await asyncio.to_thread(agent6.hangup)  # the agent's phone hangs up while the caller holds
    again = await asyncio.to_thread(team["agent6"].wait_for_incoming, 15)  # back in the queue: offered again
    await asyncio.to_thread(again.answer)
    await talk(call, again, CALLER_HZ, AGENT6_HZ)
    await asyncio.to_thread(call.hangup)
