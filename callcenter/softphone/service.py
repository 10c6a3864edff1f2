"""The browser softphone's server side: what the page needs to register (docs/softphone.md), and
the agent's choice of phone, desk or browser.

The page registers the endpoint `<agent>-webrtc` (asterisk-config/pjsip.conf.j2) over Asterisk's
own WebSocket (`sip.ws_url`, default ws://<sip.bind>:<sip.ws_port>/ws) with the agent's SIP
password from the secrets file. Queue offers, click-to-call and presence follow the phone the
agent chose (routing/queues.py `set_phone`, routing/presence.py `set_phone`): one phone rings, and
the agent's state is that phone's, whichever it is.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from callcenter.config import Config
from callcenter.core.endpoints import Phone, phone_endpoint
from callcenter.core.errors import Conflict, UnknownAgent
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl, phone_choice

log = logging.getLogger(__name__)


def with_softphone(csp: str, ws_url: str) -> str:
    """A Content-Security-Policy whose connect-src also allows the softphone's WebSocket origin
    (ws://127.0.0.1:8088 for ws://127.0.0.1:8088/ws); `csp` as it was if there is none."""
    if not ws_url:
        return csp
    parts = urlsplit(ws_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    directives = [d.strip() for d in csp.split(";")]
    return "; ".join(f"{d} {origin}" if d.startswith("connect-src") else d for d in directives)


class Softphone:
    def __init__(self, config: Callable[[], Config], queues: QueueControl, presence: Presence,
                 publish: Callable[[Any], Awaitable[None]], clock: Callable[[], float],
                 sip_password: Callable[[str], str]) -> None:
        """`sip_password(agent)`: the agent's SIP password (secrets.yaml), '' if none yet."""
        self.config, self.queues, self.presence, self.publish = config, queues, presence, publish
        self.clock, self.sip_password = clock, sip_password
        for agent, phone in queues.state.phones.items():  # the choice kept in the store, at start
            presence.set_phone(agent, phone, clock())

    def _agent(self, agent: str) -> None:
        agents = self.config().agents
        if agent not in agents:
            raise UnknownAgent(agent, list(agents))

    def settings(self, agent: str) -> dict[str, Any]:
        """What the page's softphone registers with: {agent, phone ('desk'|'browser'), ws_url,
        uri ('sip:agent1-webrtc@127.0.0.1'), username, password, display_name, ice_servers ([])}.
        Errors: `unknown-agent`, `softphone-off` (sip.ws_port is 0), `no-password` (not generated yet)."""
        self._agent(agent)
        config = self.config()
        if not config.sip.softphone_url:
            raise Conflict("softphone-off", "the browser softphone is off (sip.ws_port: 0 in callcenter.yaml)")
        password = self.sip_password(agent)
        if not password:
            raise Conflict("no-password", f"{agent} has no SIP password yet: restart or reload the controller")
        username = phone_endpoint(agent, "browser")
        domain = config.sip.bind if ":" not in config.sip.bind else f"[{config.sip.bind}]"
        return {"agent": agent, "phone": self.queues.phone(agent), "ws_url": config.sip.softphone_url,
                "uri": f"sip:{username}@{domain}", "username": username, "password": password,
                "display_name": config.agents[agent].full_name or agent, "ice_servers": []}

    async def choose(self, agent: str, phone: str) -> Phone:
        """From now on queue calls and click-to-call ring `phone`, and the agent's state is that
        phone's. Errors: `unknown-agent`, `bad-phone`, AMI errors (nothing changed then)."""
        self._agent(agent)
        chosen = phone_choice(phone)
        await self.queues.set_phone(agent, chosen)
        for event in self.presence.set_phone(agent, chosen, self.clock()):
            await self.publish(event)
        return chosen
