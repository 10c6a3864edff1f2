"""Queues and agents against the real Asterisk: membership, pauses with reasons, restore after an
Asterisk restart, what is offered to whom, and every queue / agent CLI command."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from callcenter.ami import actions

from tests.support.system import LEVELS, PLAIN, TEAM_DIDS, AmiWatch, System, wait_until


def cli_json(system: System, *args: str):
    return json.loads(system.cli(*args, "--json").stdout)


async def members_in_asterisk(ami_watch: AmiWatch, queue: str) -> dict[str, dict[str, str]]:
    status = await ami_watch.client.send(actions.queue_status())
    return {m.agent: {"Name": m.agent, "Penalty": str(m.penalty), "Paused": "1" if m.paused else "0",
                      "PausedReason": m.pause_reason, "Status": str(m.status)}
            for m in status.members if m.queue == queue}


def test_queue_and_agent_commands_end_to_end(system: System) -> None:
    rows = cli_json(system, "queue", "list")
    assert [q["name"] for q in rows][:2] == ["support", "sales"]
    assert {"offered", "answered", "abandoned", "service_level", "average_speed_of_answer", "average_handle_time",
            "waiting", "longest_wait_seconds"} <= set(rows[0])
    for q in rows:  # counted from the controller's start (test_a_paused_agent_is_not_offered_calls checks a call's count)
        assert all(isinstance(q[k], int) and q[k] >= 0 for k in ("offered", "answered", "abandoned", "waiting")), q
        assert (q["service_level"] is None) == (q["answered"] == 0) == (q["average_speed_of_answer"] is None), q
        assert q["service_level"] is None or 0 <= q["service_level"] <= 1, q
        assert q["waiting"] > 0 or q["longest_wait_seconds"] == 0, q
    assert "QUEUE" in system.cli("queue", "list").stdout

    shown = cli_json(system, "queue", "show", "sales")
    assert {m["agent"] for m in shown["members"]} == {"agent2", "agent3"}
    system.cli("queue", "add", "sales", "agent1", "--penalty", "4")
    assert {m["agent"]: m["penalty"] for m in cli_json(system, "queue", "show", "sales")["members"]}["agent1"] == 4
    assert "agent1     penalty 4" in system.cli("queue", "show", "sales").stdout
    system.cli("queue", "remove", "sales", "agent1")
    assert "agent1" not in {m["agent"] for m in cli_json(system, "queue", "show", "sales")["members"]}

    out = system.cli("queue", "pause", "agent3", "--reason", "coaching").stdout
    assert out.strip() == "agent3 paused (coaching)"
    agent = cli_json(system, "agent", "show", "agent3")
    assert agent["pause"] == {"reason": "coaching", "queue": ""} and agent["pause_reason"] == "coaching"
    assert "coaching" in system.cli("agent", "list").stdout
    system.cli("queue", "unpause", "agent3")
    assert cli_json(system, "agent", "show", "agent3")["pause"] is None
    watch = system.cli("queue", "watch", "--count", "1").stdout
    assert "QUEUE" in watch and "agent2:" in watch  # (ANSI screen clearing is dropped when not a terminal)


@pytest.mark.parametrize("args, error", [
    (("queue", "show", "nope"), "error: unknown-queue: no queue 'nope'"),
    (("queue", "add", "nope", "agent1"), "error: unknown-queue: no queue 'nope'"),
    (("queue", "add", "sales", "agent9"), "error: unknown-agent: no agent 'agent9'"),
    (("queue", "add", "sales", "agent1", "--penalty", "-1"), "error: bad-penalty: penalty must be 0 to 100"),
    (("queue", "add", "sales", "agent1", "--penalty", "1000"), "error: bad-penalty: penalty must be 0 to 100"),
    (("queue", "remove", "sales", "agent1"), "error: not-a-member: agent 'agent1' is not in queue 'sales'"),
    (("queue", "pause", "agent9", "--reason", "x"), "error: unknown-agent: no agent 'agent9'"),
    (("queue", "pause", "agent1", "--reason", " "), "error: missing-reason: a pause needs a reason"),
    (("queue", "pause", "agent1", "--queue", "sales", "--reason", "x"),
     "error: not-a-member: agent 'agent1' is not in queue 'sales'"),
    (("agent", "show", "agent9"), "error: unknown-agent: no agent 'agent9'"),
])
def test_bad_names_and_values_are_refused_in_one_line(system: System, args, error) -> None:
    result = system.cli(*args, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(error), result.stderr
    assert result.stderr.count("\n") == 1


def queue_numbers(system: System, queue: str) -> dict:
    """The queue's numbers, with the service-level count and the hold and handle totals they average."""
    q = cli_json(system, "queue", "show", queue)
    return {**q, "in_sl": round((q["service_level"] or 0) * q["answered"]),
            "hold": (q["average_speed_of_answer"] or 0) * q["answered"]}


