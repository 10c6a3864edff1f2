"""Polling a mailbox over IMAP: a real Dovecot on 127.0.0.1 (tests/support/imapserver.py), messages
delivered into it with IMAP APPEND, polled by the ImapPoller into the real intake and a real SQLite
store: threading, quarantine, \\Seen flags, nothing twice, a wrong password or a server away said
and retried."""

from __future__ import annotations

import asyncio
import imaplib
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from callcenter.channels.email.imap import ImapPoller
from callcenter.channels.email.intake import MailIntake
from callcenter.config import ConfigError, parse_config
from callcenter.channels.email.settings import EmailSettings
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from tests.support.imapserver import Dovecot
from tests.support.config import CONFIG
from tests.support.mail import file_of, message


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot("support", "s3cret").start()
    yield server
    server.stop()


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[MailIntake]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    yield MailIntake(store.messages, tmp_path, lambda e: asyncio.sleep(0))
    await store.close()


def poller(server: Dovecot, intake: MailIntake, password: str = "s3cret", port: int | None = None) -> ImapPoller:
    settings = EmailSettings(imap_host="127.0.0.1", imap_port=port or server.port, imap_tls="none",
                             imap_user="support", imap_poll_seconds=5)
    return ImapPoller(lambda: settings, lambda: password, intake.take)


async def test_unseen_mail_lands_on_tickets_once_and_is_flagged_seen(dovecot: Dovecot, intake: MailIntake) -> None:
    first = message("Order 4567 is late", "Where is it?", msgid="<q1@example.com>")
    reply = message("Re: Order 4567 is late", "Any news?", msgid="<q2@example.com>", in_reply_to="<q1@example.com>")
    broken = b"From: eve@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=klingon\r\n\r\nqapla'\r\n"
    for raw in (first.as_bytes(), reply.as_bytes(), broken):
        await asyncio.to_thread(dovecot.append, raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
    imap = poller(dovecot, intake)
    assert await imap.poll_once() == 3 and imap.problem == ""
    timeline = (await file_of(TicketCore.of(intake.messages.store), "ann@example.com"))["timeline"]
    assert sorted(i["external_id"] for i in timeline) == ["<q1@example.com>", "<q2@example.com>"]
    assert len({i["ticket_id"] for i in timeline}) == 1  # the reply threads onto the first mail's ticket
    (kept,) = intake.quarantine()  # the broken one: kept aside with the reason, not dropped
    assert "unknown charset" in kept["reason"]
    assert all("\\Seen" in f for f in await asyncio.to_thread(dovecot.flags))
    assert await imap.poll_once() == 0  # nothing new
    # A crash after storing but before flagging: the message comes again, and is not stored twice.
    m = imaplib.IMAP4("127.0.0.1", dovecot.port)
    m.login("support", "s3cret")
    m.select("INBOX")
    m.store("1:*", "-FLAGS", "(\\Seen)")
    m.logout()
    assert await imap.poll_once() == 3
    again = (await file_of(TicketCore.of(intake.messages.store), "ann@example.com"))["timeline"]
    assert len(again) == 2


async def test_a_wrong_password_or_a_server_away_is_said_and_retried(dovecot: Dovecot, intake: MailIntake) -> None:
    await asyncio.to_thread(dovecot.append, message("Hi", "hello", msgid="<w1@example.com>").as_bytes())
    wrong = poller(dovecot, intake, password="nope")
    assert await wrong.poll_once() == 0
    assert "login" in wrong.problem
    assert not any("\\Seen" in f for f in await asyncio.to_thread(dovecot.flags))  # left for the next poll
    away = poller(dovecot, intake, port=dovecot.port + 1)
    assert await away.poll_once() == 0 and away.problem
    right = poller(dovecot, intake)
    assert await right.poll_once() == 1 and right.problem == "" and right.last_poll is not None


def test_imap_settings_are_checked(tmp_path: Path) -> None:
    base = CONFIG.format(runtime=tmp_path)
    ok = parse_config(base + "email: {imap_host: 127.0.0.1, imap_tls: none, imap_user: support, imap_port: 1143}\n",
                      file="t.yaml", env={})
    assert ok.email.imap_host == "127.0.0.1"
    for bad, words in (("{imap_host: mail.example.com, imap_tls: none, imap_user: u}", "clear text"),
                       ("{imap_host: mail.example.com}", "imap_user"),
                       ("{imap_host: mail.example.com, imap_user: u, imap_tls: starttls}", "tls or none"),
                       ("{imap_host: mail.example.com, imap_user: u, imap_poll_seconds: 1}", "5 to 86400")):
        with pytest.raises(ConfigError) as error:
            parse_config(base + f"email: {bad}\n", file="t.yaml", env={})
        assert words in str(error.value)
