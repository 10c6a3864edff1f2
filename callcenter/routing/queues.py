"""Queue membership and pauses: the controller owns them, Asterisk's app_queue carries them out.

Members are dynamic app_queue members (QueueAdd), never static ones, so they can be changed live.
Who is in which queue with which penalty, and who is paused for what reason, is kept in the
ticket store (document `routing`; without a store, `<runtime>/routing.json`) and pushed back
into Asterisk each time the AMI connection comes up: an Asterisk restart loses no membership and
no pause reason. The first start takes the memberships of callcenter.yaml.

Each agent's member interface is the phone they chose (`phones`, kept the same way): the desk
phone `PJSIP/<agent>` (the default) or the browser's softphone `PJSIP/<agent>-webrtc`
(core/endpoints.py, docs/softphone.md). Switching re-adds the agent's memberships with the other
interface, penalties and pauses kept.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.ami import actions
from callcenter.ami.port import AmiPort
from callcenter.config import Config
from callcenter.core.endpoints import PHONES, Phone, phone_interface
from callcenter.core.errors import CallcenterError, Conflict, Refused, UnknownAgent, UnknownQueue, Upstream
from callcenter.core.keeper import Keeper

log = logging.getLogger(__name__)

MAX_PENALTY = 100
DOCUMENT = "routing"  # the store's document that holds the routing state (routing.json's text)


@dataclass
class RoutingState:
    members: dict[str, dict[str, int]] = field(default_factory=dict)  # queue → agent → penalty
    # agent → {"reason": why, "queue": one queue, or "" for all its queues}
    paused: dict[str, dict[str, str]] = field(default_factory=dict)
    # agent → the phone queue calls ring: "browser"; an agent not here uses the desk phone. Kept for
    # agents the config does not have (now) too: harmless, and back if they come back.
    phones: dict[str, Phone] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> "RoutingState":
        members: dict[str, dict[str, int]] = {q: {} for q in config.queues}
        for name, agent in config.agents.items():
            for q in agent.queues:
                members[q][name] = skill_penalty(config, q, name)
        return cls(members)

    # Memberships and pauses of agents and queues the config does not have (now): kept, written to
    # routing.json and taken back if they come back (an edit that lost an agent, then fixed), never
    # put into Asterisk meanwhile.
    kept_members: dict[str, dict[str, int]] = field(default_factory=dict)
    kept_paused: dict[str, dict[str, str]] = field(default_factory=dict)

    def reconcile(self, config: Config) -> None:
        """Set aside queues and agents that are not in the config; take back the ones that are again."""
        every = {q: {**self.kept_members.get(q, {}), **self.members.get(q, {})}
                 for q in {*self.members, *self.kept_members}}
        paused = {**self.kept_paused, **self.paused}
        self.members = {q: {a: p for a, p in every.get(q, {}).items() if a in config.agents} for q in config.queues}
        self.kept_members = {q: kept for q, m in every.items()
                             if (kept := {a: p for a, p in m.items()
                                          if q not in config.queues or a not in config.agents})}
        self.paused = {a: r for a, r in paused.items() if a in config.agents}
        self.kept_paused = {a: r for a, r in paused.items() if a not in config.agents}

    def saved(self) -> dict[str, Any]:
        members = {q: {**self.kept_members.get(q, {}), **self.members.get(q, {})}
                   for q in {*self.members, *self.kept_members}}
        return {"members": members, "paused": {**self.kept_paused, **self.paused}, "phones": dict(self.phones)}


def skill_penalty(config: Config, queue: str, agent: str) -> int:
    """Skills map to penalties: in a queue that wants a skill, the more skilled agent (level 1-10) gets
    the lower penalty (10 - level), so app_queue offers experts first; without the skill, 10."""
    skill = config.queues[queue].skill
    if not skill:
        return 0
    return 10 - config.agents[agent].skills.get(skill, 0)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def phone_choice(value: object) -> Phone:
    """'desk' | 'browser' from outside (REST, CLI, the stored state). Errors: Refused `bad-phone`."""
    if value not in PHONES:
        raise Refused("bad-phone", f"phone must be one of {', '.join(PHONES)}, not {str(value)[:20]!r}")
    return value  # checked: one of PHONES


class QueueControl:
    """Queue memberships and pauses: commands (REST/CLI), the kept state, and restore into app_queue."""

    def __init__(self, config: Config, ami: AmiPort, state_file: Path, keeper: Keeper | None = None,
                 stored: str | None = None) -> None:
        """`keeper` (the store): the state is the store's document `routing` (its text: `stored`,
        None if the store has none yet), written through the keeper; else the file `state_file`."""
        self.config = config
        self.ami = ami
        self.state_file = state_file
        self.keeper, self._stored = keeper, stored
        self.state = self._load()
        self._save()  # what was dropped or taken from callcenter.yaml is written down at once

    # -- persistence ------------------------------------------------------------------------

    def _load(self) -> RoutingState:
        """routing.json, checked entry by entry like live commands (it is replayed into Asterisk at
        every start): a bad entry is dropped and reported, the others are kept. Agents and queues
        the file has never seen (added to callcenter.yaml while the controller was down) take
        their memberships from callcenter.yaml."""
        try:
            if self.keeper is not None:
                if self._stored is None:
                    raise FileNotFoundError(DOCUMENT)
                raw = self._stored
            else:
                raw = self.state_file.read_text(encoding="utf-8")
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            state = RoutingState.from_config(self.config)
            state.reconcile(self.config)
            return state
        except (ValueError, OSError) as exc:
            self._set_aside(f"unreadable ({exc})")
            state = RoutingState.from_config(self.config)
            state.reconcile(self.config)
            return state
        state, problems = RoutingState(), []
        for queue, members in _mapping(data.get("members")).items():
            for agent, penalty in _mapping(members).items():
                if isinstance(penalty, int) and not isinstance(penalty, bool) and 0 <= penalty <= MAX_PENALTY:
                    state.members.setdefault(str(queue), {})[str(agent)] = penalty
                else:
                    problems.append(f"members.{queue}.{agent}: penalty {penalty!r}")
        for agent, pause in _mapping(data.get("paused")).items():
            try:
                pause = _mapping(pause)
                state.paused[str(agent)] = {"reason": actions.pause_reason(pause.get("reason"), empty=False),
                                            "queue": actions.text(pause.get("queue", ""), "queue", actions.MAX_NAME)}
            except CallcenterError as exc:
                problems.append(f"paused.{agent}: {exc}")
        for agent, phone in _mapping(data.get("phones")).items():
            try:
                if phone_choice(phone) == "browser":
                    state.phones[str(agent)] = "browser"
            except CallcenterError as exc:
                problems.append(f"phones.{agent}: {exc}")
        known_agents = set(data.get("agents") or []) or set(state.paused) | {a for m in state.members.values()
                                                                             for a in m}
        known_queues = set(data.get("queues") or []) or set(state.members)
        for queue, members in RoutingState.from_config(self.config).members.items():
            for agent, penalty in members.items():
                if queue not in known_queues or agent not in known_agents:
                    state.members.setdefault(queue, {})[agent] = penalty
        if problems:
            self._set_aside("; ".join(problems), copy=raw)
        state.reconcile(self.config)
        return state

    def _set_aside(self, why: str, copy: str | None = None) -> None:
        """Never drop a state file silently: keep it as routing.broken and say what was wrong."""
        if self.keeper is not None:
            self.keeper.put({"id": f"{DOCUMENT}.broken", "body": copy if copy is not None else self._stored or ""})
            log.error("routing state in the store: %s; the text is kept as the document %s.broken", why, DOCUMENT)
            return
        aside = self.state_file.with_suffix(".broken")
        if copy is None:
            os.replace(self.state_file, aside)
        else:
            aside.write_text(copy, encoding="utf-8")
        log.error("routing state %s: %s; the file is kept as %s", self.state_file, why, aside)

    def _save(self) -> None:
        known_agents = {*self.config.agents, *self.state.kept_paused,
                        *(a for m in self.state.kept_members.values() for a in m)}
        text = json.dumps({**self.state.saved(), "agents": sorted(known_agents),
                           "queues": sorted({*self.config.queues, *self.state.kept_members})}, indent=2, sort_keys=True)
        if self.keeper is not None:
            self.keeper.put({"id": DOCUMENT, "body": text})
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.state_file)

    async def flush(self) -> None:
        """Wait until the state is written (a command answers only once its change is durable)."""
        if self.keeper is not None:
            await self.keeper.flush()

    def apply_config(self, config: Config) -> None:
        """New agents and queues (config reload): what was never seen takes the config's
        memberships; what was set aside comes back as it was; removed agents and queues are set
        aside (kept, not restored). `restore()` then makes Asterisk match."""
        kept_agents = {*self.state.kept_paused, *(a for m in self.state.kept_members.values() for a in m)}
        for queue, members in RoutingState.from_config(config).members.items():
            for agent, penalty in members.items():
                # Only what is new takes the config's word; the rest keeps what was changed live.
                seen = (queue in self.config.queues or queue in self.state.kept_members) and \
                    (agent in self.config.agents or agent in kept_agents)
                if not seen:
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

    def phone(self, agent: str) -> Phone:
        """The phone the agent chose: 'desk' (the default) or 'browser'."""
        return self.state.phones.get(agent, "desk")

    def interface(self, agent: str) -> str:
        """The device that rings for the agent (queue offers, click-to-call): PJSIP/<agent> or
        PJSIP/<agent>-webrtc."""
        return phone_interface(agent, self.phone(agent))

    def _interface(self, agent: str) -> str:
        return self.interface(agent)

    # -- Asterisk ---------------------------------------------------------------------------

    async def restore(self) -> actions.QueueStatus:
        """Make app_queue's members and pauses what our state says (after any (re)connect).
        Returns Asterisk's queue status as it was read (for the presence rebuild).
        Errors: AmiError (the caller retries)."""
        status = await self.ami.send(actions.queue_status())
        present: dict[str, set[str]] = {}
        interfaces = {(m.queue, m.agent): m.interface for m in status.members}
        for m in status.members:
            if m.agent in self.config.agents and m.interface not in ("", self._interface(m.agent)) and \
                    m.agent in self.state.members.get(m.queue, {}):
                # the agent switched phones while Asterisk kept the other one: added back below
                await self.ami.send(actions.queue_remove(m.queue, m.interface))
                continue
            present.setdefault(m.queue, set()).add(m.agent)
        for queue, members in self.state.members.items():
            for agent, penalty in members.items():
                if agent not in present.get(queue, set()):
                    await self._add(queue, agent, penalty)
            for stale in present.get(queue, set()) - set(members):
                await self.ami.send(actions.queue_remove(queue, interfaces.get((queue, stale)) or
                                                        self._interface(stale)))
        for agent, pause in self.state.paused.items():
            await self._pause(agent, True, pause["reason"], pause["queue"])
        for m in status.members:  # paused in Asterisk, not by us (e.g. while this controller was down)
            if m.paused and m.agent in self.config.agents and not self.paused_in(m.agent, m.queue):
                await self.ami.send(actions.queue_pause(self._interface(m.agent), False, "", m.queue))
        log.info("queues restored: %s; paused: %s",
                 ", ".join(f"{q}={sorted(m)}" for q, m in self.state.members.items()),
                 ", ".join(f"{a} ({p['reason']})" for a, p in self.state.paused.items()) or "nobody")
        return await self.ami.send(actions.queue_status()) if self.state.members else status

    async def _add(self, queue: str, agent: str, penalty: int) -> None:
        reply = await self.ami.send(actions.queue_add(queue, self._interface(agent), member_name=agent, penalty=penalty,
                                                      paused=self.paused_in(agent, queue),
                                                      reason=self.state.paused.get(agent, {}).get("reason", "")))
        if not reply.ok and "Already there" not in reply.message:  # already in: what we want
            raise Upstream("ami-action-failed", f"Asterisk refused to add {agent} to {queue}: "
                                  f"{reply.message}", {"queue": queue, "agent": agent})

    def paused_in(self, agent: str, queue: str) -> bool:
        pause = self.state.paused.get(agent)
        return pause is not None and pause["queue"] in ("", queue)

    async def _pause(self, agent: str, paused: bool, reason: str = "", queue: str = "") -> None:
        if not any(agent in m for q, m in self.state.members.items() if queue in ("", q)):
            return  # app_queue pauses members; an agent in no queue has nothing to pause
        await self.ami.send(actions.queue_pause(self._interface(agent), paused, reason, queue))

    # -- commands (REST / CLI) --------------------------------------------------------------

    async def add(self, queue: str, agent: str, penalty: int = 0) -> None:
        self._queue(queue)
        self._agent(agent)
        if not 0 <= penalty <= MAX_PENALTY:
            raise Refused("bad-penalty", f"penalty must be 0 to {MAX_PENALTY}, not {penalty}",
                                  {"penalty": penalty})
        if agent in self.state.members[queue]:
            if self.state.members[queue][agent] == penalty:
                return
            await self.ami.send(actions.queue_penalty(queue, self._interface(agent), penalty))
        else:
            await self._add(queue, agent, penalty)
        self.state.members[queue][agent] = penalty
        self._save()
        await self.flush()

    async def remove(self, queue: str, agent: str) -> None:
        self._queue(queue)
        self._agent(agent)
        if agent not in self.state.members[queue]:
            raise Conflict("not-a-member", f"agent '{agent}' is not in queue '{queue}'",
                                  {"queue": queue, "agent": agent})
        reply = await self.ami.send(actions.queue_remove(queue, self._interface(agent)))
        if not reply.ok and "Not there" not in reply.message:  # already gone is fine
            raise Upstream("ami-action-failed", f"Asterisk refused to remove {agent} from {queue}: "
                                  f"{reply.message}", {"queue": queue, "agent": agent})
        del self.state.members[queue][agent]
        self._save()
        await self.flush()

    async def pause(self, agent: str, reason: str, queue: str = "") -> None:
        """Pause an agent in all its queues, or in one; the reason is kept (and survives restarts).

        `reason`: text, 1 to 79 characters and bytes (docs/asterisk.md#pause-reason), no control
        characters. Errors: `unknown-agent`, `unknown-queue`, `not-a-member`, `missing-reason`, `invalid-text` (all checked before
        anything is stored or sent), AmiError."""
        if not isinstance(reason, str):
            raise actions.InvalidText("pause reason", repr(reason), "must be text")
        if reason.strip():
            actions.pause_reason(reason.strip())
        self._agent(agent)
        if queue:
            self._queue(queue)
            if agent not in self.state.members[queue]:
                raise Conflict("not-a-member", f"agent '{agent}' is not in queue '{queue}'",
                                      {"queue": queue, "agent": agent})
        if not reason.strip():
            raise Refused("missing-reason", "a pause needs a reason (e.g. --reason lunch)")
        if agent in self.state.paused:
            await self._pause(agent, False, "", self.state.paused[agent]["queue"])
        await self._pause(agent, True, reason.strip(), queue)
        self.state.paused[agent] = {"reason": reason.strip(), "queue": queue}
        self._save()
        await self.flush()

    async def unpause(self, agent: str) -> None:
        self._agent(agent)
        pause = self.state.paused.pop(agent, None)
        if pause is not None:
            await self._pause(agent, False, "", pause["queue"])
        self._save()
        await self.flush()

    async def set_phone(self, agent: str, phone: Phone) -> None:
        """Queue calls ring `phone` from now on: each membership is removed and added back with the
        other interface (penalty and pause kept). A call ringing the old phone still rings it.
        Errors: `unknown-agent`, `bad-phone`, AmiError (the state is then unchanged: `restore()`
        after a reconnect makes Asterisk match it)."""
        self._agent(agent)
        phone = phone_choice(phone)
        old = self._interface(agent)
        if phone == self.phone(agent):
            return
        if phone == "browser":
            self.state.phones[agent] = "browser"
        else:
            self.state.phones.pop(agent, None)
        try:
            for queue, members in self.state.members.items():
                if agent in members:
                    await self.ami.send(actions.queue_remove(queue, old))
                    await self._add(queue, agent, members[agent])
        except BaseException:
            if phone == "browser":
                self.state.phones.pop(agent, None)
            else:
                self.state.phones[agent] = "browser"
            raise
        self._save()
        await self.flush()
        log.info("agent %s: queue calls ring the %s phone (%s)", agent, phone, self._interface(agent))

    def memberships(self, agent: str) -> dict[str, int]:
        return {q: m[agent] for q, m in self.state.members.items() if agent in m}

    def describe(self) -> dict[str, Any]:
        return {"members": self.state.members, "paused": self.state.paused}