async def test_a_paused_agent_is_not_offered_calls(system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    before = queue_numbers(system, "support")
    system.cli("queue", "pause", "agent1", "--reason", "lunch")
    await asyncio.to_thread(wait_until, lambda: cli_json(system, "agent", "show", "agent1")["state"] == "paused",
                            5, "agent1 paused")
    caller = phones.caller("5556000001")
    call = await asyncio.to_thread(caller.call, PLAIN)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5556000001")
    await asyncio.sleep(4)
    assert not ami_watch.seen(Event="AgentCalled", MemberName="agent1", CallerIDNum="5556000001")
    shown = cli_json(system, "queue", "show", "support")
    assert [c["caller_id"] for c in shown["callers"]] == ["5556000001"] and shown["callers"][0]["wait_seconds"] >= 3
    assert {m["agent"]: m["pause_reason"] for m in shown["members"]}["agent1"] == "lunch"
    system.cli("queue", "unpause", "agent1")
    incoming = await asyncio.to_thread(agent.wait_for_incoming, 15)  # offered as soon as it is back
    await ami_watch.wait_for(Event="AgentCalled", MemberName="agent1", CallerIDNum="5556000001")
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1")
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(incoming.wait_until_ended, 10)
    # The queue's numbers count this call: offered once, answered once after about 4 s (inside the 20 s
    # service level), not abandoned; nobody waits any more.
    stats = await asyncio.to_thread(wait_until, lambda: (s := queue_numbers(system, "support"))["answered"] >
                                    before["answered"] and s, 10, "the answer counted")
    assert (stats["offered"], stats["answered"], stats["abandoned"], stats["in_sl"]) == (
        before["offered"] + 1, before["answered"] + 1, before["abandoned"], before["in_sl"] + 1), (before, stats)
    held = stats["hold"] - before["hold"]  # this caller's wait, from the averages (each rounded to 0.1 s)
    assert 3 - 0.05 * (stats["answered"] + before["answered"]) <= held <= 20, (before, stats)
    assert stats["waiting"] == 0 and stats["longest_wait_seconds"] == 0
    assert cli_json(system, "agent", "show", "agent1")["pause_seconds"]["lunch"] >= 3


async def test_memberships_and_pause_reasons_survive_an_asterisk_restart(system: System, ami_watch: AmiWatch) -> None:
    system.cli("queue", "add", "support", "agent3", "--penalty", "2")
    system.cli("queue", "pause", "agent2", "--reason", "training")  # agent2 is in sales
    before = await members_in_asterisk(ami_watch, "sales")
    assert before["agent2"]["Paused"] == "1" and before["agent2"]["PausedReason"] == "training"
    old_pid = system.asterisk_pid()
    os.kill(old_pid, signal.SIGKILL)
    await asyncio.to_thread(wait_until, lambda: system.asterisk_pid() not in (0, old_pid), 20, "Asterisk restarted")

    async def restored(queue: str, agent: str) -> dict[str, dict[str, str]]:
        for _ in range(100):
            try:
                members = await members_in_asterisk(ami_watch, queue)
                if agent in members:
                    return members
            except Exception:
                pass  # the watch connection is reconnecting too
            await asyncio.sleep(0.2)
        raise AssertionError(f"{agent} was not restored into {queue}")

    try:
        support = await restored("support", "agent3")
        assert set(support) == {"agent1", "agent3"} and support["agent3"]["Penalty"] == "2"
        sales = await restored("sales", "agent2")
        assert sales["agent2"]["Paused"] == "1" and sales["agent2"]["PausedReason"] == "training"
        assert sales["agent3"]["Paused"] == "0"
    finally:
        system.cli("queue", "unpause", "agent2")
        system.cli("queue", "remove", "support", "agent3")
        await asyncio.to_thread(wait_until, lambda: system.api("/api/status")[1]["ami"]["connected"], 20,
                                "the controller back on AMI")


# -- who is offered which call -------------------------------------------------------------------

@pytest.fixture
async def three_agents(system: System, ami_watch: AmiWatch, phones):
    """agent1..3 registered; the test adds them to the queue it needs (removed afterwards)."""
    agents = {name: phones.agent(name) for name in ("agent1", "agent2", "agent3")}
    for name in agents:
        system.cli("queue", "unpause", name)
    added: list[tuple[str, str]] = []

    def join(queue: str) -> None:
        for name in agents:
            system.cli("queue", "add", queue, name)
            added.append((queue, name))

    yield agents, join
    for queue, name in added:
        system.cli("queue", "remove", queue, name, check=False)
    for name in agents:
        system.cli("queue", "unpause", name)


async def call_and_answer(ami_watch: AmiWatch, phones, agents, queue: str, caller_id: str) -> str:
    """One caller into `queue`; the first agent offered answers, then hangs up. Returns that agent."""
    caller = phones.caller(caller_id)
    call = await asyncio.to_thread(caller.call, TEAM_DIDS[queue])
    offer = await ami_watch.wait_for(Event="AgentCalled", Queue=queue, CallerIDNum=caller_id, timeout=20)
    name = offer["MemberName"]
    incoming = await asyncio.to_thread(agents[name].wait_for_incoming, 10)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", Queue=queue, MemberName=name, CallerIDNum=caller_id)
    connected = ami_watch.mark()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(incoming.hangup)
    await asyncio.to_thread(call.wait_until_ended, 10)
    # (Asterisk leaves the caller's fields out of AgentComplete when the caller's channel is already
    # gone: seen on a loaded machine. Match the member, after this call's connect.)
    await ami_watch.wait_for(Event="AgentComplete", Queue=queue, MemberName=name, since=connected)
    for phone in agents.values():  # the others' offers (ringall) end with the call
        for other in phone.calls():
            if other.state != "ended":
                await asyncio.to_thread(other.wait_until_ended, 10)
    return name


async def test_ringall_rings_every_free_agent(system: System, ami_watch: AmiWatch, phones, three_agents) -> None:
    agents, join = three_agents
    join("ring3")
    await call_and_answer(ami_watch, phones, agents, "ring3", "5557000001")
    offered = {e["MemberName"] for e in ami_watch.seen(Event="AgentCalled", CallerIDNum="5557000001")}
    assert offered == {"agent1", "agent2", "agent3"}


async def test_rrmemory_takes_turns(system: System, ami_watch: AmiWatch, phones, three_agents) -> None:
    agents, join = three_agents
    join("rr3")
    answered = [await call_and_answer(ami_watch, phones, agents, "rr3", f"555700010{i}") for i in range(4)]
    assert len(set(answered[:3])) == 3  # each agent once ...
    assert answered[3] == answered[0]  # ... then round again, remembering where it stopped


async def test_leastrecent_offers_the_agent_idle_longest(system: System, ami_watch: AmiWatch, phones,
                                                         three_agents) -> None:
    agents, join = three_agents
    join("lr3")
    answered = [await call_and_answer(ami_watch, phones, agents, "lr3", f"555700020{i}") for i in range(3)]
    assert len(set(answered)) == 3  # nobody gets a second call while another has had none
    fourth = await call_and_answer(ami_watch, phones, agents, "lr3", "5557000203")
    assert fourth == answered[0]  # the one whose last call is the oldest


async def test_missed_offers_pause_the_agent_and_the_next_agent_is_tried(system: System, ami_watch: AmiWatch,
                                                                         phones, three_agents) -> None:
    agents, _ = three_agents
    system.cli("queue", "add", "solo", "agent1")
    caller = phones.caller("5557000301")
    start = ami_watch.mark()
    call = await asyncio.to_thread(caller.call, TEAM_DIDS["solo"])
    since = start
    for _ in range(2):  # agent1 lets it ring out twice
        missed = await ami_watch.wait_for(Event="AgentRingNoAnswer", MemberName="agent1", CallerIDNum="5557000301",
                                          timeout=15, since=since)
        since = ami_watch.events.index(missed, since) + 1
    await asyncio.to_thread(
        wait_until, lambda: cli_json(system, "agent", "show", "agent1")["pause_reason"] == "auto: 2 missed calls",
        10, "the auto-pause")
    assert cli_json(system, "agent", "show", "agent1")["state"] in ("paused", "ringing")
    paused = await ami_watch.wait_for(Event="QueueMemberPause", Queue="solo", MemberName="agent1", Paused="1",
                                      since=start, timeout=10)
    after_pause = ami_watch.events.index(paused, start) + 1
    # Paused: the queue now offers the next agent instead.
    system.cli("queue", "add", "solo", "agent2")
    offer = await ami_watch.wait_for(Event="AgentCalled", MemberName="agent2", CallerIDNum="5557000301", timeout=15)
    assert offer["Queue"] == "solo"
    incoming = await asyncio.to_thread(agents["agent2"].wait_for_incoming, 10)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent2", CallerIDNum="5557000301")
    # ringall rings every free member: agent1, auto-paused, was offered nothing more.
    assert not [e for e in ami_watch.events[after_pause:] if e.get("Event") == "AgentCalled"
                and e.get("MemberName") == "agent1"], "agent1 was offered a call after its auto-pause"
    assert cli_json(system, "agent", "show", "agent1")["state"] == "paused"
    await asyncio.to_thread(call.hangup)
    for name in ("agent1", "agent2"):
        system.cli("queue", "remove", "solo", name)


async def test_wrapup_time_is_respected(system: System, ami_watch: AmiWatch, phones, three_agents) -> None:
    agents, _ = three_agents
    system.cli("queue", "add", "wrap", "agent3")
    await call_and_answer(ami_watch, phones, agents, "wrap", "5557000401")
    done = asyncio.get_running_loop().time()
    assert cli_json(system, "agent", "show", "agent3")["state"] == "wrapup"
    caller = phones.caller("5557000402")
    call = await asyncio.to_thread(caller.call, TEAM_DIDS["wrap"])
    await ami_watch.wait_for(Event="AgentCalled", MemberName="agent3", CallerIDNum="5557000402", timeout=15)
    # Not before the 5 s of wrap-up. app_queue keeps a member's last call in whole seconds (time_t
    # `lastcall`, compared with time(NULL)), so the wait can be up to 1 s short of 5 s; `done` is also a
    # little after the call's true end. Without wrap-up the offer would come within a second.
    assert asyncio.get_running_loop().time() - done >= 3.5
    await asyncio.to_thread(call.hangup)
    system.cli("queue", "remove", "wrap", "agent3")


async def test_a_priority_caller_overtakes(system: System, ami_watch: AmiWatch, phones, three_agents) -> None:
    agents, _ = three_agents
    system.cli("queue", "pause", "agent1", "--reason", "meeting")  # support's only member
    first = phones.caller("5557000501")
    first_call = await asyncio.to_thread(first.call, PLAIN)  # priority 0
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5557000501", Queue="support")
    vip = phones.caller("5557000502")
    vip_call = await asyncio.to_thread(vip.call, LEVELS)
    await asyncio.to_thread(vip_call.wait_for_audio, 200, 15)
    await asyncio.to_thread(vip_call.send_dtmf, "9")  # an invalid key, then silence: the operator, priority 7
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5557000502", Queue="support", timeout=40)
    assert join["Position"] == "1"  # ahead of the caller who waited longer
    system.cli("queue", "unpause", "agent1")
    await ami_watch.wait_for(Event="AgentCalled", MemberName="agent1", timeout=15, Queue="support",
                             CallerIDNum="5557000502")
    assert not ami_watch.seen(Event="AgentCalled", CallerIDNum="5557000501")  # the earlier caller waits
    for call in (first_call, vip_call):
        await asyncio.to_thread(call.hangup)


async def test_agents_and_queues_are_added_and_removed_live(system: System, ami_watch: AmiWatch, phones) -> None:
    original = system.config_path.read_text()
    waiting = phones.caller("5557000601")
    call = await asyncio.to_thread(waiting.call, TEAM_DIDS["solo"])  # waits in an empty queue meanwhile
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5557000601", Queue="solo")
    try:
        edited = original.replace("  wrap: {", "  billing: {strategy: ringall}\n  wrap: {").replace(
            "agents:\n", 'agents:\n  agent4: {full_name: Di Agent, extension: "1004", queues: [billing]}\n')
        system.config_path.write_text(edited)
        out = system.cli("config", "reload").stdout
        assert "agent4" in out and "billing" in out
        assert "agent4" in {r["agent"] for r in cli_json(system, "agent", "credentials")}
        agent4 = phones.agent("agent4")  # PJSIP knows the new endpoint and its generated password
        assert agent4.registered
        billing = cli_json(system, "queue", "show", "billing")
        assert [m["agent"] for m in billing["members"]] == ["agent4"]
        await asyncio.to_thread(wait_until, lambda: cli_json(system, "queue", "show", "billing")["members"][0]
                                ["state"] == "ready", 10, "agent4 ready")

        token = system.creds.api_token  # (System reads the config file to find it: read it while it is valid)
        broken = edited.replace("  billing: {strategy: ringall}", "  billing: {strategy: ringall, colour: red}")
        system.config_path.write_text(broken)
        result = system.cli("config", "reload", check=False)  # the CLI reaches the controller all the same
        assert result.returncode == 1 and "queues.billing.colour: unknown key 'colour'" in result.stderr
        status, body = system.api("/api/config/reload", token=token, method="POST")  # and so does the controller
        assert status == 422 and body["error_id"] == "unknown-key" and ":14:32: queues.billing.colour" in body["error"]
        assert "billing" in {q["name"] for q in system.api("/api/queues", token=token)[1]}  # nothing changed

        system.config_path.write_text(original)
        system.cli("config", "reload")
        assert "billing" not in {q["name"] for q in cli_json(system, "queue", "list")}
        assert "agent4" not in {a["name"] for a in cli_json(system, "agent", "list")}
        # The caller who waited through all of it is still there, still in its queue.
        assert call.state == "answered"
        assert [c["caller_id"] for c in cli_json(system, "queue", "show", "solo")["callers"]] == ["5557000601"]
    finally:
        if system.config_path.read_text() != original:
            system.config_path.write_text(original)
        await asyncio.to_thread(call.hangup)


# -- callbacks -----------------------------------------------------------------------------------

async def ask_for_callback(system: System, ami_watch: AmiWatch, phones, number: str) -> dict:
    caller = phones.caller(number)
    call = await asyncio.to_thread(caller.call, TEAM_DIDS["cbq"])
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=number, Queue="cbq")
    await asyncio.sleep(1.0)
    await asyncio.to_thread(call.send_dtmf, "*")
    await asyncio.to_thread(call.wait_until_ended, 15)  # thanked, and hung up by us
    requests = [r for r in system.api("/api/callbacks")[1] if r["number"] == number]
    assert len(requests) == 1
    return requests[0]


