"""Real calls into the ticket store: one customer whatever the number's format, withheld callers
kept apart, an answered call's business steps, and recent calls that survive a controller restart."""

from __future__ import annotations

import asyncio
import audioop
import contextlib
import json
import signal
import time
import wave
from pathlib import Path
from typing import Any, AsyncIterator

from callcenter.asterisk.install import find_asterisk
from callcenter.tickets.core import TicketCore
from tests.support.system import HOTLINE, PLAIN, TEAM_DIDS, AmiWatch, System, wait_until


def customer_file(system: System, who: str) -> dict[str, Any] | None:
    status, data = system.api(f"/api/customers?q={who}")
    return data if status == 200 else None


@contextlib.asynccontextmanager
async def answered_solo_call(system: System, ami_watch: AmiWatch, phones, caller_id: str) -> AsyncIterator[Any]:
    """A call into `solo` (a queue with `record: true`) that agent3 answered; agent3 leaves the
    queue afterwards."""
    agent = phones.agent("agent3")
    system.cli("queue", "add", "solo", "agent3")
    system.cli("queue", "unpause", "agent3")
    try:
        await asyncio.to_thread(wait_until, lambda: system.api("/api/agents/agent3")[1]["state"] == "ready", 15,
                                "agent3 ready")
        mark = ami_watch.mark()
        call = await asyncio.to_thread(phones.caller(caller_id).call, TEAM_DIDS["solo"])
        incoming = await asyncio.to_thread(agent.wait_for_incoming, 15)
        await asyncio.to_thread(incoming.answer)
        await ami_watch.wait_for(Event="AgentConnect", Queue="solo", MemberName="agent3", timeout=10, since=mark)
        yield call
    finally:
        system.cli("queue", "remove", "solo", "agent3", check=False)


async def one_call(ami_watch: AmiWatch, phones, caller_id: str, did: str = PLAIN) -> None:
    caller = phones.caller(caller_id)
    mark = ami_watch.mark()  # this call's join, not an earlier call's from the same number
    call = await asyncio.to_thread(caller.call, did)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=caller_id, timeout=15, since=mark)
    await asyncio.to_thread(call.hangup)


async def test_one_caller_in_two_formats_is_one_customer_one_ticket_two_interactions(
        system: System, ami_watch: AmiWatch, phones) -> None:
    await one_call(ami_watch, phones, "4155550101")
    await one_call(ami_watch, phones, "+14155550101")
    file = await asyncio.to_thread(
        wait_until, lambda: (f := customer_file(system, "(415)%20555-0101")) and len(f["timeline"]) == 2 and
        all(i["step"] == "ended" for i in f["timeline"]) and f, 15, "two ended interactions")
    assert [i["value"] for i in file["identities"]] == ["+14155550101"]
    assert {i["ticket_id"] for i in file["timeline"]} == {file["open_tickets"][0]["id"]}
    assert len(file["open_tickets"]) == 1
    for i in file["timeline"]:
        assert (i["channel"], i["direction"], i["did"], i["queue"], i["hangup_cause"]) == \
               ("voice", "inbound", PLAIN, "support", 16), i
        assert i["abandoned"] is True and i["wait_seconds"] is not None
    # The CLI shows the same file, in any format.
    shown = system.cli("customer", "show", "415-555-0101").stdout
    assert "+14155550101" in shown and shown.count("voice") == 2, shown
    as_json = json.loads(system.cli("customer", "show", "+1 415 555 0101", "--json").stdout)
    assert as_json["customer"]["id"] == file["customer"]["id"]
    listed = json.loads(system.cli("customer", "list", "--json").stdout)
    assert any(c["id"] == file["customer"]["id"] and c["identities"] == ["+14155550101"] for c in listed)


