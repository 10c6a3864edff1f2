"""Real calls into the ticket store: one customer whatever the number's format, withheld callers
kept apart, an answered call's business steps, and recent calls that survive a controller restart."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from callcenter.store import Store
from tests.support.system import PLAIN, TEAM_DIDS, AmiWatch, System, wait_until


def customer_file(system: System, who: str) -> dict[str, Any] | None:
    status, data = system.api(f"/api/customers?q={who}")
    return data if status == 200 else None


async def one_call(ami_watch: AmiWatch, phones, caller_id: str, did: str = PLAIN) -> None:
    caller = phones.caller(caller_id)
    call = await asyncio.to_thread(caller.call, did)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=caller_id, timeout=15)
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


async def test_two_withheld_callers_are_two_unidentified_customers(system: System, ami_watch: AmiWatch,
                                                                   phones) -> None:
    store = Store(system.config.store_url)
    await store.open()
    try:
        before = (await store.counts())["customers"]
        for _ in range(2):
            await one_call(ami_watch, phones, "anonymous")
        ids: list[str] = []

        async def ended() -> list[dict[str, Any]]:
            return [c for c in await store.recent_calls(50) if c["address"] == "anonymous" and c["step"] == "ended"]
        for _ in range(100):
            rows = await ended()
            if len(rows) >= 2:
                break
            await asyncio.sleep(0.1)
        rows = (await ended())[:2]
        ids = [r["customer_id"] for r in rows]
        assert len(set(ids)) == 2, rows
        for cid in ids:
            assert (await store.customer_file(cid))["customer"]["unidentified"] is True
        assert (await store.counts())["customers"] >= before + 2
    finally:
        await store.close()


async def test_an_answered_call_records_agent_wait_talk_and_first_response(system: System, ami_watch: AmiWatch,
                                                                           phones) -> None:
    agent = phones.agent("agent3")
    system.cli("queue", "add", "solo", "agent3")
    system.cli("queue", "unpause", "agent3")
    try:
        await asyncio.to_thread(wait_until, lambda: system.api("/api/agents/agent3")[1]["state"] == "ready", 15,
                                "agent3 ready")
        caller = phones.caller("5559400001")
        call = await asyncio.to_thread(caller.call, TEAM_DIDS["solo"])
        incoming = await asyncio.to_thread(agent.wait_for_incoming, 15)
        await asyncio.to_thread(incoming.answer)
        await ami_watch.wait_for(Event="AgentConnect", Queue="solo", MemberName="agent3", timeout=10)
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
    finally:
        system.cli("queue", "remove", "solo", "agent3", check=False)


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
