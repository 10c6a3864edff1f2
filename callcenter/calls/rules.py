"""Pure rules of live call control (docs/call-control.md): what a transfer or conference target
names, and which of a call's channels is whose.

A target is an agent (`agent2`, or their extension `1002`), a queue (`queue:sales`) or a number
through the trunk in E.164 (`+8613800138000`: a plus, then 7 to 15 digits, ITU-T E.164). Each maps
to an extension of the rendered [cc-transfer] context (asterisk-config/extensions.conf.j2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Collection, Literal, Mapping

from callcenter.core.endpoints import endpoint_of_channel
from callcenter.core.errors import NotFound, Refused, UnknownAgent, UnknownQueue
from callcenter.core.events import AgentLeg, CallRecord
from callcenter.core.text import first_control

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MONITOR_MODES = ("listen", "whisper", "barge")
# ChanSpy's own keys (its `d` option): the digit that switches a supervisor to each mode.
MODE_DIGIT = {"listen": "4", "whisper": "5", "barge": "6"}


@dataclass(frozen=True)
class Target:
    kind: Literal["agent", "queue", "number"]
    name: str  # the agent, the queue, or the number
    exten: str  # its extension in [cc-transfer]

    @property
    def label(self) -> str:
        return f"queue:{self.name}" if self.kind == "queue" else self.name


def parse_target(text: str, agents: Mapping[str, str], queues: Collection[str], *, trunk: bool) -> Target:
    """`agents`: name → extension. Errors: `bad-target` (empty or malformed), `unknown-agent`,
    `unknown-queue`, `no-outbound-trunk` (a number, and no trunk.host to send it to)."""
    value = text.strip()
    if not value or len(value) > 64 or first_control(text) is not None:
        raise Refused("bad-target", "a target is an agent (name or extension), queue:NAME or +E164 number")
    if value.startswith("queue:"):
        queue = value[6:]
        if queue not in queues:
            raise UnknownQueue(queue, list(queues))
        return Target("queue", queue, f"queue-{queue}")
    if value.startswith("+") or (value.isdigit() and value not in agents.values()):
        if not E164.fullmatch(value):
            raise Refused("bad-number", f"{value[:30]!r} is not an E.164 number (+, then 7 to 15 digits) "
                                        "nor an agent's extension")
        if not trunk:
            raise Refused("no-outbound-trunk", "numbers go out through the trunk: set trunk.host")
        return Target("number", value, value)
    by_extension = {ext: name for name, ext in agents.items()}
    name = by_extension.get(value, value)
    if name not in agents:
        raise UnknownAgent(name, list(agents))
    return Target("agent", name, name)


def live_leg(call: CallRecord, agent: str) -> AgentLeg:
    """`agent`'s answered, live leg on `call`. Errors: `not-on-call` (404)."""
    leg = next((x for x in call.legs if x.agent == agent and x.ended_at is None and x.answered_at is not None
                and x.uniqueid), None)
    if leg is None:
        raise NotFound("not-on-call", f"{agent} is not talking on call {call.call_id}")
    return leg


def owner(call: CallRecord) -> str:
    """The agent who has the customer: the earliest answered leg still live ("" if none)."""
    leg = next((x for x in call.legs if x.answered_at is not None and x.ended_at is None and x.uniqueid), None)
    return leg.agent if leg else ""


def customer_channels(call: CallRecord, people: Collection[str]) -> dict[str, str]:
    """The call's live channels that are not a person's phone (agents, supervisors) nor an
    Asterisk Local channel: the customer's (and any outside number's). uniqueid → name."""
    return {u: ch for u, ch in call.channels.items()
            if not ch.startswith("Local/") and endpoint_of_channel(ch) not in people}


def conversations(channels: Mapping[str, str], bridge_of: Callable[[str], str]) -> dict[str, str]:
    """Which of a call's channels (uniqueid → name) hear each other: channels in one bridge, and
    bridges joined by the two halves of a Local channel (`Local/…;1` and `…;2`: an attended
    transfer's consultation dials through one). uniqueid → a conversation id (one of its bridges)."""
    parent: dict[str, str] = {}

    def find(b: str) -> str:
        while parent.get(b, b) != b:
            b = parent[b]
        return b

    halves: dict[str, list[str]] = {}
    for uniqueid, channel in channels.items():
        bridge = bridge_of(uniqueid)
        if bridge and channel.startswith("Local/"):
            halves.setdefault(channel.rpartition(";")[0], []).append(bridge)
    for pair in halves.values():
        for other in pair[1:]:
            parent[find(other)] = find(pair[0])
    return {u: find(b) for u in channels if (b := bridge_of(u))}
