"""The inbox: every pending contact of an agent's queues, most urgent first, and the offers that
bring work to the agent (docs/inbox.md; the rules are rules.py's, the items the store's
tickets/work.py).

Offers live here, in memory: the items are in the store, so a restarted controller makes its offers
again. A round (`route`) runs when something changed (a message, a voicemail, a call's end, an
agent's state or pages, an accept or decline: `on_event`) and at least every POLL seconds; offers
expire on a one-second tick. Nothing here is on the call path: voice events only kick a round.

Errors (HTTP status by kind): Forbidden `not-your-queue`, `offered-to-another`, `not-an-agent`;
NotFound `unknown-ticket`, `no-work`, `unknown-agent`; Conflict `already-taken`, `not-waiting`;
Refused `bad-view`, `bad-filter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping

from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError, Conflict, Forbidden, NotFound, Refused
from callcenter.inbox import items as shapes, rules
from callcenter.tickets.rows import SearchHit, TicketRow
from callcenter.tickets.tickets import Tickets
from callcenter.tickets.work import WORKING, StoredItem, WorkItems
from callcenter.web.roles import Principal

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between checks of offers' expiry
POLL = 5.0  # seconds between reads of the store's items when nothing kicked a round
GAP = 0.25  # seconds at least between two rounds: a burst of events makes one round, not hundreds
VIEWS = ("mine", "queues", "search")
VIEW_SIZE = 200  # items a view shows at most: the most urgent
# What can make or move a work item, or an agent's room for one.
EVENTS = (ev.MessageReceived, ev.CallStored, ev.VoicemailTranscribed, ev.ChatChanged, ev.PagesChanged,
          ev.AgentStateChanged, ev.CallbackRequested, ev.WorkChanged)

Push = Callable[[Callable[[Principal], bool], dict[str, Any]], None]
Search = Callable[..., Awaitable[list[SearchHit]]]


@dataclass(frozen=True)
class Offer:
    agent: str
    at: float  # epoch seconds
    expires: float


class Inbox:
    """The inbox of one controller: views, accept / decline / next / assign, and offer rounds."""

    def __init__(self, work: WorkItems, tickets: Tickets, config: Callable[[], Config], clock: Callable[[], float], *,
                 pages: Callable[[], set[str]], availability: Callable[[str], tuple[bool, bool]],
                 chats: Callable[[], Iterable[Mapping[str, Any]]], calls: Callable[[], list[dict[str, Any]]],
                 push: Push, publish: Callable[[Any], Awaitable[None]], search: Search | None = None,
                 watched: Callable[[], bool] = lambda: True) -> None:
        """`pages()`: agents with a page open; `availability(agent)`: (paused, on a call or ringing);
        `chats()`: the live chats (tickets/chats.py chat_dict); `calls()`: the live calls
        (CallRecord.as_dict); `push(who, message)`: to the pages of those `who` accepts;
        `search(text, **filters)`: tickets/search.py; `watched()`: some page is open (else rounds
        wait: nobody to offer to or to tell)."""
        self.work, self.tickets, self.config, self.clock = work, tickets, config, clock
        self.pages, self.availability, self.chats, self.calls = pages, availability, chats, calls
        self.push, self.publish, self.search, self.watched = push, publish, search, watched
        self.offered: dict[int, Offer] = {}
        self.declined: dict[int, set[str]] = {}
        self.missed: dict[int, set[str]] = {}
        self.last_offered: dict[str, float] = {}
        self.known: dict[int, str] = {}  # unassigned items of the last round → their queue
        self.declines_read = False  # the declines of the tickets' history are read once, at the first round
        self.kicked = asyncio.Event()
        self.rounds = self.offers_made = self.offers_expired = 0

    # -- the bus side -------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """Inline bus subscriber (of EVENTS): look again soon."""
        if isinstance(event, ev.WorkChanged) and event.reason.startswith("sla_"):
            self.push(lambda p: p.may("supervisor"), {"type": "sla", "ticket": event.ticket_id, "queue": event.queue,
                                                      "state": event.reason[4:], "at": event.at})
        self.kicked.set()

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Offer rounds until cancelled (see the module's docstring). Nobody's page open: no round
        reads the store (a burst of callers with nobody watching costs nothing here)."""
        last_read = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.kicked.wait(), TICK)
            kicked = self.kicked.is_set()
            self.kicked.clear()
            try:
                self._expire()
                now = time.monotonic()
                if self.watched() and (kicked or now - last_read >= POLL):
                    last_read = now
                    await self.route()
                    await sleep(GAP)
            except CallcenterError as exc:  # the store away for a moment: the next round tries again
                log.warning("inbox routing: %s", exc)
            except Exception:  # a Python error in routing must not stop the inbox (docs/design.md#11)
                log.exception("inbox routing failed; trying again in a second")

    def _expire(self) -> None:
        now = self.clock()
        for ticket in rules.expired({t: (o.agent, o.expires) for t, o in self.offered.items()}, now):
            offer = self.offered.pop(ticket)
            self.missed.setdefault(ticket, set()).add(offer.agent)
            self.offers_expired += 1
            self._tell(offer.agent, {"type": "inbox", "withdrawn": ticket})
            self.kicked.set()

    async def route(self) -> None:
        """One round: read the unassigned items, withdraw offers of items gone or of agents gone,
        make new offers, tell pages what arrived."""
        self.rounds += 1
        config, now = self.config(), self.clock()
        items = {w.ticket: w for w in await self.work.waiting(None)}
        if not self.declines_read:  # a restart: who declined what is in the tickets' history
            self.declined = await self.work.declines(list(items))
            self.declines_read = True
        online = self.pages()
        for ticket, offer in list(self.offered.items()):
            if ticket not in items or offer.agent not in online:
                del self.offered[ticket]
                self._tell(offer.agent, {"type": "inbox", "withdrawn": ticket})
        for forgotten in [t for t in list(self.declined) + list(self.missed) if t not in items]:
            self.declined.pop(forgotten, None)
            self.missed.pop(forgotten, None)
        arrived = {t: w.queue for t, w in items.items() if t not in self.known}
        self.known = {t: w.queue for t, w in items.items()}
        if arrived:
            queues = set(arrived.values())
            self.push(lambda p: p.may("supervisor") or self._member(config, p.agent, queues), {"type": "inbox"})
        vip = set(config.routing.vip_tags)
        waiting = rules.ranked([shapes.of_waiting(w) for t, w in items.items() if t not in self.offered], now, vip)
        seats = await self._seats(config, online)
        capacity = rules.Capacity(config.routing.max_open_items, config.routing.chat_counts_as,
                                  config.routing.call_counts_as)
        skills = {name: q.skill for name, q in config.queues.items()}
        made = rules.offers(waiting, seats, skills, capacity, self.declined, self.missed)
        shown = {i.ticket["id"]: i for i in await self.work.items([t for t, _ in made])}
        for ticket, agent in made:
            if ticket not in shown:
                continue  # gone meanwhile
            offer = Offer(agent, now, now + config.routing.offer_seconds)
            self.offered[ticket] = offer
            self.last_offered[agent] = now
            self.offers_made += 1
            self._tell(agent, {"type": "offer", "item": self._view_item(shown[ticket], config, now),
                               "expires": offer.expires, "at": now})

    async def _seats(self, config: Config, online: set[str]) -> list[rules.Seat]:
        chats: dict[str, int] = {}
        for chat in self.chats():
            if chat.get("state") == "active":
                chats[chat["agent"]] = chats.get(chat["agent"], 0) + 1
        offered: dict[str, int] = {}
        for offer in self.offered.values():
            offered[offer.agent] = offered.get(offer.agent, 0) + 1
        held = await self.work.held([a for a in config.agents if a in online])
        seats = []
        for name, agent in config.agents.items():
            paused, on_call = self.availability(name)
            seats.append(rules.Seat(name, tuple(agent.queues), dict(agent.skills), name in online, paused, on_call,
                                    chats.get(name, 0), held.get(name, 0), offered.get(name, 0),
                                    self.last_offered.get(name, 0.0)))
        return seats

    def _tell(self, agent: str, message: dict[str, Any]) -> None:
        self.push(lambda p: p.is_agent(agent), {**message, "at": message.get("at", self.clock())})

    @staticmethod
    def _member(config: Config, agent: str | None, queues: set[str]) -> bool:
        settings = config.agents.get(agent or "")
        return settings is not None and bool(queues & set(settings.queues) or "" in queues)

    # -- what people do -----------------------------------------------------------------------

    def queues_of(self, who: Principal) -> set[str] | None:
        """The queues whose items `who` sees (None: all, a supervisor). Errors: Forbidden
        `not-an-agent` (a user who is neither an agent nor a supervisor)."""
        if who.may("supervisor"):
            return None
        settings = self.config().agents.get(who.agent or "")
        if settings is None:
            raise Forbidden("not-an-agent", f"{who.name} is not an agent of the configuration")
        return set(settings.queues)

    async def view(self, who: Principal, view: str = "queues", *, text: str = "", agent: str | None = None,
                   filters: Mapping[str, str] | None = None) -> dict[str, Any]:
        """What `who` sees: `{"calls", "items", "offers"}` (docs/inbox.md for the item's shape).
        `view`: mine (their tickets and chats), queues (what nobody has in their queues), search
        (`text` over everything they may see). `agent`: a supervisor looks at that agent's view.
        `filters`: status, channel, queue, sla. Errors: Refused `bad-view`, `bad-filter`;
        Forbidden `not-your-queue`, `not-an-agent`; NotFound `unknown-agent`."""
        if view not in VIEWS:
            raise Refused("bad-view", f"no view {view!r} (views: {', '.join(VIEWS)})")
        config, now = self.config(), self.clock()
        wanted = shapes.checked_filters(filters or {}, config)
        if agent is not None and agent != who.agent:
            if not who.may("supervisor"):
                raise Forbidden("forbidden", f"{who.name} may see only their own inbox")
            if agent not in config.agents:
                raise NotFound("unknown-agent", f"no agent {agent!r}")
            me: str | None = agent
            queues: set[str] | None = set(config.agents[agent].queues)
        else:
            me, queues = who.agent, self.queues_of(who)
        if wanted.get("queue") and queues is not None and wanted["queue"] not in queues:
            raise Forbidden("not-your-queue", f"{who.name} is not in queue {wanted['queue']!r}")
        if view == "search":
            found = await self._search(text, queues, me, wanted)
            return {"calls": [], "items": found, "offers": await self._offers_of(me, config, now)}
        vip = set(config.routing.vip_tags)
        if view == "mine":
            stored = await self.work.assigned(me) if me else []
            chats = [c for c in self.chats() if c.get("state") == "active" and c.get("agent") == me]
        else:
            in_queues = queues if not wanted.get("queue") else {wanted["queue"]}
            waiting = await self.work.waiting(in_queues, channel=wanted.get("channel"), status=wanted.get("status"),
                                              sla=wanted.get("sla"))
            top = rules.ranked([shapes.of_waiting(w) for w in waiting], now, vip)[:VIEW_SIZE]
            stored = await self.work.items([i.ticket for i in top])
            chats = [c for c in self.chats() if c.get("state") == "waiting"
                     and rules.sees(queues, me, str(c.get("queue", "")), "")]
        items = [self._view_item(s, config, now) for s in stored] + [shapes.of_chat(c, now) for c in chats]
        items = [i for i in items if shapes.matches(i, wanted)]
        order = {i.ticket: n for n, i in enumerate(rules.ranked([shapes.ranking(i) for i in items], now, vip))}
        items.sort(key=lambda i: order.get(i["ticket"], 0))
        calls = [c for c in self.calls() if c.get("agent") == me
                 or (not c.get("agent") and c.get("queue") and rules.sees(queues, me, c["queue"], ""))]
        return {"calls": calls, "items": items, "offers": await self._offers_of(me, config, now)}

    async def _offers_of(self, agent: str | None, config: Config, now: float) -> list[dict[str, Any]]:
        """The items offered to `agent` now, each with its `expires` (epoch seconds); one read."""
        mine = [t for t, o in self.offered.items() if o.agent == agent]
        return [{**self._view_item(stored, config, now), "expires": self.offered[t].expires}
                for stored in await self.work.items(mine) if (t := stored.ticket["id"]) in self.offered]

    async def _search(self, text: str, queues: set[str] | None, agent: str | None,
                      wanted: Mapping[str, str]) -> list[dict[str, Any]]:
        if self.search is None:
            raise Refused("bad-view", "search needs the ticket store")
        config, now = self.config(), self.clock()
        hits = await self.search(text, visible_queues=queues, agent=agent, **wanted)
        return [{**self._view_item(StoredItem(hit["ticket"], hit["customer"]["name"], (), ""), config, now),
                 "match": hit["match"], "snippet": hit["snippet"]} for hit in hits]

    def _view_item(self, stored: StoredItem, config: Config, now: float) -> dict[str, Any]:
        t = stored.ticket
        offer = self.offered.get(t["id"])
        return {"ticket": t["id"], "kind": "ticket", "chat": None, "channel": t["channel"], "subject": t["subject"],
                "customer": {"id": t["customer_id"], "name": stored.customer_name, "tags": list(stored.customer_tags)},
                "queue": t["queue"], "status": t["status"], "priority": t["priority"], "assignee": t["assignee"],
                "waiting_since": t["awaiting_since"],
                "sla": {"state": t["sla_state"], "first_response_due": t["first_response_due"],
                        "resolution_due": t["resolution_due"]},
                "score": round(rules.score(rules.Item(t["id"], t["queue"], t["channel"], t["priority"],
                                                      stored.waiting_since, t["sla_state"], stored.customer_tags),
                                           now, set(config.routing.vip_tags)), 1),
                "offered_to": offer.agent if offer else "", "offer_expires": offer.expires if offer else None,
                "preview": stored.preview}

    async def accept(self, who: Principal, ticket_id: int) -> TicketRow:
        """`who` (an agent) takes an item: assigned to them, opened. Errors: Forbidden
        `not-an-agent`, `not-your-queue`, `offered-to-another`; NotFound `unknown-ticket`;
        Conflict `already-taken`, `not-waiting` (a pending, resolved or closed ticket)."""
        agent = self._agent_of(who)
        stored = await self.work.item(ticket_id)
        self._may_take(who, agent, stored)
        if stored.ticket["status"] not in WORKING and stored.ticket["assignee"] != agent:
            raise Conflict("not-waiting", f"ticket #{ticket_id} is {stored.ticket['status']}: nothing waits on it",
                           {"ticket": ticket_id, "status": stored.ticket["status"]})
        row = await self.work.accept(ticket_id, agent)
        self._settled(ticket_id)
        await self.publish(ev.WorkChanged(ticket_id, row["queue"], "accepted", agent, self.clock()))
        return row

    async def decline(self, who: Principal, ticket_id: int) -> dict[str, Any]:
        """`who` does not take an item offered to them (or hands back one they accepted and did not
        answer): the next agent is offered it. Errors: Forbidden `not-an-agent`,
        `offered-to-another`; NotFound `unknown-ticket`; Conflict `already-taken`."""
        agent = self._agent_of(who)
        stored = await self.work.item(ticket_id)
        t = stored.ticket
        if not rules.sees(set(self.config().agents[agent].queues), agent, t["queue"], t["assignee"]):
            raise Forbidden("not-your-queue", f"ticket #{ticket_id} is in queue {t['queue']!r}, not one of {agent}'s")
        offer = self.offered.get(ticket_id)
        if offer is not None:
            if offer.agent != agent:
                raise Forbidden("offered-to-another", f"ticket #{ticket_id} is offered to someone else")
            await self.work.decline(ticket_id, agent)
            self.offered.pop(ticket_id, None)
        elif t["assignee"] == agent:
            await self.work.release(ticket_id, agent)
        else:
            raise Forbidden("offered-to-another", f"ticket #{ticket_id} is neither offered to {agent} nor theirs")
        self.declined.setdefault(ticket_id, set()).add(agent)
        await self.publish(ev.WorkChanged(ticket_id, "", "declined", agent, self.clock()))
        return {"ticket": ticket_id, "declined": True}

    async def next(self, who: Principal) -> dict[str, Any]:
        """`who` takes the most urgent item of their queues that is not offered to someone else
        (pull), accepted for them. Errors: NotFound `no-work`; Forbidden `not-an-agent`."""
        agent = self._agent_of(who)
        config, now = self.config(), self.clock()
        waiting = await self.work.waiting(set(config.agents[agent].queues))
        free = [shapes.of_waiting(w) for w in waiting if w.ticket not in self.offered or self.offered[w.ticket].agent == agent]
        for item in rules.ranked(free, now, set(config.routing.vip_tags)):
            with contextlib.suppress(CallcenterError):  # taken meanwhile: the next one
                await self.accept(who, item.ticket)
                return {"item": self._view_item(await self.work.item(item.ticket), config, now)}
        raise NotFound("no-work", "nothing waits in your queues")

    async def assign(self, actor: str, ticket_id: int, agent: str) -> TicketRow:
        """A supervisor gives an item to `agent` ("" : back to the queue), in its history. Errors:
        NotFound `unknown-ticket`, `unknown-agent`."""
        if agent and agent not in self.config().agents:
            raise NotFound("unknown-agent", f"no agent {agent!r}")
        row = await self.tickets.update(ticket_id, actor, assignee=agent)
        self._settled(ticket_id)
        await self.publish(ev.WorkChanged(ticket_id, row["queue"], "assigned", agent, self.clock()))
        return row

    def _settled(self, ticket_id: int) -> None:
        """An item got its agent: its offer (to whoever) ends."""
        offer = self.offered.pop(ticket_id, None)
        if offer is not None:
            self._tell(offer.agent, {"type": "inbox", "withdrawn": ticket_id})
        self.declined.pop(ticket_id, None)
        self.missed.pop(ticket_id, None)

    def _agent_of(self, who: Principal) -> str:
        if who.agent is None or who.agent not in self.config().agents:
            raise Forbidden("not-an-agent", f"{who.name} is not an agent: only agents take work "
                            "(a supervisor assigns it)")
        return who.agent

    def _may_take(self, who: Principal, agent: str, stored: StoredItem) -> None:
        t = stored.ticket
        queues = set(self.config().agents[agent].queues)
        if not rules.sees(queues, agent, t["queue"], t["assignee"]):
            raise Forbidden("not-your-queue", f"ticket #{t['id']} is in queue {t['queue']!r}, not one of {agent}'s")
        offer = self.offered.get(t["id"])
        if offer is not None and offer.agent != agent:
            raise Forbidden("offered-to-another", f"ticket #{t['id']} is offered to another agent right now")

    def describe(self) -> dict[str, Any]:
        """For `status`: offers out now, made and expired since start, rounds."""
        return {"offers": len(self.offered), "offers_made": self.offers_made, "offers_expired": self.offers_expired,
                "rounds": self.rounds}
