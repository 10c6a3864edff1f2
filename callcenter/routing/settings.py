"""Settings of routing: the queues (`queues:`, app_queue's), the agents (`agents:`) and how agents
are handled across queues (`routing:`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from callcenter.core.config import Locator
from callcenter.core.endpoints import BROWSER_SUFFIX

# All of app_queue's strategies (Asterisk 22 queues.conf).
QUEUE_STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom")
# Checked with fullmatch: `$` would let a trailing newline through.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
EXTENSION = re.compile(r"[0-9]{2,8}")
# A display name (caller ID name, DID name): no quote, angle bracket, semicolon (a comment in
# Asterisk's config) or backslash.
DISPLAY = re.compile(r'[^";<>\\]{0,80}')
# A sound or music class name: Asterisk's own names, relative, no "..".
SOUND = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*")


@dataclass(frozen=True)
class QueueSettings:
    """An app_queue queue."""

    strategy: str = "ringall"
    ring_timeout: int = 15  # seconds an agent's phone rings before the next try
    retry: int = 2  # seconds between tries
    wrapup: int = 0  # seconds after a call before the agent is offered the next one
    music: str = "default"  # music on hold class
    weight: int = 0  # an agent in several queues is offered the heavier queue's callers first
    announce_position: bool = False  # tell waiting callers their position, every 30 s
    announce_holdtime: bool = False  # ... and the expected wait
    join_empty: bool = True  # callers may join while no agent is logged in
    leave_when_empty: bool = False  # callers are sent on when the last agent logs out
    skill: str = ""  # agents with this skill get a penalty from their level (10 - level)
    callback: bool = False  # waiting callers may press * to hang up, keep their place and be called back
    record: bool = False  # answered calls are recorded (MixMonitor, WAV) and linked to the interaction
    calendar: str = ""  # the business calendar (config `calendars:`) its tickets' SLAs count in; "" 24/7


@dataclass(frozen=True)
class AgentSettings:
    """An agent: a PJSIP endpoint of the same name, reachable at its extension."""

    extension: str
    full_name: str = ""
    queues: tuple[str, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)  # skill → level 1 (basic) .. 10 (expert)


@dataclass(frozen=True)
class SupervisorSettings:
    """A supervisor's phone (`supervisors:`): a PJSIP endpoint of the same name, its password in
    the secrets file; rung to monitor a call (docs/call-control.md). Not a queue member."""

    extension: str
    full_name: str = ""


@dataclass(frozen=True)
class RoutingSettings:
    """How agents are handled across queues."""

    auto_pause_after: int = 2  # missed offers in a row before an agent is paused (0: never)
    service_level_seconds: int = 20  # answered within this many seconds counts for the service level
    callback_attempts: int = 3  # tries to call a customer back before the request is recorded as failed
    callback_retry_seconds: int = 60  # between those tries
    # The inbox (callcenter/inbox/): work items (tickets waiting for an answer) offered to agents.
    max_open_items: int = 5  # an agent's capacity: items held or offered, chats and a call count against it
    chat_counts_as: int = 1  # one live chat takes this much of it
    call_counts_as: int = 5  # a call (ringing or talking) takes this much: by default no new offer during a call
    offer_seconds: int = 30  # an offer not accepted by then goes to the next agent
    vip_tags: tuple[str, ...] = ("vip",)  # customers with one of these tags go first
    # A monitored call hears nothing by default; where the law wants the parties told, a beep every
    # this many seconds while a supervisor monitors (0: none).
    monitor_beep_seconds: int = 0


def check_routing(routing: RoutingSettings, loc: Locator) -> None:
    for key, value, low, high in (("auto_pause_after", routing.auto_pause_after, 0, 100),
                                  ("service_level_seconds", routing.service_level_seconds, 1, 3600),
                                  ("callback_attempts", routing.callback_attempts, 1, 20),
                                  ("callback_retry_seconds", routing.callback_retry_seconds, 1, 86400),
                                  ("max_open_items", routing.max_open_items, 1, 100),
                                  ("chat_counts_as", routing.chat_counts_as, 0, 100),
                                  ("call_counts_as", routing.call_counts_as, 0, 100),
                                  ("offer_seconds", routing.offer_seconds, 5, 3600),
                                  ("monitor_beep_seconds", routing.monitor_beep_seconds, 0, 3600)):
        loc.check_range(("routing", key), value, low, high)
    for i, tag in enumerate(routing.vip_tags):
        if not isinstance(tag, str) or not 0 < len(tag) <= 40 or tag != tag.strip().lower():
            raise loc.error(("routing", "vip_tags", str(i)), f"'{tag}' must be a lower-case tag of 1 to 40 characters",
                            "bad-value")


def check_queues(queues: Mapping[str, QueueSettings], loc: Locator) -> None:
    for name, queue in queues.items():
        if not NAME.fullmatch(name):
            raise loc.error(("queues", name), f"queue name '{name}' must be lower-case letters, digits, - or _",
                            "bad-name")
        for key, value, low, high in (("ring_timeout", queue.ring_timeout, 1, 600), ("retry", queue.retry, 0, 600),
                                      ("wrapup", queue.wrapup, 0, 3600), ("weight", queue.weight, 0, 1000)):
            loc.check_range(("queues", name, key), value, low, high)
        if not SOUND.fullmatch(queue.music):
            raise loc.error(("queues", name, "music"), f"'{queue.music}' is not a music class name", "bad-value")
        if queue.strategy not in QUEUE_STRATEGIES:
            raise loc.error(("queues", name, "strategy"),
                            f"unknown strategy '{queue.strategy}' (one of: {', '.join(QUEUE_STRATEGIES)})",
                            "unknown-strategy")


def check_agents(agents: Mapping[str, AgentSettings], queues: Mapping[str, QueueSettings], loc: Locator,
                 supervisors: Mapping[str, SupervisorSettings] | None = None) -> None:
    """Agents (and supervisors' phones: one namespace of endpoints and extensions)."""
    extensions: dict[str, str] = {}
    for name, supervisor in (supervisors or {}).items():
        section = "supervisors"
        if not NAME.fullmatch(name):
            raise loc.error((section, name), f"supervisor name '{name}' must be lower-case letters, digits, - or _",
                            "bad-name")
        if name in agents:
            raise loc.error((section, name), f"'{name}' is an agent's name too", "duplicate-name")
        if not DISPLAY.fullmatch(supervisor.full_name):
            raise loc.error((section, name, "full_name"), "a name may not hold quotes, < >, ; or \\ and is at most "
                            "80 characters", "bad-value")
        if not EXTENSION.fullmatch(supervisor.extension) or supervisor.extension in extensions:
            raise loc.error((section, name, "extension"), f"extension '{supervisor.extension}' must be 2-8 digits, "
                            "not another's", "bad-extension")
        extensions[supervisor.extension] = name
    for name, agent in agents.items():
        if not NAME.fullmatch(name):
            raise loc.error(("agents", name), f"agent name '{name}' must be lower-case letters, digits, - or _",
                            "bad-name")
        if name.endswith(BROWSER_SUFFIX):  # the agent's browser softphone is the endpoint <name>-webrtc
            raise loc.error(("agents", name), f"agent name '{name}' may not end with '{BROWSER_SUFFIX}'", "bad-name")
        if not DISPLAY.fullmatch(agent.full_name):
            raise loc.error(("agents", name, "full_name"), "a name may not hold quotes, < >, ; or \\ and is at most "
                            "80 characters", "bad-value")
        if not EXTENSION.fullmatch(agent.extension):
            raise loc.error(("agents", name, "extension"), f"extension '{agent.extension}' must be 2-8 digits",
                            "bad-extension")
        if agent.extension in extensions:
            raise loc.error(("agents", name, "extension"),
                            f"extension {agent.extension} is already agent '{extensions[agent.extension]}'s",
                            "duplicate-extension")
        extensions[agent.extension] = name
        for i, member_of in enumerate(agent.queues):
            if member_of not in queues:
                raise loc.error(("agents", name, "queues", str(i)), f"unknown queue '{member_of}'", "unknown-queue")
        for skill, level in agent.skills.items():
            if not 1 <= level <= 10:
                raise loc.error(("agents", name, "skills", skill), f"skill level {level} must be 1 to 10", "bad-level")
