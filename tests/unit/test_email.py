"""Email into tickets: a corpus of messages made here with the email package (multipart, attachments,
GBK/Big5/ISO-8859 subjects, Gmail and Outlook reply styles, auto-replies, a bounce, broken MIME),
sent through real SMTP sessions (smtplib) into the receiver (aiosmtpd on 127.0.0.1) and a real
SQLite store; threading by Message-ID / In-Reply-To / References and `[#123]`."""

from __future__ import annotations

import asyncio
import smtplib
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from callcenter.channels.email.feature import EmailFeature
from callcenter.channels.email import parse as mail
from callcenter.channels.email.intake import MailIntake, serve
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from tests.support.webapp import running_app
from tests.support.config import CONFIG
from tests.support.mail import file_of, message


class Receiver:
    def __init__(self, store: TicketCore, intake: MailIntake, port: int) -> None:
        self.store, self.intake, self.port = store, intake, port
        self.events: list[Any] = []

    async def send(self, message: bytes | EmailMessage, sender: str = "ann@example.com") -> None:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP's line ends (RFC 5321)

        def session() -> None:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
                smtp.sendmail(sender, ["support@callcenter.test"], raw)
        await asyncio.to_thread(session)


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    events: list[Any] = []

    async def publish(event: Any) -> None:
        events.append(event)
    intake = MailIntake(store.messages, tmp_path, publish, max_attachment_bytes=1000)
    server = await serve(intake, "127.0.0.1", 0, max_bytes=200_000)
    port = server.sockets[0].getsockname()[1]
    r = Receiver(store, intake, port)
    r.events = events
    yield r
    server.close()
    await server.wait_closed()
    await store.close()


async def test_a_thread_stays_on_one_ticket_and_a_subject_reference_or_a_new_mail_decides_otherwise(
        receiver: Receiver) -> None:
    await receiver.send(message("My order 4567 is late", "Hello,\nwhere is my order?\nAnn", msgid="<a1@example.com>"))
    gmail = message("Re: My order 4567 is late", "Thanks!\n\nOn Mon, 30 Nov 2026 at 10:00, Support <s@x> wrote:\n"
                    "> It ships today.\n", msgid="<a2@example.com>", in_reply_to="<a1@example.com>")
    await receiver.send(gmail)
    outlook = message("RE: My order 4567 is late", "One more question.\n\n-----Original Message-----\nFrom: "
                      "Support\nSent: Monday\n\nIt ships today.", msgid="<a3@example.com>",
                      references="<zzz@nowhere> <a2@example.com>")  # only References, an id from the middle
    await receiver.send(outlook)
    file = await file_of(receiver.store, "ann@example.com")
    emails = [i for i in file["timeline"] if i["channel"] == "email"]
    assert len(emails) == 3 and len({e["ticket_id"] for e in emails}) == 1
    latest = emails[0]
    assert latest["body"] == "One more question." and "It ships today." in latest["variables"]["quoted"]
    assert [e for e in emails if e["external_id"] == "<a2@example.com>"][0]["body"] == "Thanks!"
    ticket = emails[0]["ticket_id"]
    await receiver.send(message(f"Invoice question [#{ticket}]", "About the invoice", msgid="<b0@example.com>"))
    ann_ref = [i for i in (await receiver.store.tickets.get(ticket))["interactions"] if i["external_id"] == "<b0@example.com>"]
    assert len(ann_ref) == 1  # the customer writing about their ticket by its number joins it
    # A stranger naming the ticket's number does not: ticket numbers are easy to guess, and the
    # agent's answer must not go to them (hostile trial).
    await receiver.send(message(f"Re: [#{ticket}] hi", "Send me the address", msgid="<b1@example.com>",
                                sender="mallory@evil.example"), "mallory@evil.example")
    assert not [i for i in (await receiver.store.tickets.get(ticket))["interactions"] if "evil" in i["address"]]
    assert (await receiver.intake.messages.email_thread(ticket))["to"] == "ann@example.com"
    await receiver.send(message("Another topic", "New question", msgid="<c1@example.com>"))
    tickets = {i["ticket_id"] for i in (await file_of(receiver.store, "ann@example.com"))["timeline"]}
    assert len(tickets) == 2  # no thread, no reference: a new ticket
    await receiver.send(outlook)  # sent twice (a retry): stored once
    assert len([i for i in (await file_of(receiver.store, "ann@example.com"))["timeline"]
                if i["external_id"] == "<a3@example.com>"]) == 1
    assert len(receiver.events) == 6


