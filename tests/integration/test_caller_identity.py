"""Caller identity on real SIP calls: a DID dialed with + or 00, names with quotes and apostrophes,
no display name, and a withheld number asking for a callback."""

from __future__ import annotations

import asyncio

from tests.support.system import HOTLINE, PLAIN, TEAM_DIDS, AmiWatch, System, find_call, wait_until


async def test_a_did_dialed_with_plus_or_00_runs_its_flow(system: System, ami_watch: AmiWatch, phones) -> None:
    for dialed, number in ((f"+{PLAIN}", "5559100001"), (f"00{PLAIN}", "5559100002"), (f"+{HOTLINE}", "5559100003")):
        caller = phones.caller(number)
        call = await asyncio.to_thread(caller.call, dialed)
        await ami_watch.wait_for(Event="AsyncAGIStart", CallerIDNum=number, timeout=15)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(call.hangup)
        record = await asyncio.to_thread(wait_until, lambda n=number: find_call(system, n), 10, "the record")
        assert record["did"] == dialed.lstrip("+").removeprefix("00"), record
        if dialed.endswith(PLAIN):
            assert "greeting:hello-world" in record["path"]  # the controller's route, not the fallback
        else:
            assert record["flow"] == "hotline" and record["ivr_path"]


async def test_names_are_recorded_as_sent(system: System, ami_watch: AmiWatch, phones) -> None:
    for number, name in (("5559200001", "O'Brien"), ("5559200002", 'The "Big" Co'), ("5559200003", None)):
        caller = phones.caller(number, display_name=name)
        call = await asyncio.to_thread(caller.call, PLAIN)
        await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=number, timeout=15)
        await asyncio.to_thread(call.hangup)
        record = await asyncio.to_thread(wait_until, lambda n=number: find_call(system, n), 10, "the record")
        assert record["caller_name"] == (name or ""), record["caller_name"]
        assert record["hangup_cause"] == 16


async def test_a_withheld_number_cannot_ask_for_a_callback_and_stays_in_the_queue(
        system: System, ami_watch: AmiWatch, phones) -> None:
    caller = phones.caller("anonymous")
    call = await asyncio.to_thread(caller.call, TEAM_DIDS["cbq"])
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="anonymous", Queue="cbq", timeout=15)
    mark = ami_watch.mark()
    await asyncio.sleep(1.0)
    await asyncio.to_thread(call.send_dtmf, "*")
    await ami_watch.wait_for(Event="QueueCallerJoin", Queue="cbq", since=mark, timeout=20)  # back in the queue
    assert call.state != "ended"
    assert not [r for r in system.api("/api/callbacks")[1] if r["number"] in ("anonymous", "")]
    await asyncio.to_thread(call.hangup)


async def test_a_phone_that_declines_every_offer_is_paused_with_its_own_reason(
        system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent3")
    system.cli("queue", "unpause", "agent3")
    system.cli("queue", "add", "solo", "agent3")
    try:
        caller = phones.caller("5559300001")
        call = await asyncio.to_thread(caller.call, TEAM_DIDS["solo"])
        for _ in range(2):
            offer = await asyncio.to_thread(agent.wait_for_incoming, 15)
            await asyncio.to_thread(offer.hangup)  # 486 Busy Here while it rings
        await asyncio.to_thread(
            wait_until, lambda: (system.api("/api/agents/agent3")[1]["pause"] or {}).get("reason", "").endswith(
                "calls declined"), 15, "agent3 auto-paused for declining")
        assert system.api("/api/agents/agent3")[1]["state"] == "paused"
        await asyncio.to_thread(call.hangup)
    finally:
        system.cli("queue", "unpause", "agent3")
        system.cli("queue", "remove", "solo", "agent3", check=False)
