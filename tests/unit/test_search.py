"""Search of tickets (tickets/search.py, tickets/terms.py) on both databases: each kind of match in
English and Chinese, visibility, filters, the index kept by every writer of text and cleared by
retention, hostile input, the migration's backfill."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest
import sqlalchemy as sa

from callcenter.core.errors import CallcenterError
from callcenter.tickets import db, terms
from callcenter.tickets.core import TicketCore
from callcenter.tickets.rows import SearchHit
from callcenter.tickets.store import StorePolicy


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 1.0  # every write a second later: "newest activity first" is well defined
        return self.now


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[TicketCore]:
    s = TicketCore.build(store_url, StorePolicy(default_region="US", retention_days={"bodies": 30, "transcripts": 30}),
                         clock=Clock())
    await s.open()
    yield s
    await s.close()


async def find(store: TicketCore, text: str, **filters: Any) -> list[SearchHit]:
    filters.setdefault("visible_queues", None)
    filters.setdefault("agent", None)
    return await store.search.tickets(text, **filters)


def ids(hits: list[SearchHit]) -> list[int]:
    return [h["ticket"]["id"] for h in hits]


async def sql(store: TicketCore, statement: str, **params: Any) -> None:
    async with store.store.writing() as s:
        await s.execute(sa.text(statement), params)


async def sms(store: TicketCore, number: str, body: str) -> dict[str, Any]:
    row, _ = await store.messages.inbound("sms", number, body)
    return dict(row)


# -- pure: terms, queries, snippets -------------------------------------------------------------------


def test_terms_fold_case_and_width_and_segment_chinese() -> None:
    assert terms.terms("Hello, I want a REFUND — ＲＥＦＵＮＤ!") == ["hello", "i", "want", "a", "refund"]
    assert terms.terms("我想查询物流状态") == ["我", "想", "查询", "物流", "状态"]
    assert {"中华", "人民", "共和国", "中华人民共和国"} <= set(terms.terms("中华人民共和国"))
    assert terms.terms("iphone15手机 café_au-lait") == ["iphone15", "手机", "café", "au", "lait"]
    assert terms.terms("x" * 65 + " ok") == ["ok"]  # a blob is nobody's word


def test_a_query_is_what_its_text_can_be() -> None:
    q = terms.query("#123", "US")
    assert (q.number, q.phone, q.name, q.words) == (123, None, None, ())
    q = terms.query(" 123 ", "US")
    assert (q.number, q.phone, q.words) == (123, None, ("123",))
    for text in ("(415) 555-2671", "+1 415 555 2671", "4155552671", "415.555.2671"):
        assert terms.query(text, "US").phone == "+14155552671", text
    assert terms.query("Ann@Example.COM", "US").email == "ann@example.com"
    q = terms.query("王芳 物流", "US")
    assert (q.name, q.words) == ("王芳 物流", ("王", "芳", "物流"))  # a name jieba does not know: its characters
    assert terms.query("#99999999999", "US").number is None  # beyond any id: no row, never sent to SQL
    for bad in ("", "   ", "x" * 201, "a\x00b", "a\nb", 12):
        with pytest.raises(CallcenterError) as refused:
            terms.query(bad, "US")
        assert refused.value.error_id == "bad-query"


def test_a_snippet_is_at_most_160_characters_around_the_hit() -> None:
    body = "Lorem ipsum dolor sit amet. " * 20 + "Where is my REFUND for order 42?" + " Thanks." * 30
    shown = terms.snippet("", body, ("refund",))
    assert len(shown) <= 160 and "REFUND" in shown and shown.startswith("…") and shown.endswith("…")
    assert terms.snippet("", "short\n\nbody", ("nothing",)) == "short body"
    assert terms.snippet("Your parcel", "", ("parcel",)) == "Your parcel"
    chinese = "您好。" * 80 + "我想查询物流状态" + "谢谢。" * 80
    shown = terms.snippet("", chinese, ("物流",))
    assert len(shown) <= 160 and "物流" in shown


# -- each kind of match --------------------------------------------------------------------------------


async def test_a_ticket_is_found_by_number_phone_email_and_name(store: TicketCore) -> None:
    ann = await store.customers.create("Ann O'Brien", [("phone", "+1 415-555-2671"), ("email", "ann@example.com")])
    wang = await store.customers.create("王芳", [("phone", "+86 138 0013 8000")])
    a = await sms(store, "4155552671", "hello")
    w = await sms(store, "+8613800138000", "你好")
    assert a["customer_id"] == ann["id"] and w["customer_id"] == wang["id"]
    for text in (f"#{a['ticket_id']}", str(a["ticket_id"])):
        hits = await find(store, text)
        assert hits[0]["ticket"]["id"] == a["ticket_id"] and hits[0]["match"] == "number"
    for text in ("(415) 555-2671", "+1 415 555 2671", "4155552671"):
        hits = await find(store, text)
        assert ids(hits) == [a["ticket_id"]] and hits[0]["match"] == "phone", text
    hits = await find(store, "ANN@example.com")
    assert ids(hits) == [a["ticket_id"]] and hits[0]["match"] == "email"
    assert hits[0]["customer"] == {"id": ann["id"], "name": "Ann O'Brien"}
    for text in ("o'bri", "ANN"):
        hits = await find(store, text)
        assert ids(hits) == [a["ticket_id"]] and hits[0]["match"] == "name", text
    for text in ("王", "王芳"):
        hits = await find(store, text)
        assert ids(hits) == [w["ticket_id"]] and hits[0]["match"] == "name"
    assert await find(store, "+1 212 555 0000") == [] and await find(store, "#999999") == []


async def test_words_of_messages_in_english_and_chinese_are_found_with_a_snippet(store: TicketCore) -> None:
    en = await sms(store, "4155550001", "Hi, where is my REFUND? Order 7731 never arrived.")
    zh = await sms(store, "4155550002", "你好，我想查询物流状态，谢谢")
    mixed = await sms(store, "4155550003", "我的iPhone15手机还没到 refund please")
    hits = await find(store, "refund")
    assert ids(hits) == [mixed["ticket_id"], en["ticket_id"]]  # newest activity first
    assert hits[1]["match"] == "text" and "REFUND" in hits[1]["snippet"]
    hits = await find(store, "物流")
    assert ids(hits) == [zh["ticket_id"]] and "物流" in hits[0]["snippet"]
    assert ids(await find(store, "查询物流")) == [zh["ticket_id"]]  # every word, in one message
    assert ids(await find(store, "手机")) == [mixed["ticket_id"]]
    assert ids(await find(store, "iphone15")) == [mixed["ticket_id"]]
    assert ids(await find(store, "7731")) == [en["ticket_id"]]  # an order number in a message
    assert await find(store, "refund 物流") == [] and await find(store, "nothing") == []
    assert await find(store, "物") == []  # words, as jieba cut them: not any character


async def test_an_agent_sees_their_queues_unqueued_and_their_own_tickets_only(store: TicketCore) -> None:
    rows = [await sms(store, f"41555510{i:02d}", "parcel lost") for i in range(4)]
    t = [r["ticket_id"] for r in rows]
    await sql(store, "UPDATE tickets SET queue = 'billing' WHERE id = :id", id=t[0])
    await sql(store, "UPDATE tickets SET queue = 'support' WHERE id = :id", id=t[1])
    await sql(store, "UPDATE tickets SET queue = '' WHERE id = :id", id=t[2])
    await sql(store, "UPDATE tickets SET queue = 'billing', assignee = 'ada' WHERE id = :id", id=t[3])
    assert sorted(ids(await find(store, "parcel", visible_queues={"support"}, agent="ada"))) == [t[1], t[2], t[3]]
    assert sorted(ids(await find(store, "parcel", visible_queues={"support"}, agent="bob"))) == [t[1], t[2]]
    assert sorted(ids(await find(store, "parcel", visible_queues=set(), agent=None))) == [t[2]]
    assert sorted(ids(await find(store, "parcel"))) == sorted(t)  # a supervisor
    assert await find(store, f"#{t[0]}", visible_queues={"support"}, agent="bob") == []  # not by number either


async def test_filters_narrow_a_search(store: TicketCore) -> None:
    a = await sms(store, "4155552001", "refund please")
    b, _ = await store.messages.inbound_email(sender="b@example.com", name="B", subject="Refund", text="refund me",
                                              message_id="<m1@x>", thread_ids=[], ticket_ref=None, variables={})
    await sql(store, "UPDATE tickets SET channel = 'sms', queue = 'support', status = 'open', sla_state = 'at_risk' "
              "WHERE id = :id", id=a["ticket_id"])
    await sql(store, "UPDATE tickets SET channel = 'email', queue = 'billing', status = 'pending', "
              "sla_state = 'breached' WHERE id = :id", id=b["ticket_id"])
    assert ids(await find(store, "refund", status="open")) == [a["ticket_id"]]
    assert ids(await find(store, "refund", channel="email")) == [b["ticket_id"]]
    assert ids(await find(store, "refund", queue="support")) == [a["ticket_id"]]
    assert ids(await find(store, "refund", sla="breached")) == [b["ticket_id"]]
    assert await find(store, "refund", sla="at_risk", channel="email") == []
    assert len(await find(store, "refund", limit=1)) == 1
    for bad, error in (({"status": "lost"}, "bad-status"), ({"channel": "fax"}, "bad-filter"),
                       ({"sla": "late"}, "bad-filter"), ({"limit": 0}, "bad-filter"), ({"limit": 201}, "bad-filter"),
                       ({"queue": "a\x00"}, "bad-text")):
        with pytest.raises(CallcenterError) as refused:
            await find(store, "refund", **bad)
        assert refused.value.error_id == error, bad


async def test_common_words_and_names_walk_the_tickets_to_the_same_results(store: TicketCore) -> None:
    from callcenter.tickets.search import Search

    rows = []
    for i in range(12):
        await store.customers.create(f"Common Name {i}" if i % 2 else f"王{i}", [("phone", f"41555570{i:02d}")])
        rows.append(await sms(store, f"41555570{i:02d}", "the parcel 包裹" if i % 3 else "the invoice 发票"))
        await sql(store, "UPDATE tickets SET queue = :q, status = :s WHERE id = :id",
                  q=("support", "billing")[i % 2], s=("open", "pending")[i % 4 == 0], id=rows[-1]["ticket_id"])
    walking = Search(store.store, wide=2, walk=1000, page=3)  # every word and name here is "common"
    for text, filters in (("the", {}), ("parcel", {"limit": 5}), ("包裹", {"status": "open"}), ("common", {}),
                          ("王", {"queue": "support"}), ("invoice", {"visible_queues": {"billing"}, "agent": "ada"}),
                          ("nothing", {}), ("the parcel", {"limit": 3, "status": "open"})):
        filters = {"visible_queues": None, "agent": None, **filters}
        listed, walked = await store.search.tickets(text, **filters), await walking.tickets(text, **filters)
        assert listed == walked and (listed or text == "nothing"), text
    assert len(await Search(store.store, wide=2, walk=3, page=3).tickets("the", visible_queues=None, agent=None)) == 3


# -- the index kept by every writer ------------------------------------------------------------------


async def test_every_writer_of_text_keeps_the_index_in_its_transaction(store: TicketCore) -> None:
    s = await sms(store, "4155553001", "smsword 短信")
    e, _ = await store.messages.inbound_email(sender="e@example.com", name="E", subject="Subjectword",
                                              text="emailword 邮件", message_id="<m2@x>", thread_ids=[],
                                              ticket_ref=None, variables={})
    o = await store.messages.outbound(s["ticket_id"], "sms", "+14155553001", "replyword", actor="ada")
    chat = await store.chats.start("visitor-1", "support", topic="support")
    said = await asyncio.gather(*(store.chats.say(chat["id"], "visitor", f"chatword{i} 聊天") for i in range(5)))
    offline = await store.chats.offline("visitor-2", "support", topic="support", text="offlineword",
                                        contact={"email": "off@example.com"})
    assert ids(await find(store, "smsword")) == ids(await find(store, "短信")) == [s["ticket_id"]]
    assert ids(await find(store, "emailword")) == ids(await find(store, "subjectword")) == [e["ticket_id"]]
    assert ids(await find(store, "replyword")) == [o["ticket_id"]]
    assert ids(await find(store, "chatword3")) == [said[3]["ticket_id"]]
    assert ids(await find(store, "聊天")) == [chat["ticket_id"]]
    assert ids(await find(store, "offlineword")) == [offline["ticket"]]
    # A voicemail's transcript, and the one that replaces it when it is transcribed again.
    await store.calls.step("900.1", step="started", caller_id="4155553002", did="8005550100", topic="support")
    vm = await store.calls.step("900.1", step="ended", channel="voicemail", caller_id="4155553002", topic="support",
                                values={"recording_path": "/nowhere/900.1.wav", "recording_seconds": 6.0})
    job = await store.jobs.queue("900.1")
    assert job is not None and (await store.jobs.take()) is not None
    await store.jobs.finish(job, state="done", transcript={"text": "请回电话 about my invoice"})
    assert ids(await find(store, "invoice")) == ids(await find(store, "回电话")) == [vm["ticket_id"]]
    again = await store.jobs.retranscribe(vm["id"], "en")
    assert await store.jobs.take() is not None
    await store.jobs.finish(again, state="done", transcript={"text": "please call back about my bill"})
    assert await find(store, "invoice") == [] and ids(await find(store, "bill")) == [vm["ticket_id"]]


async def test_retention_takes_purged_text_out_of_the_index(store: TicketCore) -> None:
    old = await sms(store, "4155554001", "purgeword old")
    await store.calls.step("901.1", step="started", caller_id="4155554002", did="8005550100", topic="support")
    await store.calls.step("901.1", step="ended", channel="voicemail", caller_id="4155554002", topic="support",
                           values={"recording_path": "/nowhere/901.1.wav"})
    job = await store.jobs.queue("901.1")
    assert job is not None and await store.jobs.take() is not None
    await store.jobs.finish(job, state="done", transcript={"text": "purgeword transcript"})
    assert len(await find(store, "purgeword")) == 2
    assert isinstance(store.store.clock, Clock)
    store.store.clock.now += 31 * 86400
    new = await sms(store, "4155554003", "purgeword new")
    done = await store.retention.apply()
    assert done["bodies"] == 1 and done["transcripts"] == 1
    assert ids(await find(store, "purgeword")) == [new["ticket_id"]] != [old["ticket_id"]]


async def test_a_merge_or_a_chat_joining_a_ticket_keeps_what_is_found(store: TicketCore) -> None:
    a = await store.customers.create("Mergeme Target", [("phone", "4155555001")])
    b = await store.customers.create("Source Person", [("phone", "4155555002")])
    msg = await sms(store, "4155555002", "mergeword")
    await store.customers.merge(a["id"], b["id"], "ada")
    hits = await find(store, "mergeword")
    assert ids(hits) == [msg["ticket_id"]] and hits[0]["customer"]["id"] == a["id"]
    assert ids(await find(store, "4155555002")) == [msg["ticket_id"]]
    # An anonymous chat verified as a known customer: its messages move to the customer's open ticket.
    known = await sms(store, "4155555003", "hello")
    chat = await store.chats.start("visitor-9", "support", topic="general")
    await store.chats.say(chat["id"], "visitor", "joinword")
    await store.chats.verify(chat["id"], "phone", "4155555003", "ada")
    assert ids(await find(store, "joinword")) == [known["ticket_id"]]


# -- hostile input --------------------------------------------------------------------------------------


async def test_like_and_fts_syntax_and_sql_in_a_search_are_only_text(store: TicketCore) -> None:
    pct = await store.customers.create("100% Pure_Water", [("phone", "4155556001")])
    plain = await store.customers.create("100 PercentXWater", [("phone", "4155556002")])
    p = await sms(store, "4155556001", "hi")
    await sms(store, "4155556002", "hi")
    assert ids(await find(store, "100%")) == [p["ticket_id"]] and pct["id"] != plain["id"]
    assert ids(await find(store, "e_w")) == [p["ticket_id"]]  # `_` is no wildcard
    assert ids(await find(store, "%")) == ids(await find(store, "_")) == [p["ticket_id"]]  # literally, not all
    for text in ('"', 'refund OR x', 'NEAR(a b)', 'terms:x', '*', '^a', "'; DROP TABLE tickets; --", "a\\b",
                 "(((", "1 OR 1=1"):
        await find(store, text)  # no error: each is text to look for
    assert ids(await find(store, "#" + str(p["ticket_id"]))) == [p["ticket_id"]]  # the tables are still there


# -- the migration ----------------------------------------------------------------------------------------


async def test_the_migration_indexes_the_texts_written_before_it(store_url: str) -> None:
    await asyncio.to_thread(db.downgrade, store_url, "0009")
    engine = db.create_engine(store_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO customers (id, name, unidentified, tags, created_at, updated_at) "
                "VALUES (1, 'Old', false, '[]', 1, 1)"))
            await conn.execute(sa.text(
                "INSERT INTO tickets (id, customer_id, subject, topic, status, priority, assignee, tags, "
                "callback_requested, created_at, updated_at, version) "
                "VALUES (1, 1, 's', 'general', 'open', 'normal', '', '[]', false, 1, 1, 1)"))
            for i, (subject, body) in enumerate((("", "我想查询物流状态"), ("Backfill subject", "oldword here"),
                                                 ("", ""))):
                await conn.execute(sa.text(
                    "INSERT INTO interactions (id, ticket_id, customer_id, channel, direction, step, started_at, "
                    "address, name, call_id, did, flow, ivr_path, variables, queue, agent, hangup_cause_text, "
                    "hung_up_by, abandoned, callback_of, callback_request, record, reconciled, recording_path, "
                    "recording_sha256, recording_problem, subject, body, transcript) VALUES (:id, 1, 1, 'sms', "
                    "'inbound', 'ended', 1, '', '', '', '', '', '[]', '{}', '', '', '', '', false, '', '', '{}', "
                    "false, '', '', '', :subject, :body, '{}')"), {"id": i + 1, "subject": subject, "body": body})
    finally:
        await engine.dispose()
    await asyncio.to_thread(db.upgrade, store_url)
    core = TicketCore.build(store_url)
    await core.open()
    try:
        for word in ("物流", "oldword", "backfill"):
            hits = await find(core, word)
            assert ids(hits) == [1] and hits[0]["match"] == "text", word
    finally:
        await core.close()