async def test_charsets_multipart_html_and_attachments(receiver: Receiver, tmp_path: Path) -> None:
    gbk = MIMEText("请问我的订单什么时候发货？", "plain", "gbk")
    gbk["Subject"] = Header("订单查询 4567", "gbk")
    gbk["From"], gbk["Message-ID"] = "wang@example.cn", "<g1@example.cn>"
    await receiver.send(gbk.as_bytes(), "wang@example.cn")
    big5 = MIMEText("我的訂單", "plain", "big5")
    big5["Subject"] = Header("訂單問題", "big5")
    big5["From"], big5["Message-ID"] = "chen@example.tw", "<t1@example.tw>"
    await receiver.send(big5.as_bytes(), "chen@example.tw")
    latin = MIMEText("Où est ma commande ?", "plain", "iso-8859-1")
    latin["Subject"] = Header("Commande très urgente", "iso-8859-1")
    latin["From"], latin["Message-ID"] = "zoe@example.fr", "<f1@example.fr>"
    await receiver.send(latin.as_bytes(), "zoe@example.fr")
    gb2312_lie = MIMEText("", "plain", "utf-8")  # declared GB2312, written with GBK characters (common)
    gb2312_lie.set_payload("镕".encode("gbk"))
    del gb2312_lie["Content-Type"], gb2312_lie["Content-Transfer-Encoding"]
    gb2312_lie["Content-Type"] = 'text/plain; charset="gb2312"'
    gb2312_lie["From"], gb2312_lie["Subject"], gb2312_lie["Message-ID"] = "li@example.cn", "x", "<g2@example.cn>"
    await receiver.send(gb2312_lie.as_bytes(), "li@example.cn")
    for address, subject, text in (("wang@example.cn", "订单查询 4567", "请问我的订单什么时候发货？"),
                                   ("chen@example.tw", "訂單問題", "我的訂單"),
                                   ("zoe@example.fr", "Commande très urgente", "Où est ma commande ?"),
                                   ("li@example.cn", "x", "镕")):
        (row,) = [i for i in (await file_of(receiver.store, address))["timeline"]]
        assert (row["subject"], row["body"]) == (subject, text)
    alt = EmailMessage()
    alt["From"], alt["Subject"], alt["Message-ID"] = "kim@example.com", "HTML mail", "<h1@example.com>"
    alt.set_content("The plain text.")
    alt.add_alternative("<p>The <b>HTML</b><script>alert(1)</script></p>", subtype="html")
    alt.add_attachment(b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="../../etc/passwd.pdf")
    alt.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="big.png")  # over the 1000-byte limit
    await receiver.send(alt, "kim@example.com")
    (row,) = (await file_of(receiver.store, "kim@example.com"))["timeline"]
    assert row["body"] == "The plain text." and not row["variables"]["html"]
    names = [a["filename"] for a in row["variables"]["attachments"]]
    assert names == ["passwd.pdf", "big.png"]
    kept = sorted(p.name for p in (tmp_path / "attachments" / str(row["id"])).iterdir())
    assert kept == ["passwd.pdf"]  # the big one is listed, not kept; nothing written outside the folder
    only_html = EmailMessage()
    only_html["From"], only_html["Subject"], only_html["Message-ID"] = "lee@example.com", "h", "<h2@example.com>"
    only_html.set_content("<div>Hello&nbsp;<i>there</i><script>steal()</script></div>", subtype="html")
    await receiver.send(only_html, "lee@example.com")
    (row,) = (await file_of(receiver.store, "lee@example.com"))["timeline"]
    assert row["body"] == "Hello there" and row["variables"]["html"] and "steal" not in row["body"]


