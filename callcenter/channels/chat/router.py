"""Chat routing over time (docs/chat.md, "Who takes a chat" and "Agents"): the desk's task that
hands waiting chats to agents by the rules of rules.py, puts back in the queue the chats of an
agent whose pages are all gone for `chat.agent_grace_seconds` (offered to them first when they
return), ends a chat with no message and no visitor page for `chat.idle_end_minutes`, and tells
waiting visitors their place.

A round runs whenever something changed (the desk's `kicked`: a new chat, an end, a transfer, an
agent's state or pages on the bus) and at least every TICK seconds (grace and idle times), holding
the desk's `routing` lock for the whole round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from callcenter.channels.chat import rules
from callcenter.channels.chat.desk import ChatDesk
from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError
from callcenter.tickets.chats import ChatEnded, UnknownChat

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between the router's checks of grace and idle times
EVENTS = (ev.AgentStateChanged, ev.CallEnded, ev.PagesChanged)  # what moves an agent's capacity


class ChatRouter:
    """The rounds of chat routing on one desk; see the module's docstring."""

    def __init__(self, desk: ChatDesk) -> None:
        self.desk = desk

    def on_event(self, event: Any) -> None:
        """Inline bus subscriber (of EVENTS): agents' states and pages move capacity."""
        if isinstance(event, EVENTS):
            self.desk.kick()

    async def run(self) -> None:
        """Route whenever something changed, and at least every second (grace and idle times)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.desk.kicked.wait(), TICK)
            self.desk.kicked.clear()
            try:
                await self.route()
            except CallcenterError as exc:  # the store away for a moment: the next round tries again
                log.warning("chat routing: %s", exc)
            except Exception:  # a Python error in routing must not stop the chats (docs/design.md#11)
                log.exception("chat routing failed; trying again in a second")

    async def route(self) -> None:
        """One round: lost and silent chats first, then assignments, then waiting visitors' places.
        Errors: the store's (the round stops; the next one tries again)."""
        async with self.desk.routing:
            config, now = self.desk.config(), self.desk.clock()
            await self._reclaim(config, now)
            await self._assign(config, now)
            self._tell_places()

    async def _reclaim(self, config: Config, now: float) -> None:
        """Requeue the chats of agents gone past their grace; end the chats silent too long."""
        desk = self.desk
        online = desk.pages()
        for agent in list(desk.away_since):
            if agent in online:
                del desk.away_since[agent]
        for chat in list(desk.live.values()):
            if chat["state"] == "active" and chat["agent"] not in online:
                since = desk.away_since.setdefault(chat["agent"], now)
                if rules.lost(since, now, config.chat.agent_grace_seconds):
                    await self._requeue_lost(chat)
            if rules.idle(desk.last_activity.get(chat["id"], now), now, config.chat.idle_end_minutes,
                          bool(desk.sinks.get(chat["visitor"]))):
                await desk.end_chat(chat["id"], "system: idle", "The chat ended after a long silence.")

    async def _requeue_lost(self, chat: dict[str, Any]) -> None:
        agent = chat["agent"]
        log.info("chat #%s: %s has had no page open for a while; back in the %s queue", chat["id"], agent,
                 chat["queue"])
        moved = await self.desk.chats.requeue(chat["id"], chat["queue"])
        self.desk.prefer[chat["id"]] = agent
        self.desk.keep(moved)
        await self.desk.announce("waiting", moved, None, agent)

    async def _assign(self, config: Config, now: float) -> None:
        desk = self.desk
        skills = {name: q.skill for name, q in config.queues.items()}
        for chat_id, agent in rules.route(desk.waiting(), desk.seats(), skills, config.chat.max_per_agent,
                                          config.chat.max_while_on_call):
            with contextlib.suppress(ChatEnded, UnknownChat):  # ended meanwhile
                chat = await desk.chats.assign(chat_id, agent)
                desk.keep(chat)
                desk.last_assigned[agent] = now
                desk.prefer.pop(chat_id, None)
                await desk.say_system(chat, f"{desk.display_name(agent)} joined the chat.")
                await desk.announce("assigned", chat, None)
                desk.to_visitor(chat["visitor"], {"type": "chat", "chat": desk.for_visitor(chat)})

    def _tell_places(self) -> None:
        desk = self.desk
        places = rules.positions(desk.waiting())
        for chat_id in [c for c in desk.told_position if c not in places]:
            del desk.told_position[chat_id]
        for chat_id, place in rules.to_tell(places, desk.told_position).items():
            desk.told_position[chat_id] = place
            chat = desk.live[chat_id]
            desk.to_visitor(chat["visitor"], {"type": "chat", "chat": desk.for_visitor(chat)})
