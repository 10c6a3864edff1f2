"""Settings of web chat (`chat:`): the widget's queue and origins, agents' capacity, limits,
canned replies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Collection, Mapping

from callcenter.core.config import Locator


@dataclass(frozen=True)
class ChatSettings:
    """Web chat (docs/chat.md)."""

    enabled: bool = True
    queue: str = ""  # the queue a widget without data-queue joins ("" = the first queue in `queues`)
    allowed_origins: tuple[str, ...] = ()  # sites that may embed the widget (scheme://host[:port]); this server always
    max_per_agent: int = 3  # chats an agent holds at once
    max_while_on_call: int = 1  # ... while their phone rings or is on a call (0: no chat during calls)
    topic: str = ""  # the ticket topic chats join ("" = the chat's queue, as calls take their DID's queue)
    max_text: int = 2000  # characters per message
    max_attachment_bytes: int = 5 * 1024 * 1024
    agent_grace_seconds: int = 60  # an agent's chats wait this long for their page to come back, then are requeued
    idle_end_minutes: int = 30  # a chat with no message and no visitor page this long is ended
    canned_replies: Mapping[str, str] = field(default_factory=dict)  # key → text, offered in the agent's reply box
    # Visitors' WebSockets per address: opened per minute and open at once (messages: 6x per minute).
    # Raise it when many visitors share one address (a company's NAT, a proxy in front).
    connections_per_address: int = 30


def check(chat: ChatSettings, queues: Collection[str], loc: Locator) -> None:
    if chat.queue and chat.queue not in queues:
        raise loc.error(("chat", "queue"), f"unknown queue '{chat.queue}' (known: {', '.join(queues)})",
                        "unknown-queue")
    for i, origin in enumerate(chat.allowed_origins):
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise loc.error(("chat", "allowed_origins", str(i)), f"'{origin[:60]}' is not an origin "
                            "(scheme://host[:port], no path)", "bad-value")
    for key, value, low, high in (("max_per_agent", chat.max_per_agent, 1, 50),
                                  ("max_while_on_call", chat.max_while_on_call, 0, 50),
                                  ("max_text", chat.max_text, 1, 20_000),
                                  ("max_attachment_bytes", chat.max_attachment_bytes, 1, 50 << 20),
                                  ("agent_grace_seconds", chat.agent_grace_seconds, 0, 3600),
                                  ("idle_end_minutes", chat.idle_end_minutes, 1, 24 * 60),
                                  ("connections_per_address", chat.connections_per_address, 1, 100_000)):
        loc.check_range(("chat", key), value, low, high)
    for key, text in chat.canned_replies.items():
        if not key.strip() or len(key) > 64 or not text.strip() or len(text) > chat.max_text:
            raise loc.error(("chat", "canned_replies", key), f"canned reply {key[:40]!r}: a key of 1 to 64 "
                            f"characters and a text of 1 to {chat.max_text}", "bad-value")
