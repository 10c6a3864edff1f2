"""Queues and agents against the real Asterisk: membership, pauses with reasons, restore after an
Asterisk restart, what is offered to whom, and every queue / agent CLI command."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from tests.support.system import PLAIN, AmiWatch, System, wait_until


def cli_json(system: System, *args: str):
    return json.loads(system.cli(*args, "--json").stdout)


async def members_in_asterisk(ami_watch: AmiWatch, queue: str) -> dict[str, dict[str, str]]:
    reply = await ami_watch.client.send({"Action": "QueueStatus", "Queue": queue})
    return {m["Name"]: dict(m) for m in reply if m.get("Event") == "QueueMember"}


def test_queue_and_agent_commands_end_to_end(system: System) -> None:
    rows = cli_json(system, "queue", "list")
    assert [q["name"] for q in rows] == ["support", "sales"]
    assert {"offered", "answered", "abandoned", "service_level", "average_speed_of_answer", "average_handle_time",
            "waiting", "longest_wait_seconds"} <= set(rows[0])
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


async def test_a_paused_agent_is_not_offered_calls(system: System, ami_watch: AmiWatch, phones) -> None:
    agent = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
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
    stats = cli_json(system, "queue", "show", "support")
    assert stats["answered"] >= 1 and stats["waiting"] == 0
    assert cli_json(system, "agent", "show", "agent1")["pause_seconds"]["lunch"] >= 3


async def test_memberships_and_pause_reasons_survive_an_asterisk_restart(system: System, ami_watch: AmiWatch) -> None:
    system.cli("queue", "add", "support", "agent3", "--penalty", "2")
    system.cli("queue", "pause", "agent2", "--reason", "training")  # agent2 is in sales
    before = await members_in_asterisk(ami_watch, "sales")
    assert before["agent2"]["Paused"] == "1" and before["agent2"]["PausedReason"] == "training"
    old_pid = system.asterisk_pid()
    os.kill(old_pid, signal.SIGKILL)
    await asyncio.to_thread(wait_until, lambda: system.asterisk_pid() != old_pid, 20, "Asterisk restarted")

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

    support = await restored("support", "agent3")
    assert set(support) == {"agent1", "agent3"} and support["agent3"]["Penalty"] == "2"
    sales = await restored("sales", "agent2")
    assert sales["agent2"]["Paused"] == "1" and sales["agent2"]["PausedReason"] == "training"
    assert sales["agent3"]["Paused"] == "0"
    system.cli("queue", "unpause", "agent2")
    system.cli("queue", "remove", "support", "agent3")
