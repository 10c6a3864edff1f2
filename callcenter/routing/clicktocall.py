"""Click-to-call from the workspace: the agent's phone rings first; when the agent answers, the
customer is dialed through the trunk, showing the hotline's number ([cc-clicktocall] in
extensions.conf). The call is `outbound`, its customer the number dialed, on the ticket it was
made from (tickets/interactions.py Calls.step `ticket_id`). Errors: `bad-number`, `unknown-agent`, AMI errors."""

from __future__ import annotations

import secrets

from callcenter.ami import actions
from callcenter.ami.port import AmiPort
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core.errors import Refused, UnknownAgent
from callcenter.routing.callbacks import dialable


async def click_to_call(ami: AmiPort, tracker: CallTracker, config: Config, agent: str, number: str,
                        ticket_id: int | None, interface: str = "") -> str:
    """Originate it; returns the agent channel's uniqueid (the call's Linkedid). `interface`: the
    agent's chosen phone (routing/queues.py `QueueControl.interface`: PJSIP/<agent>[-webrtc]);
    empty: the desk phone."""
    number = number.strip().replace(" ", "").replace("-", "")
    if not dialable(number):
        raise Refused("bad-number", f"{number[:30]!r} cannot be dialed: 3 to 20 digits, an optional leading +")
    if agent not in config.agents:
        raise UnknownAgent(agent, list(config.agents))
    channel_id = f"c2c-{agent}-{secrets.token_hex(4)}"
    tracker.expect_outbound(channel_id, agent, number, ticket_id)
    await ami.send(actions.originate(action_id=channel_id, channel=interface or f"PJSIP/{agent}", context="cc-clicktocall",
                                     exten="s", caller_id=f'"Call {number}" <{number}>',
                                     variables={"CC_C2C_NUMBER": number}, timeout_ms=30000))
    return channel_id
