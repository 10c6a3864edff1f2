"""Queue membership and pauses: the controller owns them, Asterisk's app_queue carries them out.

Members are dynamic app_queue members (QueueAdd), never static ones, so they can be changed live.
Who is in which queue with which penalty, and who is paused for what reason, is kept in
`<runtime>/routing.json` and pushed back into Asterisk each time the AMI connection comes up: an
Asterisk restart loses no membership and no pause reason. The first start takes the memberships
of callcenter.yaml.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.ami import actions
from callcenter.ami.client import AmiClient
from callcenter.config import Config
from callcenter.errors import CallcenterError, UnknownAgent, UnknownQueue

log = logging.getLogger(__name__)

MAX_PENALTY = 100


@dataclass
class RoutingState:
    members: dict[str, dict[str, int]] = field(default_factory=dict)  # queue → agent → penalty
    # agent → {"reason": why, "queue": one queue, or "" for all its queues}
    paused: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> "RoutingState":
        members: dict[str, dict[str, int]] = {q: {} for q in config.queues}
        for name, agent in config.agents.items():
            for q in agent.queues:
                members[q][name] = skill_penalty(config, q, name)
        return cls(members)

    def reconcile(self, config: Config) -> None:
        """Forget queues and agents that are no longer in the config; add new queues."""
        self.members = {q: {a: p for a, p in self.members.get(q, {}).items() if a in config.agents}
                        for q in config.queues}
        self.paused = {a: r for a, r in self.paused.items() if a in config.agents}


def skill_penalty(config: Config, queue: str, agent: str) -> int:
    """Skills map to penalties: in a queue that wants a skill, the more skilled agent (level 1-10) gets
    the lower penalty (10 - level), so app_queue offers experts first; without the skill, 10."""
    skill = config.queues[queue].skill
    if not skill:
        return 0
    return 10 - config.agents[agent].skills.get(skill, 0)


def _interface(agent: str) -> str:
    return f"PJSIP/{agent}"


class QueueControl:
    """Queue memberships and pauses: commands (REST/CLI), routing.json, and restore into app_queue."""

    def __init__(self, config: Config, ami: AmiClient, state_file: Path) -> None:
        self.config = config
        self.ami = ami
        self.state_file = state_file
        self.state = self._load()

    # -- persistence ------------------------------------------------------------------------

    def _load(self) -> RoutingState:
        try:
            data = json.loads(self.state_file.read_text())
            state = RoutingState({q: {a: int(p) for a, p in m.items()} for q, m in data["members"].items()},
                                 {a: {"reason": str(p["reason"]), "queue": str(p.get("queue", ""))}
                                  for a, p in data.get("paused", {}).items()})
            # What is replayed into Asterisk at every start is checked like a live command.
            for agent, pause in state.paused.items():
                actions.text(pause["reason"], f"pause reason of {agent}", actions.MAX_REASON, empty=False)
                actions.text(pause["queue"], f"pause queue of {agent}", actions.MAX_NAME)
        except FileNotFoundError:
            state = RoutingState.from_config(self.config)
        except (ValueError, KeyError, AttributeError, TypeError, CallcenterError) as exc:
            # Never start from a half-read file silently: keep it aside and say so.
            aside = self.state_file.with_suffix(".broken")
            os.replace(self.state_file, aside)
            log.error("routing state %s unreadable (%s); kept as %s, starting from callcenter.yaml",
                      self.state_file, exc, aside)
            state = RoutingState.from_config(self.config)
        state.reconcile(self.config)
        return state

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"members": self.state.members, "paused": self.state.paused}, indent=2,
                                  sort_keys=True))
        os.replace(tmp, self.state_file)

    def apply_config(self, config: Config) -> None:
        """New agents and queues (config reload): new queues take the config's memberships; removed
        agents and queues are forgotten. `restore()` then makes Asterisk match."""
        for queue, members in RoutingState.from_config(config).members.items():
            for agent, penalty in members.items():
                # Only what is new takes the config's word; the rest keeps what was changed live.
                if queue not in self.config.queues or agent not in self.config.agents:
                    self.state.members.setdefault(queue, {})[agent] = penalty
        self.config = config
        self.state.reconcile(config)
        self._save()

    # -- checks -----------------------------------------------------------------------------

    def _queue(self, name: str) -> None:
        if name not in self.config.queues:
            raise UnknownQueue(name, list(self.config.queues))

    def _agent(self, name: str) -> None:
        if name not in self.config.agents:
            raise UnknownAgent(name, list(self.config.agents))

    # -- Asterisk ---------------------------------------------------------------------------

    async def restore(self) -> actions.QueueStatus:
        """Make app_queue's members and pauses what our state says (after any (re)connect).
        Returns Asterisk's queue status as it was read (for the presence rebuild).
        Errors: AmiError (the caller retries)."""
        status = await self.ami.send(actions.queue_status())
        present: dict[str, set[str]] = {}
        for m in status.members:
            present.setdefault(m.queue, set()).add(m.agent)
        for queue, members in self.state.members.items():
            for agent, penalty in members.items():
                if agent not in present.get(queue, set()):
                    await self._add(queue, agent, penalty)
            for stale in present.get(queue, set()) - set(members):
                await self.ami.send(actions.queue_remove(queue, _interface(stale)))
        for agent, pause in self.state.paused.items():
            await self._pause(agent, True, pause["reason"], pause["queue"])
        log.info("queues restored: %s; paused: %s",
                 ", ".join(f"{q}={sorted(m)}" for q, m in self.state.members.items()),
                 ", ".join(f"{a} ({p['reason']})" for a, p in self.state.paused.items()) or "nobody")
        return await self.ami.send(actions.queue_status()) if self.state.members else status

    async def _add(self, queue: str, agent: str, penalty: int) -> None:
        reply = await self.ami.send(actions.queue_add(queue, _interface(agent), member_name=agent, penalty=penalty,
                                                      paused=self.paused_in(agent, queue),
                                                      reason=self.state.paused.get(agent, {}).get("reason", "")))
        if not reply.ok and "Already there" not in reply.message:  # already in: what we want
            raise CallcenterError("ami-action-failed", f"Asterisk refused to add {agent} to {queue}: "
                                  f"{reply.message}", {"queue": queue, "agent": agent})

    def paused_in(self, agent: str, queue: str) -> bool:
        pause = self.state.paused.get(agent)
        return pause is not None and pause["queue"] in ("", queue)

    async def _pause(self, agent: str, paused: bool, reason: str = "", queue: str = "") -> None:
        if not any(agent in m for q, m in self.state.members.items() if queue in ("", q)):
            return  # app_queue pauses members; an agent in no queue has nothing to pause
        await self.ami.send(actions.queue_pause(_interface(agent), paused, reason, queue))

    # -- commands (REST / CLI) --------------------------------------------------------------

    async def add(self, queue: str, agent: str, penalty: int = 0) -> None:
        self._queue(queue)
        self._agent(agent)
        if not 0 <= penalty <= MAX_PENALTY:
            raise CallcenterError("bad-penalty", f"penalty must be 0 to {MAX_PENALTY}, not {penalty}",
                                  {"penalty": penalty})
        if agent in self.state.members[queue]:
            if self.state.members[queue][agent] == penalty:
                return
            await self.ami.send(actions.queue_penalty(queue, _interface(agent), penalty))
        else:
            await self._add(queue, agent, penalty)
        self.state.members[queue][agent] = penalty
        self._save()

    async def remove(self, queue: str, agent: str) -> None:
        self._queue(queue)
        self._agent(agent)
        if agent not in self.state.members[queue]:
            raise CallcenterError("not-a-member", f"agent '{agent}' is not in queue '{queue}'",
                                  {"queue": queue, "agent": agent})
        reply = await self.ami.send(actions.queue_remove(queue, _interface(agent)))
        if not reply.ok and "Not there" not in reply.message:  # already gone is fine
            raise CallcenterError("ami-action-failed", f"Asterisk refused to remove {agent} from {queue}: "
                                  f"{reply.message}", {"queue": queue, "agent": agent})
        del self.state.members[queue][agent]
        self._save()

    async def pause(self, agent: str, reason: str, queue: str = "") -> None:
        """Pause an agent in all its queues, or in one; the reason is kept (and survives restarts).

        `reason`: text, 1-255 characters, no control characters. Errors: `unknown-agent`,
        `unknown-queue`, `not-a-member`, `missing-reason`, `invalid-text` (all checked before
        anything is stored or sent), AmiError."""
        if not isinstance(reason, str):
            raise actions.InvalidText("pause reason", repr(reason), "must be text")
        if reason.strip():
            actions.text(reason.strip(), "pause reason", actions.MAX_REASON)
        self._agent(agent)
        if queue:
            self._queue(queue)
            if agent not in self.state.members[queue]:
                raise CallcenterError("not-a-member", f"agent '{agent}' is not in queue '{queue}'",
                                      {"queue": queue, "agent": agent})
        if not reason.strip():
            raise CallcenterError("missing-reason", "a pause needs a reason (e.g. --reason lunch)")
        if agent in self.state.paused:
            await self._pause(agent, False, "", self.state.paused[agent]["queue"])
        await self._pause(agent, True, reason.strip(), queue)
        self.state.paused[agent] = {"reason": reason.strip(), "queue": queue}
        self._save()

    async def unpause(self, agent: str) -> None:
        self._agent(agent)
        pause = self.state.paused.pop(agent, None)
        if pause is not None:
            await self._pause(agent, False, "", pause["queue"])
        self._save()

    def memberships(self, agent: str) -> dict[str, int]:
        return {q: m[agent] for q, m in self.state.members.items() if agent in m}

    def describe(self) -> dict[str, Any]:
        return {"members": self.state.members, "paused": self.state.paused}

