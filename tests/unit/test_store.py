"""The ticket store on both databases (SQLite file, PostgreSQL on the private test cluster):
identities, tickets, the status machine, merges, concurrency, retention, migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from callcenter.ami.testing import FakeAmi
from callcenter.core.errors import CallcenterError
from callcenter.tickets.store import Store, StorePolicy
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from callcenter.tickets.rules import SlaTarget
from callcenter.tickets.sla import SlaPolicy


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[TicketCore]:
    s = TicketCore.build(store_url, StorePolicy(default_region="US", reopen_days=7,
                                                retention_days={"recordings": 30, "bodies": 30}), clock=Clock())
    await s.open()
    yield s
    await s.close()


async def call(store: TicketCore, call_id: str, caller: str, name: str = "", **values: Any) -> dict[str, Any]:
    await store.calls.step(call_id, step="started", caller_id=caller, caller_name=name, did="8005550100",
                           topic="support")
    return await store.calls.step(call_id, step="ended", values={"talk_seconds": 30, **values})


async def test_one_caller_in_three_number_formats_is_one_customer_with_one_ticket(store: TicketCore) -> None:
    a = await call(store, "100.1", "+1 415-555-2671", "Ann O'Brien")
    b = await call(store, "100.2", "4155552671")
    c = await call(store, "100.3", "(415) 555-2671")
    assert a["customer_id"] == b["customer_id"] == c["customer_id"]
    assert a["ticket_id"] == b["ticket_id"] == c["ticket_id"]
    for text in ("+14155552671", "415.555.2671", f"#{a['customer_id']}"):
        found = await store.customers.find(text)
        assert found is not None and found["id"] == a["customer_id"] and found["name"] == "Ann O'Brien"
    file = await store.customers.file(a["customer_id"])
    assert [i["value"] for i in file["identities"]] == ["+14155552671"]
    assert [i["call_id"] for i in file["timeline"]] == ["100.3", "100.2", "100.1"]  # newest first (same clock: id)
    assert len(file["open_tickets"]) == 1
    assert await store.customers.screen_pop("(415) 555-2671") == file == await store.customers.screen_pop(f"#{a['customer_id']}")
    assert await store.customers.screen_pop("+1 212 555 0000") is None and await store.customers.screen_pop("#999999") is None


async def test_withheld_callers_are_separate_unidentified_customers_never_merged(store: TicketCore) -> None:
    ids = set()
    for i, caller in enumerate(["anonymous", "", "Restricted", "sip:anonymous@anonymous.invalid", "unavailable"]):
        row = await call(store, f"200.{i}", caller)
        ids.add(row["customer_id"])
        assert (await store.customers.file(row["customer_id"]))["customer"]["unidentified"] is True
    assert len(ids) == 5
    assert await store.customers.find("anonymous") is None


async def test_an_unparseable_number_is_kept_raw_and_flagged(store: TicketCore) -> None:
    row = await call(store, "300.1", "12ab#")
    file = await store.customers.file(row["customer_id"])
    assert file["identities"] == [{"kind": "phone", "value": "12ab#", "raw": "12ab#", "valid": False}]
    again = await call(store, "300.2", "12ab#")
    assert again["customer_id"] == row["customer_id"]


async def test_a_replayed_step_writes_the_call_once(store: TicketCore) -> None:
    for _ in range(3):
        await call(store, "400.1", "5551230001")
    assert (await store.calls.counts())["interactions"] == 1


async def test_status_machine_refuses_invalid_transitions_and_keeps_history(store: TicketCore) -> None:
    t = (await call(store, "500.1", "5551230002"))["ticket_id"]
    await store.tickets.update(t, "agent1", status="open", assignee="agent1", priority="high", note="card lost")
    with pytest.raises(CallcenterError) as bad:
        await store.tickets.update(t, "agent1", status="new")
    assert bad.value.error_id == "invalid-transition"
    await store.tickets.update(t, "agent1", status="resolved")
    await store.tickets.update(t, "agent2", status="closed")
    for status in ("open", "resolved", "new"):
        with pytest.raises(CallcenterError) as final:
            await store.tickets.update(t, "agent1", status=status)
        assert final.value.error_id == "invalid-transition"
    with pytest.raises(CallcenterError) as unknown:
        await store.tickets.update(t, "agent1", status="bogus")
    assert unknown.value.error_id == "bad-status"
    history = [(h["actor"], h["field"], h["old"], h["new"]) for h in (await store.tickets.get(t))["history"]]
    assert ("agent1", "status", "new", "open") in history and ("agent1", "note", "", "card lost") in history
    assert ("agent1", "priority", "normal", "high") in history and ("agent2", "status", "resolved", "closed") in history


async def test_a_new_contact_reopens_a_resolved_ticket_and_a_closed_one_gets_a_new_ticket(store: TicketCore) -> None:
    first = await call(store, "600.1", "5551230003")
    await store.tickets.update(first["ticket_id"], "agent1", status="resolved")
    second = await call(store, "600.2", "5551230003")
    assert second["ticket_id"] == first["ticket_id"]
    ticket = await store.tickets.get(first["ticket_id"])
    assert ticket["status"] == "open" and ("system", "status", "resolved", "open") in [
        (h["actor"], h["field"], h["old"], h["new"]) for h in ticket["history"]]
    await store.tickets.update(first["ticket_id"], "agent1", status="closed")
    third = await call(store, "600.3", "5551230003")
    assert third["ticket_id"] != first["ticket_id"] and third["customer_id"] == first["customer_id"]


async def test_an_old_ticket_or_another_topic_gets_a_new_ticket(store: TicketCore) -> None:
    clock = store.store.clock
    assert isinstance(clock, Clock)
    first = await call(store, "700.1", "5551230004")
    clock.now += 8 * 86400  # older than reopen_days
    later = await call(store, "700.2", "5551230004")
    assert later["ticket_id"] != first["ticket_id"]
    await store.calls.step("700.3", step="started", caller_id="5551230004", topic="sales")
    sales = await store.calls.get("700.3")
    assert sales is not None and sales["ticket_id"] not in (first["ticket_id"], later["ticket_id"])


async def test_a_callback_and_a_voicemail_join_the_original_calls_ticket(store: TicketCore) -> None:
    original = await call(store, "800.1", "5551230005")
    await store.tickets.request_callback("800.1", "cb1")
    await store.calls.step("800.2", step="started", caller_id="5551230005", direction="outbound", callback_of="800.1",
                           topic="general")
    callback = await store.calls.get("800.2")
    await store.calls.step("800.1", step="ended", channel="voicemail", caller_id="5551230005",
                           values={"recording_path": "/x.wav", "recording_seconds": 4.0})
    ticket = await store.tickets.get(original["ticket_id"])
    assert callback is not None and callback["ticket_id"] == original["ticket_id"]
    assert ticket["callback_requested"] is True
    assert sorted(i["channel"] for i in ticket["interactions"]) == ["voice", "voice", "voicemail"]


async def test_merge_and_unmerge_restore_the_original_state(store: TicketCore) -> None:
    a = await call(store, "900.1", "5551230006", "Ann")
    b = await call(store, "900.2", "sip:5551230007@example.invalid", "Ann (mobile)")
    await store.customers.update(b["customer_id"], add_tags=["VIP"])
    before = [await store.customers.file(c) for c in (a["customer_id"], b["customer_id"])]
    merged = await store.customers.merge(a["customer_id"], b["customer_id"], "supervisor")
    file = await store.customers.file(a["customer_id"])
    assert {i["value"] for i in file["identities"]} == {"+15551230006", "+15551230007"}
    assert file["customer"]["tags"] == ["vip"] and len(file["timeline"]) == 2
    assert (await store.customers.find("5551230007"))["id"] == a["customer_id"]  # type: ignore[index]
    with pytest.raises(CallcenterError) as same:
        await store.customers.merge(a["customer_id"], b["customer_id"], "supervisor")
    assert same.value.error_id == "same-customer"
    await store.customers.unmerge(merged["merge_id"], "supervisor")
    after = [await store.customers.file(c) for c in (a["customer_id"], b["customer_id"])]

    def strip(f: dict[str, Any]) -> Any:
        return ({k: v for k, v in f["customer"].items() if k != "updated_at"}, f["identities"],
                [t["id"] for t in f["open_tickets"]], [i["id"] for i in f["timeline"]])
    assert [strip(f) for f in after] == [strip(f) for f in before]
    with pytest.raises(CallcenterError) as twice:
        await store.customers.unmerge(merged["merge_id"], "supervisor")
    assert twice.value.error_id == "merge-undone"


async def test_concurrent_updates_to_one_ticket_lose_no_change(store: TicketCore) -> None:
    t = (await call(store, "1000.1", "5551230008"))["ticket_id"]
    await asyncio.gather(*(store.tickets.update(t, f"agent{i}", note=f"note {i}", add_tags=[f"t{i}"])
                           for i in range(8)))
    ticket = await store.tickets.get(t)
    assert sorted(ticket["tags"]) == sorted(f"t{i}" for i in range(8))
    assert sorted(h["new"] for h in ticket["history"] if h["field"] == "note") == sorted(f"note {i}" for i in range(8))
    with pytest.raises(CallcenterError) as stale:
        await store.tickets.update(t, "agent1", note="late", expected_version=1)
    assert stale.value.error_id == "ticket-conflict"


async def test_bad_text_is_refused_before_sql(store: TicketCore) -> None:
    t = (await call(store, "1100.1", "5551230009"))["ticket_id"]
    for kwargs in ({"note": "x" * 10_001}, {"note": "\x00"}, {"assignee": "a\r\nb"}, {"priority": "asap"},
                   {"note": 42}, {"add_tags": ["'; DROP TABLE tickets; --\n"]}):
        with pytest.raises(CallcenterError):
            await store.tickets.update(t, "agent1", **kwargs)
    await store.tickets.update(t, "agent1", note="'; DROP TABLE tickets; --")  # only text, bound as a parameter
    assert (await store.tickets.get(t))["history"][-1]["new"] == "'; DROP TABLE tickets; --"
    with pytest.raises(CallcenterError) as taken:
        await store.customers.create("Other", [("phone", "5551230009")])
    assert taken.value.error_id == "identity-taken"
    with pytest.raises(CallcenterError) as withheld:
        await store.customers.create("Nobody", [("phone", "anonymous")])
    assert withheld.value.error_id == "invalid-identity"


async def test_sla_due_times_follow_channel_and_priority(store_url: str) -> None:
    s = TicketCore.build(store_url, StorePolicy(sla=SlaPolicy(targets={
        "normal": SlaTarget(10, 100), "voicemail/normal": SlaTarget(5, 50), "urgent": SlaTarget(1, 2)})),
        clock=Clock(1000.0))
    await s.open()
    try:
        voice = await s.tickets.get((await call(s, "1200.1", "5551230010"))["ticket_id"])
        await s.calls.step("1200.2", step="ended", channel="voicemail", caller_id="5551230011", topic="x")
        vm = await s.calls.get("1200.2")
        assert vm is None  # a voicemail is not a voice interaction
        tickets = await s.tickets.recent()
        by_subject = {t["subject"].split()[0]: t for t in tickets}
        assert (voice["first_response_due"], voice["resolution_due"]) == (1000 + 600, 1000 + 6000)
        assert (by_subject["Voicemail"]["first_response_due"], by_subject["Voicemail"]["resolution_due"]) == (1300, 4000)
        urgent = await s.tickets.update(voice["id"], "agent1", priority="urgent")
        assert (urgent["first_response_due"], urgent["resolution_due"]) == (1060, 1120)
    finally:
        await s.close()


async def test_retention_removes_only_what_is_due(store: TicketCore, tmp_path: Path) -> None:
    import dataclasses
    store.store.policy = dataclasses.replace(store.store.policy, recording_roots=(tmp_path,))
    clock = store.store.clock
    assert isinstance(clock, Clock)
    old, new = tmp_path / "old.wav", tmp_path / "new.wav"
    old.write_bytes(b"RIFF"), new.write_bytes(b"RIFF")
    await call(store, "1300.1", "5551230012", recording_path=str(old))
    clock.now += 31 * 86400
    await call(store, "1300.2", "5551230012", recording_path=str(new))
    dry = await store.retention.apply(dry_run=True)
    assert [r["path"] for r in dry["recordings"]] == [str(old)] and old.exists()
    done = await store.retention.apply()
    assert [r["path"] for r in done["recordings"]] == [str(old)]
    assert not old.exists() and new.exists()
    purged = await store.calls.get("1300.1")
    assert purged is not None and purged["recording_path"] == "" and purged["purged_at"] == clock.now
    assert (await store.retention.apply())["recordings"] == []
    assert (await store.calls.counts())["interactions"] == 2  # the contacts stay
    # A path outside the recordings folders (a database someone else can write) is never deleted.
    outside = tmp_path.parent / f"{tmp_path.name}-victim.txt"
    outside.write_text("keep me")
    await call(store, "1300.3", "5551230013", recording_path=str(outside))
    await call(store, "1300.4", "5551230013", recording_path=str(tmp_path / ".." / outside.name))
    clock.now += 31 * 86400
    done = await store.retention.apply()
    assert outside.exists() and len(done["refused"]) == 2 and [r["path"] for r in done["recordings"]] == [str(new)]


async def test_migrations_run_down_and_up_again(store_url: str) -> None:
    await asyncio.to_thread(db.downgrade, store_url, "base")
    s = Store(store_url)
    with pytest.raises(db.StoreError) as unmigrated:
        await s.open()
    assert unmigrated.value.error_id == "store-not-migrated"
    await s.close()
    await asyncio.to_thread(db.upgrade, store_url)
    s = Store(store_url)
    await s.open()
    await s.close()


def test_a_broken_store_url_is_one_error_naming_the_key() -> None:
    for url, words in (("mysql://x/y", "driver 'mysql'"), ("not a url", "not a database URL"),
                       ("sqlite+aiosqlite://", "needs a file")):
        with pytest.raises(db.StoreError) as bad:
            db.parse_url(url)
        assert bad.value.error_id == "bad-store-url" and "store.url" in str(bad.value) and words in str(bad.value)


async def test_an_unreachable_store_is_store_unavailable() -> None:
    s = Store("postgresql+asyncpg://nobody:pw@127.0.0.1:9/none")
    with pytest.raises(db.StoreError) as down:
        await s.open()
    assert down.value.error_id == "store-unavailable"
    await s.close()


async def test_callback_requests_are_kept_and_a_callbacks_file_is_imported_once(store: TicketCore, tmp_path: Path) -> None:
    import json

    from callcenter.routing.stored import import_callbacks
    from callcenter.routing.callbacks import CallbackBook, CallbackRequest
    from callcenter.core.keeper import Keeper

    old = tmp_path / "callbacks.json"
    old.write_text(json.dumps([{"id": "abc", "queue": "q", "number": "5551", "joined_at": 1.0, "requested_at": 2.0,
                                "state": "pending", "attempts": 1, "call_id": "9.9"}]))
    assert await import_callbacks(store, old) == 1 and not old.exists()
    assert (tmp_path / "callbacks.json.imported").exists()
    keeper = Keeper("callbacks", store.routing_state.save_callback)
    task = asyncio.create_task(keeper.run())
    try:
        book = CallbackBook(None, attempts=2, keeper=keeper,
                            requests=[CallbackRequest(**r) for r in await store.routing_state.callback_requests()])
        assert book.open()[0].id == "abc"
        new = book.request("q", "5552", joined_at=3, now=4, call_id="9.10")
        attempt = book.start_attempt(new)
        await book.flush()  # what the dialer awaits before the Originate
        rows = {r["id"]: r for r in await store.routing_state.callback_requests()}
        assert rows[new.id]["state"] == "dialing" and rows[new.id]["attempt_id"] == attempt
        book.finished(new, answered=True, reason="", now=5)
        await book.flush()
        assert {r["id"]: r["state"] for r in await store.routing_state.callback_requests()} == {"abc": "pending",
                                                                                                new.id: "connected"}
    finally:
        task.cancel()
    broken = tmp_path / "callbacks.json"
    broken.write_text("{not json")
    assert await import_callbacks(store, broken) == 0 and (tmp_path / "callbacks.json.broken").exists()


def test_the_migrations_create_exactly_the_tables_of_the_models(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callcenter.tickets.schema import UNMAPPED, Base

    def mapped(name: str | None, kind: str, _parents: Any) -> bool:  # SQLite's FTS5 index is no model's table
        return not (kind == "table" and name in UNMAPPED)

    db.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    with sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}").connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": mapped})
        assert compare_metadata(context, Base.metadata) == []


async def test_routing_state_lives_in_the_store_and_a_routing_file_is_imported_once(store: TicketCore,
                                                                                   tmp_path: Path) -> None:
    import json

    from callcenter.routing.stored import import_routing
    from callcenter.config import parse_config
    from callcenter.routing.queues import QueueControl
    from callcenter.core.keeper import Keeper

    config = parse_config("queues:\n  support: {}\nagents:\n  agent1: {extension: '1001', queues: [support]}\n"
                          "dids:\n  '8005550100': {queue: support}\n", file="t.yaml", env={})
    old = tmp_path / "routing.json"
    old.write_text(json.dumps({"members": {"support": {"agent1": 7}}, "paused": {"agent1": {"reason": "lunch"}},
                               "agents": ["agent1"], "queues": ["support"]}))
    text = await import_routing(store, old)
    assert text is not None and not old.exists() and (tmp_path / "routing.json.imported").exists()
    keeper = Keeper("routing", store.routing_state.save_document)
    task = asyncio.create_task(keeper.run())
    try:
        control = QueueControl(config, FakeAmi(), tmp_path / "unused.json", keeper=keeper, stored=text)
        assert control.state.members["support"] == {"agent1": 7}
        assert control.state.paused["agent1"]["reason"] == "lunch"
        control.state.members["support"]["agent1"] = 3
        control._save()
        await control.flush()
        again = QueueControl(config, FakeAmi(), tmp_path / "unused.json", keeper=keeper,
                             stored=await import_routing(store, old))
        assert again.state.members["support"] == {"agent1": 3} and not (tmp_path / "unused.json").exists()
        # A bad entry is dropped and reported; the text is kept beside it, never lost.
        broken = json.dumps({"members": {"support": {"agent1": "high"}}, "agents": ["agent1"], "queues": ["support"]})
        QueueControl(config, FakeAmi(), tmp_path / "unused.json", keeper=keeper, stored=broken)
        await keeper.flush()
        assert await store.routing_state.document("routing.broken") == broken
    finally:
        task.cancel()


async def test_crossed_merges_cannot_make_a_loop_and_unmerges_in_any_order_restore_everyone(store: TicketCore) -> None:
    a, b, c = [(await call(store, f"1400.{i}", f"55512300{20 + i}"))["customer_id"] for i in range(3)]
    results = await asyncio.gather(store.customers.merge(a, b, "s1"), store.customers.merge(b, a, "s2"), return_exceptions=True)
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, CallcenterError)]
    assert len(ok) == 1 and len(refused) == 1 and refused[0].error_id == "same-customer", results
    await store.customers.unmerge(ok[0]["merge_id"], "s")
    # C into B, then B into A; undone in the same order: each gets its own back.
    before = {x: {i["value"] for i in (await store.customers.file(x))["identities"]} for x in (a, b, c)}
    first = await store.customers.merge(b, c, "s")
    second = await store.customers.merge(a, b, "s")
    assert {i["value"] for i in (await store.customers.file(a))["identities"]} == set().union(*before.values())
    await store.customers.unmerge(first["merge_id"], "s")
    await store.customers.unmerge(second["merge_id"], "s")
    assert {x: {i["value"] for i in (await store.customers.file(x))["identities"]} for x in (a, b, c)} == before
    # A loop written into the database by someone else is refused, not followed forever.
    async with store.store.session() as s, s.begin():
        from sqlalchemy import update as sql_update

        from callcenter.tickets.schema import Customer
        await s.execute(sql_update(Customer).where(Customer.id == a).values(merged_into=b))
        await s.execute(sql_update(Customer).where(Customer.id == b).values(merged_into=a))
    with pytest.raises(CallcenterError) as loop:
        await store.customers.file(a)
    assert loop.value.error_id == "merge-loop"
    for huge in (2**31, 10**400, -1, 0):
        with pytest.raises(CallcenterError) as unknown:
            await store.customers.merge(c, huge, "s")
        assert unknown.value.error_id == "unknown-customer"


async def test_the_same_identity_created_concurrently_is_one_customer_and_409s(store: TicketCore) -> None:
    results = await asyncio.gather(*(store.customers.create(f"n{i}", [("phone", "+1 555 123 0099")]) for i in range(8)),
                                   return_exceptions=True)
    assert len([r for r in results if isinstance(r, dict)]) == 1, results
    assert all(r.error_id == "identity-taken" for r in results if not isinstance(r, dict)), results  # type: ignore[union-attr]


async def test_a_store_that_cannot_be_used_is_one_line_naming_the_key(tmp_path: Path) -> None:
    from callcenter.tickets.store import policy
    from callcenter.tickets.feature import open_core
    from callcenter.config import parse_config

    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    for url, words in ((f"sqlite+aiosqlite:///{tmp_path / 'garbage.db'}", "file is not a database"),
                       (f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}", "does not exist"),
                       ("postgresql+asyncpg://u:secret@127.0.0.1:9/db", "cannot use the database")):
        config = parse_config(f"store: {{url: '{url}'}}\nqueues: {{q: {{}}}}\nagents: {{a: {{extension: '10'}}}}\n"
                              "dids: {'8005550100': {queue: q}}\n", file="t.yaml", env={})
        with pytest.raises(db.StoreError) as bad:
            await open_core(config.store_url, policy(config.store))
        message = str(bad.value)
        assert bad.value.error_id == "store-unavailable" and "store.url" in message and words in message, message
        assert "\n" not in message and "secret" not in message


async def test_status_says_when_the_sqlite_file_is_gone(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gone.db'}"
    await asyncio.to_thread(db.upgrade, url)
    s = Store(url)
    await s.open()
    try:
        assert s.describe()["problem"] == "" and s.describe()["url"] == url
        (tmp_path / "gone.db").unlink()
        assert "is gone" in s.describe()["problem"]
    finally:
        await s.close()


async def test_what_the_store_refuses_is_an_error_of_its_kind_and_only_an_unusable_store_a_store_error(
        store: TicketCore) -> None:
    from callcenter.core.errors import Kind

    t = (await call(store, "1500.1", "5551230030"))["ticket_id"]
    await store.tickets.update(t, "agent1", status="closed")
    for attempt, error_id, kind in ((store.tickets.get(999_999), "unknown-ticket", Kind.NOT_FOUND),
                                    (store.customers.file(999_999), "unknown-customer", Kind.NOT_FOUND),
                                    (store.tickets.update(t, "agent1", status="open"), "invalid-transition", Kind.RULE),
                                    (store.tickets.update(t, "agent1", priority="asap"), "bad-priority", Kind.REFUSED),
                                    (store.tickets.update(t, "agent1", note="a\x00b"), "bad-text", Kind.REFUSED),
                                    (store.tickets.update(t, "agent1", note="x", expected_version=0), "ticket-conflict",
                                     Kind.CONFLICT),
                                    (store.customers.create("x", [("phone", "5551230030")]), "identity-taken",
                                     Kind.CONFLICT)):
        with pytest.raises(CallcenterError) as refused:
            await attempt
        assert (refused.value.error_id, refused.value.kind) == (error_id, kind)
        assert not isinstance(refused.value, db.StoreError)
    with pytest.raises(db.StoreError) as bad:
        db.parse_url("mysql://x/y")
    assert bad.value.kind == Kind.UNAVAILABLE


async def test_chat_messages_said_at_once_are_written_together_one_to_an_ended_chat_fails_alone(
        store: TicketCore) -> None:
    chats = [await store.chats.start(f"visitor{i}", "support", topic="support") for i in range(20)]
    await store.chats.end(chats[7]["id"], "visitor")
    writes = store.store.writes
    results = await asyncio.gather(*(store.chats.say(c["id"], "visitor", f"hello {i}") for i, c in enumerate(chats)),
                                   return_exceptions=True)
    assert isinstance(results[7], CallcenterError) and results[7].error_id == "chat-ended"
    assert [r["text"] for i, r in enumerate(results) if i != 7] == [f"hello {i}" for i in range(20) if i != 7]
    assert store.store.writes - writes <= 3  # a group commit: not one transaction per message
    for i, c in enumerate(chats):
        said = [m["text"] for m in await store.chats.messages(c["id"])]
        assert said == ([] if i == 7 else [f"hello {i}"]), (i, said)