async def test_two_withheld_callers_are_two_unidentified_customers(system: System, ami_watch: AmiWatch,
                                                                   phones) -> None:
    """Withheld callers an agent answered: one unidentified customer each (a withheld caller who
    gives up in the queue opens nothing: test_store_under_load.py)."""
    store = TicketCore.build(system.config.store_url)
    await store.open()
    try:
        before = (await store.calls.counts())["customers"]
        for _ in range(2):
            async with answered_solo_call(system, ami_watch, phones, "anonymous") as call:
                await asyncio.to_thread(call.hangup)

        async def ended() -> list[dict[str, Any]]:
            return [c for c in await store.calls.recent(50) if c["address"] == "anonymous" and c["step"] == "ended"]
        rows: list[dict[str, Any]] = []
        for _ in range(100):
            rows = await ended()
            if len(rows) >= 2:
                break
            await asyncio.sleep(0.1)
        ids = [r["customer_id"] for r in rows[:2]]
        assert len(set(ids)) == 2, rows
        for cid in ids:
            assert (await store.customers.file(cid))["customer"]["unidentified"] is True
        assert (await store.calls.counts())["customers"] >= before + 2
    finally:
        await store.close()


async def test_an_answered_call_records_agent_wait_talk_and_first_response(system: System, ami_watch: AmiWatch,
                                                                           phones) -> None:
    async with answered_solo_call(system, ami_watch, phones, "5559400001") as call:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(call.hangup)
        file = await asyncio.to_thread(
            wait_until, lambda: (f := customer_file(system, "5559400001")) and f["timeline"] and
            f["timeline"][0]["step"] == "ended" and f, 15, "the ended interaction")
        row = file["timeline"][0]
        assert (row["queue"], row["agent"], row["hung_up_by"], row["hangup_cause"]) == ("solo", "agent3", "caller", 16)
        assert row["talk_seconds"] >= 1 and row["wait_seconds"] is not None
        ticket = file["open_tickets"][0]
        assert ticket["first_response_at"] is not None and ticket["topic"] == "solo"
        # solo records its calls: the file is linked, with its real length, size and checksum.
        assert row["recording_problem"] == "" and row["recording_path"].endswith(f"{row['call_id']}.wav"), row
        assert 1.0 <= row["recording_seconds"] <= 5.0 and row["recording_bytes"] > 8000
        assert len(row["recording_sha256"]) == 64


async def test_ticket_cli_moves_a_ticket_and_refuses_an_invalid_transition(system: System, ami_watch: AmiWatch,
                                                                           phones) -> None:
    await one_call(ami_watch, phones, "5559400002")
    file = await asyncio.to_thread(wait_until, lambda: customer_file(system, "5559400002"), 15, "the customer")
    tid = str(file["open_tickets"][0]["id"])
    system.cli("ticket", "update", tid, "--status", "open", "--assign", "agent1", "--note", "wants a refund",
               "--tag", "billing")
    refused = system.cli("ticket", "update", tid, "--status", "new", check=False)
    assert refused.returncode != 0 and "invalid-transition" in refused.stderr
    shown = system.cli("ticket", "show", tid).stdout
    assert "wants a refund" in shown and "'new' → 'open'" in shown and "billing" in shown
    listed = json.loads(system.cli("ticket", "list", "--customer", "5559400002", "--json").stdout)
    assert [t["id"] for t in listed] == [int(tid)] and listed[0]["assignee"] == "agent1"


async def test_recent_calls_survive_a_controller_restart(system: System, ami_watch: AmiWatch, phones) -> None:
    await one_call(ami_watch, phones, "5559400003")
    await asyncio.to_thread(wait_until, lambda: (f := customer_file(system, "5559400003")) and
                            f["timeline"][0]["step"] == "ended", 15, "the call in the store")
    system.stop_controller(signal.SIGTERM)
    await asyncio.to_thread(system.start_controller)
    rows = system.api("/api/calls?limit=200")[1]["recent"]
    mine = [c for c in rows if c["caller_id"] == "5559400003"]
    assert len(mine) == 1 and mine[0]["did"] == PLAIN and mine[0]["customer_id"], mine