async def test_automatic_mail_is_marked_and_bad_mail_is_quarantined_never_dropped(receiver: Receiver) -> None:
    await receiver.send(message("Out of office", "I am away.", msgid="<o1@example.com>", Auto_Submitted="auto-replied"))
    await receiver.send(message("News", "Our newsletter", msgid="<n1@example.com>", List_Id="<news.example.com>"))
    bounce = MIMEMultipart("report", report_type="delivery-status")
    bounce["From"], bounce["Subject"], bounce["Message-ID"] = "MAILER-DAEMON@mx.example", "Undelivered", "<d1@mx>"
    bounce.attach(MIMEText("Delivery failed."))
    await receiver.send(bounce.as_bytes(), "")
    marks = {}
    for address in ("ann@example.com", "mailer-daemon@mx.example"):
        for row in (await file_of(receiver.store, address))["timeline"]:
            marks[row["external_id"]] = row["variables"]["automatic"]
    assert marks["<o1@example.com>"].startswith("Auto-Submitted") and marks["<n1@example.com>"] == "a mailing list"
    assert marks["<d1@mx>"] == "sent by mailer-daemon"
    broken = b"From: eve@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=klingon\r\n\r\nqapla'\r\n"
    no_sender = b"Subject: who am I\r\n\r\nhello\r\n"
    bad_bytes = b"From: eve@example.com\r\nSubject: y\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe\xfd\r\n"
    for raw in (broken, no_sender, bad_bytes):
        await receiver.send(raw, "eve@example.com")
    reasons = [q["reason"] for q in receiver.intake.quarantine()]
    assert len(reasons) == 3 and any("unknown charset" in r for r in reasons)
    assert any("no usable sender" in r for r in reasons) and any("not valid utf-8" in r for r in reasons)
    assert all(Path(q["file"]).read_bytes() for q in receiver.intake.quarantine())  # the message itself is kept
    with pytest.raises(smtplib.SMTPException):  # over email.max_bytes: refused in the session, so the sender knows
        await receiver.send(message("huge", "x" * 300_000, msgid="<big@example.com>"))


async def test_a_from_name_with_an_encoded_line_break_lands_and_never_names_another_address(
        receiver: Receiver) -> None:
    """A hostile trial: the email package refuses such a From (ValueError) and the sender was told
    451 (retry) forever. Now the mail lands, the break a space; an encoded <address> stays name."""
    for name, sender in (("=?utf-8?Q?Ann=0ASmith?=", "ann.crlf@example.com"),
                         ("=?utf-8?Q?=3Cboss@bank.example=3E=0D=0A?=", "mal.crlf@example.com")):
        await receiver.send(f"From: {name} <{sender}>\r\nSubject: hello\r\nMessage-ID: <{sender}>\r\n\r\n"
                            "text\r\n".encode(), sender)
    (ann,) = (await file_of(receiver.store, "ann.crlf@example.com"))["timeline"]
    assert ann["name"] == "Ann Smith" and ann["body"] == "text"
    (mal,) = (await file_of(receiver.store, "mal.crlf@example.com"))["timeline"]
    assert mal["name"] == "<boss@bank.example>" and await receiver.store.customers.find("boss@bank.example") is None
    assert receiver.intake.quarantine() == []


def test_names_and_folding_rules() -> None:
    assert [mail.safe_name(n, 1) for n in ("../../a.txt", "C:\\x\\b.pdf", ".hidden", "", "a\x00b", "x" * 300)] == \
        ["a.txt", "b.pdf", "hidden", "attachment-1", "ab", "x" * 100]
    assert mail.fold("New\n\n在 2026年11月30日 写道：\n> old") == ("New", "在 2026年11月30日 写道：\n> old")
    assert mail.html_text("<p>a &amp; b</p><style>p{}</style>") == "a & b"


