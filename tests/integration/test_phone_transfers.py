"""Transfers made on the agent's phone itself (issue 20), against the real Asterisk: the Transfer
key as a SIP REFER (RFC 3515) - blind, and attended with Replaces (RFC 3891) naming the phone's own
consultation call - and the `#` key sequence. Each time the caller and the new agent hear each other
afterwards, and the call's record has the new agent's leg and the transfer, by the agent who made it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.test_call_control import (AGENT6_HZ, AGENT7_HZ, CALLER_HZ, connected_call, talk,
                                                 wait_registered)
from tests.support.system import AmiWatch, System, find_call, wait_until


@pytest.fixture
async def team(system: System, phones) -> dict[str, Any]:
    """agent6 (member of xfer) and agent7 (extension 1007), registered."""
    made = {name: phones.agent(name) for name in ("agent6", "agent7")}
    await wait_registered(system, "agent6", "agent7")
    return made


async def record_of(system: System, caller_id: str) -> dict[str, Any]:
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, caller_id), 10, "the call record")
    assert record is not None
    return record


async def blind_transfer_is_done(system: System, caller: Any, agent6: Any, ring: Any, caller_id: str) -> None:
    """agent6 has transferred the caller blind to 1007: agent7 rings, answers and talks with the caller;
    the record has agent7's leg (by agent6) and the blind transfer."""
    await asyncio.to_thread(agent6.wait_until_ended, 10)  # Asterisk's BYE to the transferer
    await asyncio.to_thread(ring.answer)
    await talk(caller, ring, CALLER_HZ, AGENT7_HZ)
    await asyncio.to_thread(ring.hangup)
    await asyncio.to_thread(caller.wait_until_ended, 10)
    record = await record_of(system, caller_id)
    legs = [(x["agent"], x["via"], x["by"]) for x in record["legs"]]
    assert legs == [("agent6", "queue", ""), ("agent7", "transfer", "agent6")], record["legs"]
    assert record["legs"][1]["talk_seconds"] > 0
    assert [(t["kind"], t["by"], t["to"]) for t in record["transfers"]] == [("blind", "agent6", "agent7")], \
        record["transfers"]


async def test_refer_from_the_phone_is_a_blind_transfer(system: System, ami_watch: AmiWatch, phones, team) -> None:
    caller, agent6, _ = await connected_call(system, ami_watch, phones, team, "5558100001")
    await asyncio.to_thread(agent6.refer, "1007")  # 202 Accepted, else TransferFailed
    ring = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    assert (await asyncio.to_thread(agent6.wait_for_transfer_result, 10)).startswith("SIP/2.0 200")
    await blind_transfer_is_done(system, caller, agent6, ring, "5558100001")
    assert agent6.end_reason == "transferred"  # the phone's own BYE after the NOTIFY's 200


async def test_refer_with_replaces_completes_the_phones_consultation(system: System, ami_watch: AmiWatch, phones,
                                                                    team) -> None:
    caller, agent6, _ = await connected_call(system, ami_watch, phones, team, "5558100002")
    await asyncio.to_thread(agent6.hold)  # re-INVITE a=sendonly: the caller hears music
    await asyncio.to_thread(caller.wait_for_audio, 200, 5)
    # agent6's phone calls agent7 by extension: a second call of its own (another Linkedid).
    dialing = asyncio.create_task(asyncio.to_thread(team["agent6"].call, "1007", 15))
    ring = await asyncio.to_thread(team["agent7"].wait_for_incoming, 10)
    await asyncio.to_thread(ring.answer)
    consult = await dialing
    await talk(consult, ring, AGENT6_HZ, AGENT7_HZ)

    await asyncio.to_thread(agent6.refer_replacing, consult)
    await asyncio.gather(asyncio.to_thread(agent6.wait_until_ended, 10),
                         asyncio.to_thread(consult.wait_until_ended, 10))
    await talk(caller, ring, CALLER_HZ, AGENT7_HZ)  # the caller now talks with agent7
    await asyncio.to_thread(caller.hangup)
    await asyncio.to_thread(ring.wait_until_ended, 10)
    record = await record_of(system, "5558100002")
    assert [(t["kind"], t["by"], t["to"]) for t in record["transfers"]] == [("attended", "agent6", "agent7")], \
        record["transfers"]
    legs = [(x["agent"], x["via"], x["by"]) for x in record["legs"]]
    assert legs == [("agent6", "queue", ""), ("agent7", "transfer", "agent6")], record["legs"]
    assert record["legs"][0]["hold_seconds"] > 0  # the phone's hold, the caller's music
    assert agent6.end_reason == "transferred" and consult.end_reason == "remote-hangup"


async def test_hash_key_then_extension_is_a_blind_transfer(system: System, ami_watch: AmiWatch, phones,
                                                            team) -> None:
    caller, agent6, _ = await connected_call(system, ami_watch, phones, team, "5558100003")
    await asyncio.to_thread(agent6.send_dtmf, "#")
    await asyncio.sleep(0.5)  # Asterisk says "transfer" and collects the digits
    await asyncio.to_thread(agent6.send_dtmf, "1007")
    ring = await asyncio.to_thread(team["agent7"].wait_for_incoming, 15)  # after the digit timeout
    await blind_transfer_is_done(system, caller, agent6, ring, "5558100003")
