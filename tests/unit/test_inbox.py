"""The inbox: ranking and offer rules (pure), then the real app of `app.build` (a fake AMI, a real
SQLite store, real agents' pages on /api/ws): an SMS and an email become work items offered to an
agent, accepted, declined to the next agent, pulled with "next"; who may see and take what; two
agents accepting at once; a burst of messages as one item; offers made again after a restart; the
ticket hygiene that makes work (a reply answers it, a customer's message reopens a pending ticket,
an out-of-office changes nothing)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from callcenter import app as app_mod
from callcenter.channels.email.feature import EmailFeature
from callcenter.channels.sms.feature import SmsFeature
from callcenter.core.credentials import Credentials
from callcenter.inbox import rules
from callcenter.inbox.feature import InboxFeature
from tests.support.mail import message
from tests.support.webapp import running_app

CONFIG = """\
runtime_dir: {runtime}
queues:
  support: {{strategy: ringall, skill: support}}
  billing: {{strategy: ringall}}
agents:
  agent1: {{extension: "1001", full_name: Alice, queues: [support, billing], skills: {{support: 8}}}}
  agent2: {{extension: "1002", full_name: Bob, queues: [support], skills: {{support: 3}}}}
  agent3: {{extension: "1003", queues: [billing]}}
dids:
  "8005550100": {{queue: support}}
  "8005550111": {{queue: billing}}
routing:
  offer_seconds: {offer_seconds}
  max_open_items: 2