async def test_answers_thread_and_new_tickets_are_acknowledged_once_never_to_robots(tmp_path: Path) -> None:
    """Our answers go through a relay (an SMTP server of the test's own on 127.0.0.1) with Message-ID,
    In-Reply-To, References and [#id]; the customer's reply to them lands on the same ticket; the
    acknowledgement goes to a person's first mail only."""
    import dataclasses

    from aiosmtpd.smtp import SMTP as Server

    from callcenter.channels.email import outbox
    from callcenter.channels.email.settings import EmailSettings
    relayed: list[bytes] = []

    class Relay:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            relayed.append(envelope.original_content or envelope.content)
            return "250 OK"
    loop = asyncio.get_running_loop()
    relay = await loop.create_server(lambda: Server(Relay(), hostname="relay"), "127.0.0.1", 0)
    relay_port = relay.sockets[0].getsockname()[1]
    settings = dataclasses.replace(EmailSettings(), relay_host="127.0.0.1", relay_port=relay_port, auto_ack=True,
                                   from_address="help@shop.example")
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    messages = store.messages
    intake = MailIntake(messages, tmp_path, lambda e: asyncio.sleep(0), settings=lambda: settings)
    try:
        first = await intake.take(message("Order 4567", "Where is it?", msgid="<q1@example.com>").as_bytes())
        await intake.take(message("Out of office", "Away", msgid="<q2@example.com>",
                                  Auto_Submitted="auto-replied").as_bytes())
        await intake.take(message("Order 4567 again", "Me again", msgid="<q3@example.com>").as_bytes())
        assert len(relayed) == 1  # one acknowledgement: not to the robot, not twice within the hour
        ack = mail.BytesParser(policy=mail.policy.default).parsebytes(relayed[0])
        assert ack["Subject"] == f"Re: Order 4567 [#{first['ticket']}]" and ack["In-Reply-To"] == "<q1@example.com>"
        assert ack["Auto-Submitted"] == "auto-replied" and ack["Message-ID"].endswith("@shop.example>")
        thread = await messages.email_thread(first["ticket"])
        answer = mail.reply(from_address=settings.from_address, to=thread["to"], subject=thread["subject"],
                            text="It ships today.", ticket_id=first["ticket"], in_reply_to=thread["in_reply_to"],
                            references=thread["references"])
        assert await outbox.send(answer, "127.0.0.1", relay_port) == "sent"
        await messages.outbound(first["ticket"], "email", thread["to"], "It ships today.", actor="agent1",
                                external_id=str(answer["Message-ID"]), subject=str(answer["Subject"]))
        sent = mail.BytesParser(policy=mail.policy.default).parsebytes(relayed[-1])
        assert sent["To"] == "Ann Lee <ann@example.com>" or "ann@example.com" in sent["To"]
        assert sent["References"].split()[-1] == sent["In-Reply-To"]
        back = await intake.take(message("Re: whatever", "Thanks!", msgid="<q4@example.com>",
                                         in_reply_to=str(answer["Message-ID"])).as_bytes())
        assert back["ticket"] == first["ticket"]  # the customer's reply to our answer: the same ticket
        ours = await intake.take(message("Re: Order 4567", "It ships today.", msgid="<loop@shop.example>",
                                         sender="Help <help@shop.example>").as_bytes())
        assert "own address" in ours["quarantined"]  # our answer come back (a loop, a spoof): not a ticket
        assert await outbox.send(answer, "", 25) == "kept (no relay)"
        from callcenter.core.errors import CallcenterError
        with pytest.raises(CallcenterError) as down:
            await outbox.send(answer, "127.0.0.1", 9, timeout=3)
        assert down.value.error_id == "mail-send-failed"
    finally:
        relay.close()
        await store.close()


async def test_an_html_mail_keeps_a_sanitized_view_served_sandboxed(tmp_path: Path) -> None:
    async with running_app(CONFIG.format(runtime=tmp_path), tmp_path) as (client, creds, parts):
        assert parts.feature(EmailFeature) is not None
        alt = message("Invoice", "Your invoice is attached.", msgid="<h1@example.com>")
        alt.add_alternative('<p onclick="steal()">Your <b>invoice</b><script>steal()</script>'
                            '<img src="https://track.example/open.gif"><a href="javascript:steal()">x</a>'
                            '<a href="https://shop.example/i/1">see it</a></p>', subtype="html")
        taken = await parts.feature(EmailFeature).intake.take(alt.as_bytes())
        store = parts.store
        assert store is not None
        row = (await store.tickets.get(taken["ticket"]))["interactions"][0]
        assert row["body"] == "Your invoice is attached." and row["variables"]["html_view"] is True
        headers = {"Authorization": f"Bearer {creds.api_token}"}
        async with client.get(f"/api/interactions/{row['id']}/html", headers=headers) as r:
            view = await r.text()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            assert r.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
        assert "<b>invoice</b>" in view and 'href="https://shop.example/i/1"' in view
        for gone in ("script", "steal", "onclick", "track.example", "javascript:"):
            assert gone not in view
        plain = await parts.feature(EmailFeature).intake.take(message("Plain", "text only", msgid="<h2@example.com>").as_bytes())
        plain_row = (await store.tickets.get(plain["ticket"]))["interactions"][-1]
        async with client.get(f"/api/interactions/{plain_row['id']}/html", headers=headers) as r:
            assert r.status == 404 and (await r.json())["error_id"] == "unknown-interaction"
        async with client.get(f"/api/interactions/{row['id']}/html") as r:
            assert r.status == 401


class Relay:
    """An SMTP relay of the test's own (aiosmtpd on 127.0.0.1): what our answers went out as."""

    def __init__(self) -> None:
        self.relayed: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's
        raw = envelope.original_content or envelope.content
        self.relayed.append(mail.BytesParser(policy=mail.policy.default).parsebytes(raw))  # type: ignore[arg-type]
        return "250 OK"