async def test_callback_keeps_the_place_rings_back_once_and_connects(system: System, ami_watch: AmiWatch, phones,
                                                                     carrier) -> None:
    agent = phones.agent("agent1")
    system.cli("queue", "add", "cbq", "agent1")
    system.cli("queue", "pause", "agent1", "--reason", "busy")
    try:
        request = await ask_for_callback(system, ami_watch, phones, "5558000001")
        assert request["state"] == "pending" and request["queue"] == "cbq"
        shown = cli_json(system, "queue", "show", "cbq")
        assert [c["number"] for c in shown["callbacks"]] == ["5558000001"] and shown["waiting"] == 0
        system.cli("queue", "unpause", "agent1")  # a free agent: the customer's turn
        try:
            ring = await asyncio.to_thread(carrier.wait_for_incoming, 20)
        except TimeoutError:
            raise AssertionError(f"no callback: {cli_json(system, 'queue', 'show', 'cbq')}") from None
        assert "5558000001" in (ring.invite_header("To") or "")
        await asyncio.to_thread(ring.answer)
        offer = await asyncio.to_thread(agent.wait_for_incoming, 15)
        # The agent sees whom the call is for: the customer's number, and that it is a callback.
        assert offer.remote_number == "5558000001" and offer.remote_name == "Callback - cbq"
        await asyncio.to_thread(offer.answer)
        await ami_watch.wait_for(Event="AgentConnect", Queue="cbq", MemberName="agent1")
        records = [c for c in system.api("/api/calls?limit=200")[1]["active"] if c["direction"] == "callback"]
        assert [(c["caller_id"], c["callback_of"], c["callback_request"]) for c in records] == [
            ("5558000001", request["call_id"], request["id"])]
        done = [r for r in system.api("/api/callbacks")[1] if r["id"] == request["id"]][0]
        assert done["state"] == "connected" and done["attempts"] == 1
        await asyncio.sleep(3)
        assert len(carrier.calls()) == 1  # one request, one call
        await asyncio.to_thread(offer.hangup)
    finally:
        system.cli("queue", "unpause", "agent1")
        system.cli("queue", "remove", "cbq", "agent1")


async def test_a_failed_callback_is_retried_then_recorded_as_failed(system: System, ami_watch: AmiWatch, phones,
                                                                   carrier) -> None:
    phones.agent("agent1")
    system.cli("queue", "add", "cbq", "agent1")
    system.cli("queue", "pause", "agent1", "--reason", "busy")
    try:
        request = await ask_for_callback(system, ami_watch, phones, "5558000002")
        system.cli("queue", "unpause", "agent1")
        for _ in range(2):  # the customer does not take it (busy), twice: the policy's attempts
            ring = await asyncio.to_thread(carrier.wait_for_incoming, 20)
            await asyncio.to_thread(ring.hangup)

        def failed() -> dict | None:
            row = [r for r in system.api("/api/callbacks")[1] if r["id"] == request["id"]][0]
            return row if row["state"] == "failed" else None

        row = await asyncio.to_thread(wait_until, failed, 15, "the request to be recorded as failed")
        assert row["attempts"] == 2 and row["last_error"]
        await asyncio.sleep(4)
        assert not carrier.calls()  # and no third try
    finally:
        system.cli("queue", "remove", "cbq", "agent1")