async def test_a_vip_tagged_through_the_cli_skips_the_menu_with_queue_priority(system: System, ami_watch: AmiWatch,
                                                                                phones) -> None:
    system.cli("customer", "create", "--name", "Vera VIP", "--phone", "+1 555 940 0010")
    system.cli("customer", "tag", "555-940-0010", "vip")
    caller = phones.caller("5559400010")
    call = await asyncio.to_thread(caller.call, HOTLINE)
    joined = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5559400010", timeout=20)
    assert joined["Queue"] == "support"
    await asyncio.to_thread(call.hangup)
    file = await asyncio.to_thread(
        wait_until, lambda: (f := customer_file(system, "5559400010")) and f["timeline"] and
        f["timeline"][0]["step"] == "ended" and f, 15, "the ended interaction")
    path = file["timeline"][0]["ivr_path"]
    assert "hotline/vip_support" in path and "hotline/main_menu" not in path, path
    assert file["customer"]["name"] == "Vera VIP" and file["customer"]["tags"] == ["vip"]


async def test_pausing_the_recording_leaves_a_silent_gap(system: System, ami_watch: AmiWatch, phones) -> None:
    async with answered_solo_call(system, ami_watch, phones, "5559400020") as call:
        live = next(c for c in system.api("/api/calls")[1]["active"] if c["caller_id"] == "5559400020")
        cli_seconds = 0.0
        for bad in ("1.2.3", "١٢", "../x", "1\r\n2"):
            started = time.monotonic()
            refused = system.cli("call", "record", "pause", bad, check=False)
            cli_seconds = max(cli_seconds, time.monotonic() - started)
            assert refused.returncode != 0 and "unknown-call" in refused.stderr and "Traceback" not in refused.stderr
        # The tone lasts until well after the resume, however long a CLI command takes on this machine.
        tone_seconds = 2.5 + 2.5 + 2 * cli_seconds + 3.0
        tone = asyncio.create_task(asyncio.to_thread(call.play_tone, tone_seconds, 440.0, 0.5))
        await asyncio.sleep(2.5)
        assert "recording paused" in system.cli("call", "record", "pause", live["call_id"]).stdout
        await asyncio.sleep(2.5)
        assert "recording resumed" in system.cli("call", "record", "resume", live["call_id"]).stdout
        await tone
        await asyncio.to_thread(call.hangup)
        file = await asyncio.to_thread(
            wait_until, lambda: (f := customer_file(system, "5559400020")) and f["timeline"] and
            f["timeline"][0]["step"] == "ended" and f, 15, "the ended interaction")
        row = file["timeline"][0]
        assert row["recording_problem"] == "", row
        with wave.open(row["recording_path"], "rb") as w:
            rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
        step = rate * width // 4  # quarter seconds
        levels = [audioop.rms(frames[i:i + step], width) for i in range(0, len(frames) - step + 1, step)]
        loud = [lvl > 1000 for lvl in levels]
        # The recording starts when the agent answers; the tone some seconds later (the refused
        # commands above come first): what counts is tone, then the pause's silence, then tone.
        assert loud.count(True) >= 8, levels  # at least 2 s of the tone are in the file
        first, last = loud.index(True), len(loud) - 1 - loud[::-1].index(True)
        gaps = "".join("x" if v else "." for v in loud[first:last + 1])
        assert "......" in gaps, gaps  # >= 1.5 s of silence inside the tone: the pause, tone on both sides
        before, _, after = gaps.partition("......")
        assert before.count("x") >= 4 and after.count("x") >= 4, gaps  # >= 1 s of tone before and after
        assert "recording:paused" in row["record"]["path"] and "recording:resumed" in row["record"]["path"]
        assert Path(row["recording_path"]).stat().st_size == row["recording_bytes"]


def reconciler_ran(system: System) -> bool:
    """The evidence that this controller's reconciler has read the CDR: a resync is done, and the store's
    subscriber (which runs the reconciler when it takes the resync's PictureRebuilt, and counts an event
    handled only after) has handled an event per resync and has nothing queued (no calls meanwhile)."""
    _, status = system.api("/api/status")
    store = status["subscribers"]["store"]
    resyncs = status["resync"]["resyncs"]
    return resyncs >= 1 and store["handled"] >= resyncs and store["queued"] == 0