"""


def item(ticket: int, queue: str = "support", channel: str = "sms", priority: str = "normal", since: float = 0.0,
         **kw: Any) -> rules.Item:
    return rules.Item(ticket, queue, channel, priority, since, **kw)


def seat(name: str, **kw: Any) -> rules.Seat:
    base: dict[str, Any] = {"queues": ("support",), "skills": {}, "online": True, "paused": False, "on_call": False}
    base.update(kw)
    return rules.Seat(name, **base)


def test_urgency_puts_urgent_vip_and_late_work_first() -> None:
    now = 10_000.0
    plain_email, urgent_email = item(1, channel="email", since=now), item(2, channel="email", priority="urgent", since=now)
    chat, vip_sms = item(3, channel="chat", since=now), item(4, channel="sms", since=now, tags=("vip",))
    breached, old = item(5, channel="email", since=now, sla_state="breached"), item(6, channel="email", since=now - 7200)
    order = [i.ticket for i in rules.ranked([plain_email, urgent_email, chat, vip_sms, breached, old], now, {"vip"})]
    assert order == [5, 2, 4, 3, 6, 1]  # breached 80; urgent email and VIP SMS 70; chat 60; old 42; plain 30
    assert rules.score(urgent_email, now, set()) == 10 + 60
    assert rules.score(chat, now, set()) == 40 + 20
    assert rules.score(vip_sms, now, {"vip"}) == 20 + 20 + 30 and rules.score(vip_sms, now, set()) == 40
    assert rules.score(breached, now, set()) == 10 + 20 + 50
    assert rules.score(old, now, set()) == 10 + 20 + 12  # 120 minutes: +12
    assert rules.score(item(7, since=now - 10 * 86400), now, set()) == 20 + 20 + 30  # age counts at most 30
    same = rules.ranked([item(8, since=now - 5), item(9, since=now - 50)], now, set())
    assert [i.ticket for i in same] == [9, 8]  # equal urgency: the longest waiting first


def test_offers_go_to_members_with_room_by_skill_then_room() -> None:
    cap = rules.Capacity(max_open_items=2, chat_counts_as=1, call_counts_as=2)
    items = [item(1), item(2), item(3, queue="billing")]
    seats = [seat("expert", skills={"support": 9}), seat("novice", skills={"support": 2}),
             seat("other", queues=("billing",))]
    assert rules.offers(items, seats, {"support": "support"}, cap, {}, {}) == [(1, "expert"), (2, "expert"),
                                                                                (3, "other")]
    # Room: held and offered items, chats and a call count against max_open_items.
    assert rules.room(seat("a", held=1, chats=1), cap) == 0
    assert rules.room(seat("a", on_call=True), cap) == 0 and rules.room(seat("a"), cap) == 2
    assert rules.room(seat("a", paused=True), cap) == 0 and rules.room(seat("a", online=False), cap) == 0
    busy = [seat("expert", skills={"support": 9}, on_call=True), seat("novice", skills={"support": 2})]
    assert rules.offers(items[:1], busy, {"support": "support"}, cap, {}, {}) == [(1, "novice")]
    # A decline is final for that agent; a missed offer comes back only when nobody else can take it.
    assert rules.offers(items[:1], seats, {"support": "support"}, cap, {1: {"expert"}}, {}) == [(1, "novice")]
    assert rules.offers(items[:1], seats[:2], {"support": "support"}, cap, {1: {"novice"}}, {1: {"expert"}}) == \
        [(1, "expert")]
    assert rules.offers(items[:1], seats[:2], {}, cap, {1: {"novice", "expert"}}, {}) == []
    assert rules.expired({1: ("a", 10.0), 2: ("b", 11.0)}, 10.0) == [1]


def test_who_sees_what() -> None:
    assert rules.sees(None, None, "billing", "")  # a supervisor: everything
    assert rules.sees({"support"}, "agent2", "support", "") and not rules.sees({"support"}, "agent2", "billing", "")
    assert rules.sees({"support"}, "agent2", "billing", "agent2")  # their own, whatever the queue
    assert rules.sees({"support"}, "agent2", "", "")  # no queue: anyone's


class Page:
    def __init__(self, browser: aiohttp.ClientSession, csrf: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.browser, self.csrf, self.ws = browser, csrf, ws

    async def next(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = json.loads((await self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))).data)
            if data.get("type") == kind:
                return data

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.browser.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf}) as r:
            return r.status, await r.json()

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.browser.get(path) as r:
            return r.status, await r.json()


class Site:
    def __init__(self, base: str, creds: Credentials, parts: app_mod.App) -> None:
        self.base, self.creds, self.parts = base, creds, parts
        self.sessions: list[aiohttp.ClientSession] = []
        self.sms_count = 0

    async def page(self, name: str) -> Page:
        browser = aiohttp.ClientSession(base_url=self.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sessions.append(browser)
        async with browser.post("/api/login", json={"name": name, "password": self.creds.web_passwords[name]}) as r:
            assert r.status == 200, await r.text()
            csrf = (await r.json())["csrf_token"]
        ws = await browser.ws_connect("/api/ws")
        assert json.loads((await ws.receive()).data)["type"] == "snapshot"
        return Page(browser, csrf, ws)

    async def sms(self, sender: str, body: str, to: str = "8005550100") -> int:
        sms = self.parts.feature(SmsFeature)
        assert sms is not None
        self.sms_count += 1
        row, _ = await sms.service.receive(sender, body, f"SM{self.sms_count:032d}", to)
        assert row["ticket_id"] is not None
        return row["ticket_id"]

    @property
    def inbox(self) -> Any:
        feature = self.parts.feature(InboxFeature)
        assert feature is not None
        return feature.inbox


@pytest.fixture
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    text = CONFIG.format(runtime=tmp_path, offer_seconds=getattr(request, "param", 30))
    async with running_app(text, tmp_path) as (client, creds, parts):
        s = Site(str(client.make_url("")), creds, parts)
        yield s
        for browser in s.sessions:
            await browser.close()


async def test_an_sms_and_an_email_are_offered_accepted_and_declined_to_the_next_agent(site: Site) -> None:
    alice = await site.page("agent1")
    t0 = time.monotonic()
    sms_ticket = await site.sms("+14155552671", "Where is my order 4567?")
    offer = await alice.next("offer")
    assert time.monotonic() - t0 < 2.0
    assert offer["item"]["ticket"] == sms_ticket and offer["item"]["channel"] == "sms"
    assert offer["item"]["queue"] == "support" and offer["item"]["preview"] == "Where is my order 4567?"
    assert offer["expires"] > time.time()
    status, listed = await alice.get("/api/inbox?view=queues")
    assert status == 200 and [i["ticket"] for i in listed["items"]] == [sms_ticket]
    assert [(o["ticket"], o["expires"], o["channel"]) for o in listed["offers"]] == \
        [(sms_ticket, offer["expires"], "sms")]
    status, accepted = await alice.post(f"/api/inbox/{sms_ticket}/accept")
    assert status == 200 and accepted["ticket"]["assignee"] == "agent1" and accepted["ticket"]["status"] == "open"
    store = site.parts.store
    assert store is not None
    history = [(h["field"], h["new"]) for h in (await store.tickets.get(sms_ticket))["history"]]
    assert ("assignee", "agent1") in history and ("status", "open") in history
    _, mine = await alice.get("/api/inbox?view=mine")
    assert [i["ticket"] for i in mine["items"]] == [sms_ticket]
    # An email: offered to agent1 (the expert, room for 2); declined, it goes to agent2.
    bob = await site.page("agent2")
    email = site.parts.feature(EmailFeature)
    assert email is not None
    taken = await email.intake.take(message("Refund", "Please refund order 99", msgid="<r1@example.com>").as_bytes())
    offer = await alice.next("offer")
    assert offer["item"]["ticket"] == taken["ticket"] and offer["item"]["channel"] == "email"
    status, body = await bob.post(f"/api/inbox/{taken['ticket']}/accept")
    assert status == 403 and body["error_id"] == "offered-to-another"
    status, _ = await alice.post(f"/api/inbox/{taken['ticket']}/decline")
    assert status == 200
    offer = await bob.next("offer")
    assert offer["item"]["ticket"] == taken["ticket"]
    status, accepted = await bob.post(f"/api/inbox/{taken['ticket']}/accept")
    assert status == 200 and accepted["ticket"]["assignee"] == "agent2"
    # agent2 answers: the item is no longer waiting (nor held against their capacity).
    await store.messages.outbound(taken["ticket"], "email", "ann@example.com", "Refunded.", actor="agent2")
    assert await store.work.held(["agent1", "agent2"]) == {"agent1": 1}


async def test_who_may_see_and_take_what(site: Site) -> None:
    billing_ticket = await site.sms("+14155550001", "A billing question", to="8005550111")
    cy = await site.page("agent3")
    bob = await site.page("agent2")
    status, body = await bob.get("/api/inbox?view=queues&queue=billing")
    assert status == 403 and body["error_id"] == "not-your-queue"
    status, listed = await bob.get("/api/inbox?view=queues")
    assert billing_ticket not in [i["ticket"] for i in listed["items"]]
    status, body = await bob.post(f"/api/inbox/{billing_ticket}/accept")
    assert status == 403 and body["error_id"] == "not-your-queue"
    for bad, error in (("/api/inbox?view=everything", "bad-view"), ("/api/inbox?status=lost", "bad-filter"),
                       ("/api/inbox?sla=late", "bad-filter"), ("/api/inbox?agent=agent1", "forbidden"),
                       ("/api/inbox?q=" + "x" * 201, "bad-request")):
        status, body = await bob.get(bad)
        assert status in (400, 403) and body["error_id"] == error, (bad, body)
    status, body = await bob.post("/api/inbox/abc/accept")
    assert status == 404 and body["error_id"] == "unknown-ticket"
    status, body = await bob.post("/api/inbox/999999/accept")
    assert status == 404 and body["error_id"] == "unknown-ticket"
    status, body = await bob.post("/api/inbox/" + "9" * 5000 + "/accept")  # int() refuses 4,300 digits
    assert status == 404 and body["error_id"] == "unknown-ticket"
    # A message that would reorder what the agent reads (a bidirectional override) is stored without it.
    tricky = await site.sms("+14155550009", "pay \u202eevil\u202c now")
    store = site.parts.store
    assert store is not None
    assert (await store.work.item(tricky)).preview == "pay evil now"
    status, body = await bob.post(f"/api/inbox/{billing_ticket}/assign", {"agent": "agent2"})
    assert status == 403  # assigning is a supervisor's
    # agent3 is in billing: they take it with "next".
    status, got = await cy.post("/api/inbox/next")
    assert status == 200 and got["item"]["ticket"] == billing_ticket and got["item"]["assignee"] == "agent3"
    status, body = await cy.post("/api/inbox/next")
    assert status == 404 and body["error_id"] == "no-work"


async def test_two_agents_accepting_at_once_one_wins(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    ticket = await site.sms("+14155550002", "Anyone?")
    results = await asyncio.gather(store.work.accept(ticket, "agent1"), store.work.accept(ticket, "agent2"),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1 and getattr(lost[0], "error_id", "") == "already-taken", results
    # Through the API: the one who comes second gets 409.
    other = await site.sms("+14155550012", "Me too")
    alice, bob = await site.page("agent1"), await site.page("agent2")
    status, _ = await alice.post(f"/api/inbox/{other}/accept")
    assert status == 200
    status, body = await bob.post(f"/api/inbox/{other}/accept")
    assert status == 409 and body["error_id"] == "already-taken"


async def test_a_burst_of_messages_is_one_item_and_offers_come_back_after_a_restart(site: Site) -> None:
    tickets = {await site.sms("+14155550003", f"message {n}") for n in range(50)}
    assert len(tickets) == 1
    store = site.parts.store
    assert store is not None
    waiting = await store.work.waiting(None)
    assert [w.ticket for w in waiting] == list(tickets)
    assert (await store.work.item(waiting[0].ticket)).preview == "message 49"
    alice = await site.page("agent1")
    first = await alice.next("offer")
    # A restart: the offers were in memory; the items are in the store and are offered again.
    site.inbox.offered.clear()
    site.inbox.known.clear()
    await site.inbox.route()
    again = await alice.next("offer")
    assert again["item"]["ticket"] == first["item"]["ticket"]


@pytest.mark.parametrize("site", [5], indirect=True)
async def test_an_offer_not_accepted_goes_to_the_next_agent_and_a_leaving_agent_returns_theirs(site: Site) -> None:
    alice, bob = await site.page("agent1"), await site.page("agent2")
    ticket = await site.sms("+14155550004", "Hello?")
    assert (await alice.next("offer"))["item"]["ticket"] == ticket
    assert (await bob.next("offer", timeout=8))["item"]["ticket"] == ticket  # alice let 5 s pass
    await bob.ws.close()  # bob's only page closes: his offer comes back to routing
    again = await alice.next("offer", timeout=8)
    assert again["item"]["ticket"] == ticket


async def test_replies_answer_work_and_customers_reopen_it(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    ticket = await site.sms("+14155550005", "Question")
    row = (await store.tickets.get(ticket))
    assert row["awaiting_since"] is not None and row["channel"] == "sms" and row["queue"] == "support"
    await store.messages.outbound(ticket, "sms", "+14155550005", "Answer", actor="agent1")
    assert (await store.tickets.get(ticket))["awaiting_since"] is None
    await store.tickets.update(ticket, "agent1", status="pending")
    assert await site.sms("+14155550005", "One more thing") == ticket
    again = await store.tickets.get(ticket)
    assert again["status"] == "open" and again["awaiting_since"] is not None  # the customer answered: open
    # An out-of-office reply on a resolved email ticket leaves it resolved and asks nobody for work.
    email = site.parts.feature(EmailFeature)
    assert email is not None
    first = await email.intake.take(message("Order 1", "Where?", msgid="<o1@example.com>").as_bytes())
    await store.tickets.update(first["ticket"], "agent1", status="resolved")
    away = await email.intake.take(message("Out of office", "I am away", msgid="<o2@example.com>",
                                           in_reply_to="<o1@example.com>", Auto_Submitted="auto-replied").as_bytes())
    assert away["ticket"] == first["ticket"]
    after = await store.tickets.get(first["ticket"])
    assert after["status"] == "resolved" and after["awaiting_since"] is None


async def test_the_backlog_per_queue_and_channel(site: Site) -> None:
    await site.sms("+14155550006", "one")
    await site.sms("+14155550007", "two", to="8005550111")
    store = site.parts.store
    assert store is not None
    rows = {(r["queue"], r["channel"]): r for r in await store.work.backlog()}
    assert rows[("support", "sms")]["unassigned"] == 1 and rows[("billing", "sms")]["open"] == 1
    assert rows[("support", "sms")]["oldest_waiting"] is not None


async def test_the_most_urgent_item_is_shown_and_offered_first_however_many_wait(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    for n in range(520):  # more than a view shows
        await store.messages.inbound("sms", f"+1415666{n:04d}", f"question {n}", queue="support", external_id=f"B{n}")
    urgent = await site.sms("+14157770000", "URGENT please")
    await store.tickets.update(urgent, "sue", priority="urgent")
    email = site.parts.feature(EmailFeature)
    assert email is not None
    mail = await email.intake.take(message("Refund", "Please", msgid="<u1@example.com>").as_bytes())
    alice = await site.page("agent1")
    status, listed = await alice.get("/api/inbox?view=queues")
    assert status == 200 and listed["items"][0]["ticket"] == urgent and len(listed["items"]) == 200
    status, emails = await alice.get("/api/inbox?view=queues&channel=email")
    assert [i["ticket"] for i in emails["items"]] == [mail["ticket"]]  # filtered before the cut, not after
    offer = await alice.next("offer")
    assert offer["item"]["ticket"] == urgent  # offered first


async def test_a_decline_is_kept_across_a_restart_and_only_items_that_wait_are_accepted(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    alice, cy = await site.page("agent1"), await site.page("agent3")
    ticket = await site.sms("+14155550020", "Help")
    assert (await alice.next("offer"))["item"]["ticket"] == ticket
    status, body = await cy.post(f"/api/inbox/{ticket}/decline")  # not their queue: says so, not whose offer
    assert status == 403 and body["error_id"] == "not-your-queue"
    status, _ = await alice.post(f"/api/inbox/{ticket}/decline")
    assert status == 200
    # A restart: offers and declines in memory are gone; the history keeps the decline.
    site.inbox.offered.clear()
    site.inbox.declined.clear()
    site.inbox.declines_read = False
    await site.inbox.route()
    assert ticket not in site.inbox.offered and site.inbox.declined[ticket] == {"agent1"}
    await store.tickets.update(ticket, "sue", status="resolved")
    status, body = await alice.post(f"/api/inbox/{ticket}/accept")
    assert status == 409 and body["error_id"] == "not-waiting"


async def test_search_finds_tickets_by_words_phone_and_number_within_ones_queues(site: Site) -> None:
    mine = await site.sms("+14155550030", "我想查询物流状态 order 4567")
    theirs = await site.sms("+14155550031", "查询物流 please", to="8005550111")  # billing: not agent2's
    bob = await site.page("agent2")
    status, found = await bob.get("/api/inbox?view=search&q=" + "物流")
    assert status == 200 and [i["ticket"] for i in found["items"]] == [mine]
    assert found["items"][0]["match"] == "text" and "物流" in found["items"][0]["snippet"]
    assert found["items"][0]["customer"]["id"] and found["items"][0]["channel"] == "sms"
    status, found = await bob.get("/api/inbox?view=search&q=(415)%20555-0030")
    assert [i["ticket"] for i in found["items"]] == [mine] and found["items"][0]["match"] == "phone"
    status, found = await bob.get(f"/api/inbox?view=search&q=%23{theirs}")
    assert found["items"] == []  # another queue's ticket: not found for them
    alice = await site.page("agent1")
    status, found = await alice.get(f"/api/inbox?view=search&q=%23{theirs}")
    assert [i["ticket"] for i in found["items"]] == [theirs] and found["items"][0]["match"] == "number"