async def test_an_answer_threads_on_the_ticket_and_goes_through_the_relay_without_http(tmp_path: Path) -> None:
    """EmailService.reply: to the customer's own address (not `to`), In-Reply-To / References of the
    thread (RFC 5322 §3.6.4), `[#id]` in the subject, stored with the ids the next answer threads on."""
    import dataclasses

    from aiosmtpd.smtp import SMTP as Server

    from callcenter.channels.email.service import EmailService
    from callcenter.channels.email.settings import EmailSettings
    from callcenter.core.errors import Conflict, NotFound, Upstream
    relay = Relay()
    server = await asyncio.get_running_loop().create_server(lambda: Server(relay, hostname="relay"), "127.0.0.1", 0)
    settings = dataclasses.replace(EmailSettings(), relay_host="127.0.0.1",
                                   relay_port=server.sockets[0].getsockname()[1], from_address="help@shop.example")
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    intake = MailIntake(store.messages, tmp_path, lambda e: asyncio.sleep(0), settings=lambda: settings)
    service = EmailService(store.messages, lambda: settings)
    try:
        first = await intake.take(message("Order 4567", "Where is it?", msgid="<r1@example.com>",
                                          references="<r0@example.com>").as_bytes())
        ticket = first["ticket"]
        row = await service.reply(ticket, "It ships\x00 today.", to="someone@else.example", actor="agent1")
        (sent,) = relay.relayed
        assert row["address"] == "ann@example.com" and "ann@example.com" in sent["To"]
        assert row["body"] == "It ships today." and row["agent"] == "agent1" and row["delivery_status"] == "sent"
        assert sent["Subject"] == row["subject"] == f"Re: Order 4567 [#{ticket}]"
        assert sent["In-Reply-To"] == "<r1@example.com>" and sent["References"] == "<r0@example.com> <r1@example.com>"
        assert row["external_id"] == sent["Message-ID"] and sent["Message-ID"].endswith("@shop.example>")
        assert row["variables"] == {"in_reply_to": "<r1@example.com>",
                                    "references": ["<r0@example.com>", "<r1@example.com>"]}
        await service.reply(ticket, "And a tracking number.", to=None, actor="agent1")
        second = relay.relayed[-1]
        assert second["In-Reply-To"] == sent["Message-ID"]  # the thread's newest: our first answer
        assert second["References"].split() == ["<r0@example.com>", "<r1@example.com>", sent["Message-ID"]]
        kept = EmailService(store.messages, lambda: dataclasses.replace(settings, relay_host=""))
        assert (await kept.reply(ticket, "Kept.", to=None, actor="agent1"))["delivery_status"] == "kept (no relay)"
        down = EmailService(store.messages, lambda: dataclasses.replace(settings, relay_port=9))
        before = len((await store.tickets.get(ticket))["interactions"])
        with pytest.raises(Upstream) as refused:
            await down.reply(ticket, "Lost?", to=None, actor="agent1")
        assert refused.value.error_id == "mail-send-failed"
        assert len((await store.tickets.get(ticket))["interactions"]) == before  # nothing stored as sent
        texted, _ = await store.messages.inbound("sms", "+14155550480", "hi", external_id="SM1")
        with pytest.raises(Conflict) as no_address:
            await service.reply(texted["ticket_id"], "x", to=None, actor="agent1")
        assert no_address.value.error_id == "no-address"
        with pytest.raises(NotFound):
            await service.reply(999_999, "x", to=None, actor="agent1")
        assert len(relay.relayed) == 2
    finally:
        server.close()
        await store.close()


async def test_with_email_off_nothing_is_received_yet_the_routes_answer_and_answers_go_out(tmp_path: Path) -> None:
    config = CONFIG.format(runtime=tmp_path) + "email: {enabled: false}\n"
    async with running_app(config, tmp_path) as (client, creds, parts):
        email = parts.feature(EmailFeature)
        assert email is not None and email.smtp is None and email.tasks() == []
        assert "email" not in await parts.status()
        headers = {"Authorization": f"Bearer {creds.api_token}"}
        async with client.get("/api/email/quarantine", headers=headers) as r:
            assert r.status == 200 and await r.json() == {"problem": "the email receiver is not running",
                                                          "messages": []}
        async with client.get("/api/interactions/1/html", headers=headers) as r:
            assert r.status == 404 and (await r.json())["error_id"] == "unknown-interaction"
        assert parts.store is not None
        row, _ = await parts.store.messages.inbound("email", "ann@example.com", "Hello", external_id="<o1@example.com>")
        async with client.post(f"/api/tickets/{row['ticket_id']}/reply", headers=headers,
                               json={"channel": "email", "text": "Hi Ann"}) as r:
            answer = await r.json()
            assert r.status == 200 and answer["address"] == "ann@example.com"
            assert answer["delivery_status"] == "kept (no relay)"
