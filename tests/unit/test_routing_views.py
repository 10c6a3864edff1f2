"""The routing views: one queue or agent (what the live pages ask per event) is exactly that item
of the full lists, and an unknown name is the same error as before; the hub serializes a message
once for all its pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callcenter import app as app_mod
from callcenter.ami.testing import FakeAmi
from callcenter.config import parse_config
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError, UnknownAgent, UnknownQueue
from callcenter.routing.service import Routing
from callcenter.web.roles import Principal
from callcenter.workspace.live import Client, LiveHub

NOW = 1_764_500_000.0
CONFIG = """\
runtime_dir: {runtime}
queues:
  support: {{strategy: ringall, wrapup: 5}}
  sales: {{strategy: leastrecent}}
  billing: {{strategy: ringall}}
agents:
  agent1: {{extension: "1001", queues: [support, sales], full_name: Ann One}}
  agent2: {{extension: "1002", queues: [support]}}
  agent3: {{extension: "1003", queues: [sales, billing]}}
  agent4: {{extension: "1004", queues: [billing]}}
  agent5: {{extension: "1005", queues: [support, sales]}}
dids:
  "8005550100": {{queue: support}}
"""


async def routing(tmp_path: Path) -> Routing:
    """Agents 1-4 registered, agent5 not (logged out); agent1 paused in sales only, agent3 in all its
    queues; agent4 on a call; callers waiting in support and a callback kept in sales."""
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    parts = app_mod.build(config, ami=FakeAmi(), clock=lambda: NOW)
    service = parts.routing.service
    presence = service.presence
    for name, agent in presence.agents.items():
        if name == "agent5":
            continue
        agent.contacts[f"sip:{name}@127.0.0.1:5060"] = True
    await service.queue_control.pause("agent1", "coaching", "sales")
    await service.queue_control.pause("agent3", "lunch")
    for name, reason in (("agent1", "coaching"), ("agent3", "lunch")):  # as app_queue's MemberChanged reports it
        presence.agents[name].paused, presence.agents[name].pause_reason = True, reason
        presence.agents[name].paused_at = NOW - 60
    presence.agents["agent4"].device = "INUSE"
    presence.queues["support"].waiting = {"u1": (NOW - 30, "5550001"), "u2": (NOW - 5, "5550002")}
    service.callbacks.request("sales", "4155550100", NOW - 90, NOW - 10, "call-1")
    return service


def error(raise_it: Any) -> dict[str, Any]:
    with pytest.raises(CallcenterError) as raised:
        raise_it()
    return {"class": type(raised.value), **raised.value.as_dict()}


async def test_one_queue_is_that_queue_of_the_list(tmp_path: Path) -> None:
    service = await routing(tmp_path)
    rows = service.queues()
    assert [r["name"] for r in rows] == ["support", "sales", "billing"]
    for row in rows:
        assert service.queue(row["name"]) == row
    by_name = {r["name"]: r for r in rows}
    members = {q: {m["agent"]: (m["state"], m["pause_reason"]) for m in r["members"]} for q, r in by_name.items()}
    assert members["sales"]["agent1"] == ("paused", "coaching")
    assert members["support"]["agent1"] == ("ready", "")  # paused in sales only: ready in support
    assert members["billing"] == {"agent3": ("paused", "lunch"), "agent4": ("on_call", "")}
    assert members["support"]["agent5"] == ("logged_out", "")
    assert by_name["support"]["agents_available"] == 2 and by_name["sales"]["agents_available"] == 0
    assert by_name["support"]["agents_logged_in"] == 2 and by_name["sales"]["agents_logged_in"] == 2
    assert [c["caller_id"] for c in by_name["support"]["callers"]] == ["5550001", "5550002"]
    assert [c["number"] for c in by_name["sales"]["callbacks"]] == ["4155550100"]


async def test_one_agent_is_that_agent_of_the_list(tmp_path: Path) -> None:
    service = await routing(tmp_path)
    rows = service.agents()
    assert [r["name"] for r in rows] == ["agent1", "agent2", "agent3", "agent4", "agent5"]
    for row in rows:
        assert service.agent(row["name"]) == row
    assert rows[0]["pause"] == {"reason": "coaching", "queue": "sales"} and rows[0]["full_name"] == "Ann One"
    assert rows[0]["queues"] == {"support": 0, "sales": 0} and rows[0]["state"] == "paused"


async def test_unknown_names_are_the_errors_they_were(tmp_path: Path) -> None:
    service = await routing(tmp_path)
    assert error(lambda: service.queue("nope")) == {
        "class": UnknownQueue, "error_id": "unknown-queue", "details": {"queue": "nope"},
        "message": "no queue 'nope' (queues: support, sales, billing)"}
    assert error(lambda: service.agent("nope")) == {
        "class": UnknownAgent, "error_id": "unknown-agent", "details": {"agent": "nope"},
        "message": "no agent 'nope' (agents: agent1, agent2, agent3, agent4, agent5)"}
    # An agent of the config the live picture does not have (yet): not in the list, not found alone.
    del service.presence.agents["agent2"]
    assert "agent2" not in [r["name"] for r in service.agents()]
    assert error(lambda: service.agent("agent2"))["message"] == (
        "no agent 'agent2' (agents: agent1, agent2, agent3, agent4, agent5)")


class Socket:
    async def close(self, **_: Any) -> None:
        pass


async def test_the_hub_sends_each_page_the_same_text_serialized_once(tmp_path: Path) -> None:
    service = await routing(tmp_path)
    hub = LiveHub(service.config, service, service.tracker, service.presence, None, None, lambda: NOW)
    pages = [Client(Socket(), Principal(f"agent{i}", "agent", f"agent{i}", "session")) for i in (1, 2)]  # type: ignore[arg-type]
    pages.append(Client(Socket(), Principal("boss", "supervisor", None, "session")))  # type: ignore[arg-type]
    hub.clients.update(pages)
    hub.on_event(ev.AgentStateChanged("agent1", "paused", "ready", "coaching", NOW - 1))
    hub.on_event(ev.QueueChanged("sales", 0, NOW - 1))
    hub.on_event(ev.QueueChanged("nope", 0, NOW - 1))  # a queue no longer configured: nothing sent
    hub.on_event(ev.AgentStateChanged("nope", "ready", "logged_out", "", NOW - 1))  # as before: sent, agent null
    sent = [[page.queue.get_nowait() for _ in range(page.queue.qsize())] for page in pages]
    assert all(len(texts) == 3 for texts in sent)
    for first, *others in zip(*sent):
        assert all(text is first for text in others)  # one json.dumps per message, whatever the number of pages
    assert [json.loads(text) for text in sent[0]] == [
        {"type": "agent", "agent": service.agents()[0], "at": NOW - 1},
        {"type": "queue", "queue": service.queues()[1], "at": NOW - 1},
        {"type": "agent", "agent": None, "at": NOW - 1}]
