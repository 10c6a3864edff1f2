"""SMS: Twilio's signature (its published vector), segments, opt-out words; then real HTTP webhooks
with good and forged signatures into the real app of `app.build` (fake AMI, real SQLite store, a
real HTTP server on 127.0.0.1), replies through the dev provider and through a Twilio stand-in
served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from callcenter import app as app_mod
from callcenter.channels.sms.feature import SmsFeature
from callcenter.channels.sms import rules as sms
from callcenter.channels.sms.provider import DevSms, TwilioSms
from callcenter.channels.sms.service import OptedOut, SmsService
from callcenter.config import Config, parse_config
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError, Conflict, NotFound, Refused
from callcenter.core.events import CallRecord
from callcenter.core.credentials import Credentials
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from tests.support.webapp import running_app
from tests.support.config import CONFIG

PUBLIC = "http://127.0.0.1:8080"


def test_the_signature_is_twilios() -> None:
    """The vector of Twilio's own request-validator tests (twilio-python)."""
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
              ("From", "+14158675309"), ("To", "+18005551212")]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sms.signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert sms.signature("12345", url, list(reversed(params))) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert sms.signature_ok("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not sms.signature_ok("12345", url, params[:-1] + [("To", "+18005551213")], "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not sms.signature_ok("", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not sms.signature_ok("12345", url, params, "")


@pytest.mark.parametrize("text, expected", [
    ("", ("gsm7", 1)), ("a" * 160, ("gsm7", 1)), ("a" * 161, ("gsm7", 2)), ("a" * 306, ("gsm7", 2)),
    ("a" * 307, ("gsm7", 3)), ("€" * 80, ("gsm7", 1)), ("€" * 81, ("gsm7", 2)),  # extension: 2 septets each
    ("你" * 70, ("ucs2", 1)), ("你" * 71, ("ucs2", 2)), ("😀" * 35, ("ucs2", 1)), ("😀" * 36, ("ucs2", 2)),
])
def test_segments_follow_gsm_03_38(text: str, expected: tuple[str, int]) -> None:
    assert sms.segments(text) == expected


def test_opt_out_words() -> None:
    assert [sms.keyword(w) for w in ("STOP", " stop ", "Unsubscribe", "START", "yes", "stop please", "")] == \
        ["stop", "stop", "stop", "start", "start", "", ""]


class Site:
    def __init__(self, client: TestClient, creds: Credentials, parts: app_mod.App) -> None:
        self.client, self.creds, self.parts = client, creds, parts
        self.token = creds.twilio_auth_token

    async def webhook(self, params: list[tuple[str, str]], path: str = "/webhooks/sms/twilio",
                      signature: str | None = None) -> Any:
        signed = sms.signature(self.token, PUBLIC + path, params) if signature is None else signature
        return await self.client.post(path, data=urllib.parse.urlencode(params), headers={
            "X-Twilio-Signature": signed, "Content-Type": "application/x-www-form-urlencoded"})

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        return await self.client.request(method, path, json=body,
                                         headers={"Authorization": f"Bearer {self.creds.api_token}"})


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_app(CONFIG.format(runtime=tmp_path), tmp_path) as (client, creds, parts):
        yield Site(client, creds, parts)


def inbound(sender: str, text: str, sid: str) -> list[tuple[str, str]]:
    return [("From", sender), ("To", "+18005550100"), ("Body", text), ("MessageSid", sid), ("NumMedia", "0")]


async def test_a_signed_sms_joins_the_callers_file_once_and_a_forged_one_stores_nothing(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    await store.calls.step("900.1", step="started", caller_id="4155550400", did="8005550100", topic="general")
    r = await site.webhook(inbound("+14155550400", "Where is my order <b>4567</b>?", "SM1"))
    assert r.status == 200 and "<Response>" in await r.text()
    again = await site.webhook(inbound("+14155550400", "Where is my order <b>4567</b>?", "SM1"))  # Twilio retries
    assert again.status == 200
    customer = await store.customers.find("+1 415 555 0400")
    assert customer is not None
    file = await store.customers.file(customer["id"])
    channels = sorted(i["channel"] for i in file["timeline"])
    assert channels == ["sms", "voice"]  # the caller who texts is the same customer, one file
    text = [i for i in file["timeline"] if i["channel"] == "sms"][0]
    assert text["body"] == "Where is my order <b>4567</b>?" and text["external_id"] == "SM1"
    for forged in ("", "bm90IGl0", sms.signature("wrong-token", PUBLIC + "/webhooks/sms/twilio",
                                                inbound("+14155550499", "hi", "SM2"))):
        r = await site.webhook(inbound("+14155550499", "hi", "SM2"), signature=forged)
        assert r.status == 403
    tampered = sms.signature(site.token, PUBLIC + "/webhooks/sms/twilio", inbound("+14155550499", "hi", "SM3"))
    r = await site.webhook(inbound("+14155550499", "send money", "SM3"), signature=tampered)
    assert r.status == 403
    assert await store.customers.find("+14155550499") is None  # nothing stored for any of them
    r = await site.client.post("/webhooks/sms/twilio", data=b"\xff\xfe", headers={"X-Twilio-Signature": "x"})
    assert r.status == 403


async def test_replies_go_out_stop_is_honoured_and_long_texts_refused(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    await site.webhook(inbound("+14155550401", "Hello", "SM10"))
    ticket = (await store.tickets.recent())[0]["id"]
    r = await site.api("POST", f"/api/tickets/{ticket}/reply", {"channel": "sms", "text": "Hi! Your order ships today."})
    body = await r.json()
    assert r.status == 200 and body["address"] == "+14155550401" and body["segments"] == 1
    assert body["delivery_status"] == "sent (dev)" and body["direction"] == "outbound"
    assert site.parts.feature(SmsFeature).provider.sent == [("+14155550401", "Hi! Your order ships today.")]  # type: ignore[attr-defined]
    r = await site.api("POST", f"/api/tickets/{ticket}/reply", {"channel": "sms", "text": "你" * 700})
    assert r.status == 400 and (await r.json())["error_id"] == "too-long"
    await site.webhook(inbound("+14155550401", "STOP", "SM11"))
    r = await site.api("POST", f"/api/tickets/{ticket}/reply", {"channel": "sms", "text": "Still there?"})
    assert r.status == 409 and (await r.json())["error_id"] == "opted-out"
    await site.webhook(inbound("+14155550401", "start", "SM12"))
    r = await site.api("POST", f"/api/tickets/{ticket}/reply", {"channel": "sms", "text": "Welcome back"})
    assert r.status == 200
    for bad in ({"channel": "fax", "text": "x"}, {"channel": "sms", "text": ""}, {"channel": "sms", "text": 5},
                {"channel": "sms", "text": "x", "to": "+1 (415) ٥٥٥"}):
        r = await site.api("POST", f"/api/tickets/{ticket}/reply", bad)
        assert r.status == 400, bad
    for forged_sender in ("+14155550199\r\nX: y", "+1415555\x000199"):  # would break lines in lists and logs
        r = await site.webhook(inbound(forged_sender, "hi", "SM99"))
        assert r.status == 400
    # A delivery report for the last reply updates it.
    last = [i for i in (await store.tickets.get(ticket))["interactions"] if i["direction"] == "outbound"][-1]
    r = await site.webhook([("MessageSid", last["external_id"]), ("MessageStatus", "delivered")],
                           path="/webhooks/sms/twilio/status")
    assert r.status == 200
    last = [i for i in (await store.tickets.get(ticket))["interactions"] if i["id"] == last["id"]][0]
    assert last["delivery_status"] == "delivered"


async def test_an_agent_replies_by_either_channel_on_tickets_of_theirs_or_of_nobodys(site: Site) -> None:
    store = site.parts.store
    assert store is not None
    texted, _ = await store.messages.inbound("sms", "+14155550490", "Hello", external_id="SM90")
    mailed, _ = await store.messages.inbound("email", "bob@example.com", "Hello", external_id="<b1@example.com>")
    browser = aiohttp.ClientSession(base_url=str(site.client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with browser.post("/api/login", json={"name": "agent1",
                                                    "password": site.creds.web_passwords["agent1"]}) as r:
            csrf = (await r.json())["csrf_token"]

        async def reply(ticket: int, channel: str) -> tuple[int, Any]:
            async with browser.post(f"/api/tickets/{ticket}/reply", json={"channel": channel, "text": "On it."},
                                    headers={"X-CSRF-Token": csrf}) as r:
                return r.status, await r.json()
        for row, channel in ((texted, "sms"), (mailed, "email")):
            ticket = row["ticket_id"]
            status, body = await reply(ticket, channel)
            assert status == 200 and body["agent"] == "agent1" and body["channel"] == channel  # nobody's
            await store.tickets.update(ticket, "supervisor", assignee="agent2")
            status, body = await reply(ticket, channel)
            assert status == 403 and body["error_id"] == "forbidden"  # another agent's
            r = await site.api("POST", f"/api/tickets/{ticket}/reply", {"channel": channel, "text": "Admin here."})
            assert r.status == 200  # the API token: an admin, any ticket
            await store.tickets.update(ticket, "supervisor", assignee="agent1")
            assert (await reply(ticket, channel))[0] == 200  # their own
        status, body = await reply(999_999, "sms")
        assert status == 404 and body["error_id"] == "unknown-ticket"
    finally:
        await browser.close()
    for bad in ({"channel": ["sms"], "text": "x"}, {"channel": {}, "text": "x"}, {"text": "x"},
                {"channel": "email", "text": "x", "to": 5}, {"channel": "email", "text": " "}):
        r = await site.api("POST", f"/api/tickets/{texted['ticket_id']}/reply", bad)
        assert r.status == 400 and (await r.json())["error_id"] == "bad-request", bad


class FakeTwilio(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, list[str]], str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        FakeTwilio.received.append((self.path, form, self.headers.get("Authorization", "")))
        if form.get("To") == ["+15550000000"]:
            self.send_response(400)
            body = json.dumps({"code": 21211, "message": "Invalid 'To' Phone Number"}).encode()
        else:
            self.send_response(201)
            body = json.dumps({"sid": "SM" + "a" * 32, "status": "queued"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_twilio() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_the_twilio_provider_posts_what_twilio_expects(fake_twilio: str) -> None:
    sid = "AC" + "0" * 32
    provider = TwilioSms(fake_twilio, sid, "secret-token", "+18005550100")
    got = await provider.send("+14155550402", "Hello", "http://127.0.0.1:8080/webhooks/sms/twilio/status")
    assert got == ("SM" + "a" * 32, "queued")
    path, form, auth = FakeTwilio.received[-1]
    assert path == f"/2010-04-01/Accounts/{sid}/Messages.json"
    assert form["To"] == ["+14155550402"] and form["From"] == ["+18005550100"] and form["Body"] == ["Hello"]
    assert form["StatusCallback"] == ["http://127.0.0.1:8080/webhooks/sms/twilio/status"]
    import base64
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == f"{sid}:secret-token"
    from callcenter.core.errors import CallcenterError
    with pytest.raises(CallcenterError) as refused:
        await provider.send("+15550000000", "x", "")
    assert refused.value.error_id == "sms-send-failed" and "Invalid 'To'" in str(refused.value)
    with pytest.raises(CallcenterError) as down:
        await TwilioSms("http://127.0.0.1:9", sid, "t", "+18005550100", timeout=3).send("+14155550402", "x", "")
    assert down.value.error_id == "sms-send-failed"


@pytest.mark.parametrize("section, problem", [
    ("sms: {provider: pigeon}", "unknown provider"), ("sms: {public_url: 'ftp://x'}", "not an http(s) URL"),
    ("sms: {provider: twilio}", "needs from_number"),
    ("sms: {provider: twilio, from_number: '+18005550100', twilio_account_sid: AC123}", "needs from_number"),
])
def test_sms_settings_are_checked(tmp_path: Path, section: str, problem: str) -> None:
    from callcenter.config import ConfigError
    with pytest.raises(ConfigError) as bad:
        parse_config(CONFIG.format(runtime=tmp_path) + section + "\n", file="test.yaml", env={})
    assert problem in str(bad.value) and "test.yaml" in str(bad.value)


async def test_messages_of_a_new_sender_at_once_make_one_customer_and_lose_none(store_url: str) -> None:
    store = TicketCore.build(store_url)
    await store.open()
    try:
        messages = store.messages
        got = await asyncio.gather(*(messages.inbound("sms", "+14155550450", f"part {i}", external_id=f"SMX{i}")
                                     for i in range(8)))
        assert all(new for _, new in got)
        customer = await store.customers.find("+14155550450")
        assert customer is not None
        file = await store.customers.file(customer["id"])
        assert sorted(i["body"] for i in file["timeline"]) == sorted(f"part {i}" for i in range(8))
    finally:
        await store.close()


async def test_a_known_customer_writing_at_once_gets_one_ticket_and_every_write_lands(store_url: str) -> None:
    """A hostile trial sent 20 SMS at once from a customer who had no open ticket: 9-15 tickets
    opened, and with agents editing the ticket meanwhile some SMS got a 500 and were lost."""
    store = TicketCore.build(store_url)
    await store.open()
    try:
        messages = store.messages
        customer = await store.customers.create("Pre", [("phone", "+14155557100")])
        got = await asyncio.gather(*(messages.inbound("sms", "+14155557100", f"first {i}", external_id=f"SMK{i}")
                                     for i in range(20)))
        assert len({m["ticket_id"] for m, _ in got}) == 1
        ticket = got[0][0]["ticket_id"]
        # Then the same customer, one ticket, everything at once: SMS in, replies out, edits.
        writes = [messages.inbound("sms", "+14155557100", f"more {i}", external_id=f"SML{i}") for i in range(15)]
        writes += [store.tickets.update(ticket, f"agent{i}", note=f"note {i}", add_tags=[f"t{i}"]) for i in range(15)]
        writes += [messages.outbound(ticket, "sms", "+14155557100", f"reply {i}", actor="agent1") for i in range(5)]
        await asyncio.gather(*writes)
        file = await store.customers.file(customer["id"])
        assert [t["id"] for t in file["open_tickets"]] == [ticket]
        bodies = [i["body"] for i in file["timeline"]]
        assert sorted(bodies) == sorted([f"first {i}" for i in range(20)] + [f"more {i}" for i in range(15)]
                                        + [f"reply {i}" for i in range(5)])
        assert {f"t{i}" for i in range(15)} <= set((await store.tickets.get(ticket))["tags"])
    finally:
        await store.close()


class Service:
    """An SmsService on a real SQLite store, without HTTP: the dev provider, the events it publishes."""

    def __init__(self, store: TicketCore, config: Config) -> None:
        self.store, self.config, self.provider = store, config, DevSms()
        self.events: list[Any] = []
        self.sms = SmsService(store.messages, self.provider, lambda: self.config, self.publish, lambda: 1234.5)

    async def publish(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    config = parse_config(CONFIG.format(runtime=tmp_path) + "sms: {missed_call_text: 'Sorry we missed you: "
                          "reply here.'}\n", file="test.yaml", env={})
    try:
        yield Service(store, config)
    finally:
        await store.close()


async def test_an_inbound_sms_is_stored_once_per_sid_published_once_and_stop_start_recorded(service: Service) -> None:
    row, new = await service.sms.receive("+14155550470", "Where is my order?\x00", "SM70", to="+18005550100")
    assert new and row["body"] == "Where is my order?" and row["external_id"] == "SM70" and row["did"] == "+18005550100"
    again, new = await service.sms.receive("+14155550470", "Where is my order?", "SM70")  # the provider retries
    assert not new and again["id"] == row["id"]
    (event,) = service.events
    assert isinstance(event, ev.MessageReceived) and event.channel == "sms" and event.ticket_id == row["ticket_id"]
    assert event.address == "+14155550470" and event.text == "Where is my order?" and event.at == 1234.5
    await service.sms.receive("+14155550470", " Stop ", "SM71")
    assert await service.store.messages.opted_out("+14155550470")
    await service.sms.receive("+14155550470", "STOP", "SM71")  # a retry of the STOP: nothing more published
    await service.sms.receive("+14155550470", "unstop", "SM72")
    assert not await service.store.messages.opted_out("+14155550470")
    assert len(service.events) == 3


@pytest.mark.parametrize("sender, body, sid", [
    ("", "hi", "SM1"), ("+14155550471", "hi", ""), ("+14155550471", "x" * 1601, "SM1"),
    ("+1" * 40, "hi", "SM1"), ("+14155550471", "hi", "S" * 101), ("+14155550471\r\nX: y", "hi", "SM1"),
    ("+1415555\x000471", "hi", "SM1"), ("+14155550471", "hi", "SM\n1"),
])
async def test_an_inbound_sms_without_sender_or_sid_or_with_a_broken_one_is_refused(
        service: Service, sender: str, body: str, sid: str) -> None:
    with pytest.raises(Refused) as refused:
        await service.sms.receive(sender, body, sid)
    assert refused.value.error_id == "bad-request" and service.events == []
    assert await service.store.customers.find("+14155550471") is None


async def test_a_reply_goes_to_the_customers_phone_or_to_and_is_refused_when_it_cannot(service: Service) -> None:
    row, _ = await service.sms.receive("+14155550472", "Hello", "SM80")
    ticket = row["ticket_id"]
    sent = await service.sms.reply(ticket, "Hi! It ships today.", to=None, actor="agent1")
    assert sent["address"] == "+14155550472" and sent["agent"] == "agent1" and sent["direction"] == "outbound"
    assert sent["segments"] == 1 and sent["encoding"] == "gsm7" and sent["delivery_status"] == "sent (dev)"
    other = await service.sms.reply(ticket, "你好", to="+14155550473", actor="agent1")
    assert other["address"] == "+14155550473" and other["encoding"] == "ucs2"
    assert service.provider.sent == [("+14155550472", "Hi! It ships today."), ("+14155550473", "你好")]
    report = await service.sms.delivery_report(sent["external_id"], "delivered")
    assert report is not None and report["delivery_status"] == "delivered"
    assert await service.sms.delivery_report("SMunknown", "delivered") is None
    assert await service.sms.delivery_report(sent["external_id"], "") is None
    for text, to, error_id, kind in (("你" * 700, None, "too-long", Refused), ("x", "+1 (415) ٥٥٥", "bad-number", Refused)):
        with pytest.raises(CallcenterError) as refused:
            await service.sms.reply(ticket, text, to=to, actor="agent1")
        assert refused.value.error_id == error_id and isinstance(refused.value, kind)
    await service.sms.receive("+14155550472", "STOP", "SM81")
    with pytest.raises(OptedOut) as out:
        await service.sms.reply(ticket, "Still there?", to=None, actor="agent1")
    assert out.value.error_id == "opted-out" and isinstance(out.value, Conflict)
    with pytest.raises(NotFound):
        await service.sms.reply(999_999, "x", to=None, actor="agent1")
    assert len(service.provider.sent) == 2  # nothing sent for any refusal


async def test_a_caller_who_gave_up_gets_the_missed_call_sms_on_the_calls_ticket(service: Service,
                                                                                tmp_path: Path) -> None:
    gave_up = CallRecord("990.1", "4155550460", "", "8005550100", "inbound", 0.0, queue="support", abandoned=True)
    answered = CallRecord("990.2", "4155550460", "", "8005550100", "inbound", 0.0, queue="support",
                          agent_answered_at=5.0)
    withheld = CallRecord("990.3", "anonymous", "", "8005550100", "inbound", 0.0, queue="support", abandoned=True)
    left_a_message = CallRecord("990.4", "4155550460", "", "8005550100", "inbound", 0.0, voicemail="/vm/1.wav")
    assert sms.missed(gave_up) and not sms.missed(answered) and not sms.missed(withheld)
    assert not sms.missed(left_a_message)
    row = await service.store.calls.step("990.1", step="ended", caller_id="4155550460", did="8005550100")
    assert await service.sms.missed_call(gave_up, row["ticket_id"])
    assert service.provider.sent == [("4155550460", "Sorry we missed you: reply here.")]
    ticket = await service.store.tickets.get(row["ticket_id"])
    (text,) = [i for i in ticket["interactions"] if i["channel"] == "sms"]
    assert text["agent"] == "system" and text["direction"] == "outbound"
    assert not await service.sms.missed_call(answered, row["ticket_id"])
    await service.store.messages.set_opt_out("4155550460", True)
    assert not await service.sms.missed_call(gave_up, row["ticket_id"])  # STOP: nothing, and no error
    await service.store.messages.set_opt_out("4155550460", False)
    service.config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})  # missed_call_text off
    assert not await service.sms.missed_call(gave_up, row["ticket_id"])
    assert len(service.provider.sent) == 1


async def test_the_missed_call_sms_follows_a_stored_call_on_the_bus(tmp_path: Path) -> None:
    """The feature's subscription: CallStored published → the text goes out, through the app of `app.build`."""
    text = "sms: {missed_call_text: 'Sorry we missed you.'}\n"
    provider = DevSms()
    async with running_app(CONFIG.format(runtime=tmp_path) + text, tmp_path, sms_provider=provider) as (_, _, parts):
        assert parts.store is not None
        record = CallRecord("991.1", "4155550461", "", "8005550100", "inbound", 0.0, queue="support", abandoned=True)
        row = await parts.store.calls.step("991.1", step="ended", caller_id="4155550461", did="8005550100")
        await parts.bus.publish(ev.CallStored(record, dict(row), 1.0))
        for _ in range(200):
            if provider.sent:
                break
            await asyncio.sleep(0.01)
        assert provider.sent == [("4155550461", "Sorry we missed you.")]