async def test_calls_during_a_controller_kill_are_all_in_the_store_once(system: System, ami_watch: AmiWatch,
                                                                        phones) -> None:
    """SIGKILL the controller during 10 calls: 6 in the queue when it dies (their first steps are
    in the store), 4 that come and go while it is down (the fallback; the store saw nothing). After
    the restart every one is in the store exactly once, ended; the controller-less ones are marked
    reconciled (from Asterisk's CDR)."""
    numbers = [f"555950{i:04d}" for i in range(10)]
    before = [await asyncio.to_thread(phones.caller(n).call, PLAIN) for n in numbers[:6]]
    for n in numbers[:6]:
        await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=n, timeout=20)
    await asyncio.to_thread(wait_until, lambda: all(customer_file(system, n) for n in numbers[:6]), 15,
                            "the first steps of the six calls in the store")
    system.stop_controller(signal.SIGKILL)
    for call in before:
        await asyncio.to_thread(call.hangup)
    await ami_watch.wait_heartbeat_stale()  # new callers now take the dialplan's fallback
    for n in numbers[6:]:
        call = await asyncio.to_thread(phones.caller(n).call, PLAIN)
        await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=n, timeout=20)
        await asyncio.to_thread(call.hangup)
    cdr = find_asterisk().instance_base(system.runtime_dir) / "log" / "cdr-custom" / "cdr.json"
    await asyncio.to_thread(wait_until, lambda: all(n in cdr.read_text() for n in numbers), 15,
                            "Asterisk's call records of the ten calls")  # what the reconciler reads
    await asyncio.to_thread(system.start_controller)

    def all_ended() -> list[dict[str, Any]] | None:
        rows = []
        for n in numbers:
            f = customer_file(system, n)
            if f is None or len(f["timeline"]) != 1 or f["timeline"][0]["step"] != "ended":
                return None
            rows.append(f["timeline"][0])
        return rows
    rows = await asyncio.to_thread(wait_until, all_ended, 20, "all ten calls ended in the store, once each")
    assert all(r["reconciled"] for r in rows), [(r["address"], r["reconciled"]) for r in rows]
    for r in rows:
        assert (r["did"], r["queue"], r["channel"]) == (PLAIN, "support", "voice"), r
        assert r["ended_at"] and r["started_at"] <= r["ended_at"]
    # A second restart reconciles nothing twice.
    system.stop_controller(signal.SIGTERM)
    await asyncio.to_thread(system.start_controller)
    await asyncio.to_thread(wait_until, lambda: reconciler_ran(system), 20, "the reconciler's look after the resync")
    assert all(len((customer_file(system, n) or {"timeline": []})["timeline"]) == 1 for n in numbers)


async def test_a_caller_who_chose_sales_gets_a_sales_ticket_assigned_to_who_answered(
        system: System, ami_watch: AmiWatch, phones) -> None:
    """The hotline's DID serves support; the caller presses 1 for sales: the ticket is on sales (the
    queue reached, not the DID's), assigned to the agent who answered and open."""
    from tests.integration.test_ivr import dial, press, reach
    agent = phones.agent("agent2")
    system.cli("queue", "unpause", "agent2")
    await asyncio.to_thread(wait_until, lambda: system.api("/api/agents/agent2")[1]["state"] == "ready", 15,
                            "agent2 ready")
    call = await dial(phones, "5552000077", HOTLINE)
    await reach(system, "5552000077", "hotline/main_menu")
    mark = ami_watch.mark()
    await press(call, "1")
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 40)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", Queue="sales", MemberName="agent2", timeout=10, since=mark)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(call.hangup)
    file = await asyncio.to_thread(
        wait_until, lambda: (f := customer_file(system, "5552000077")) and f["timeline"] and
        f["timeline"][0]["step"] == "ended" and f, 15, "the ended interaction")
    ticket = file["open_tickets"][0]
    assert (ticket["topic"], ticket["queue"], ticket["assignee"], ticket["status"]) == \
        ("sales", "sales", "agent2", "open"), ticket
    assert ticket["awaiting_since"] is None and ticket["first_response_at"] is not None
    status, shown = system.api(f"/api/tickets/{ticket['id']}")
    assert status == 200 and ("assignee", "agent2") in [(h["field"], h["new"]) for h in shown["history"]]
