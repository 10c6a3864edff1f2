"""Polling a mailbox over IMAP (aioimaplib; RFC 3501) into the same intake as the SMTP receiver:
every `email.imap_poll_seconds`, the unseen messages of `email.imap_mailbox` are fetched (BODY.PEEK,
so a message that fails stays unseen and is fetched again), put on tickets or in the quarantine by
MailIntake.take, then flagged \\Seen. Nothing is deleted from the mailbox. A message stored twice
(a crash between storing it and flagging it) is written once: its Message-ID is known.

The password is $CALLCENTER_IMAP_PASSWORD or `imap_password` in the runtime folder's secrets.yaml.
A server that cannot be reached or refuses the login is retried at the next poll and shown by
`callcenter status` (`email.imap`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from typing import Any, Awaitable, Callable

import aioimaplib

from callcenter.channels.email.settings import EmailSettings

log = logging.getLogger(__name__)

Take = Callable[..., Awaitable[dict[str, Any]]]
BATCH = 50  # messages fetched per poll (the rest come at the next one)
_UIDS = re.compile(rb"^[0-9 ]*$")


class ImapPoller:
    def __init__(self, settings: Callable[[], EmailSettings], password: Callable[[], str], take: Take,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.password, self.take, self.clock = settings, password, take, clock
        self.problem = ""  # why the last poll failed ("" = it worked)
        self.last_poll: float | None = None
        self.fetched = 0

    def describe(self) -> dict[str, Any]:
        s = self.settings()
        return {"mailbox": f"{s.imap_user}@{s.imap_host}:{s.imap_port}/{s.imap_mailbox}", "problem": self.problem,
                "last_poll": self.last_poll, "fetched": self.fetched}

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.settings().imap_poll_seconds)

    async def poll_once(self) -> int:
        """One poll; returns how many messages were taken. Never raises for the server's faults."""
        s = self.settings()
        try:
            taken = await asyncio.wait_for(self._poll(s), timeout=max(60.0, s.imap_poll_seconds * 2.0))
        except (aioimaplib.AioImapException, OSError, asyncio.TimeoutError, ImapError, ssl.SSLError) as exc:
            self.problem = f"{s.imap_host}:{s.imap_port}: {exc or type(exc).__name__}"
            log.warning("email: IMAP poll failed: %s (next try in %d s)", self.problem, s.imap_poll_seconds)
            return 0
        except Exception as exc:  # noqa: BLE001 - e.g. the store away: the messages stay unseen for the next poll
            self.problem = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("email: IMAP poll failed; the messages stay unseen for the next poll")
            return 0
        self.problem, self.last_poll = "", self.clock()
        return taken

    async def _poll(self, s: EmailSettings) -> int:
        if s.imap_tls == "tls":
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(host=s.imap_host, port=s.imap_port, timeout=30,
                                                            ssl_context=ssl.create_default_context())
        else:
            client = aioimaplib.IMAP4(host=s.imap_host, port=s.imap_port, timeout=30)
        await client.wait_hello_from_server()
        try:
            _ok(await client.login(s.imap_user, self.password()), "login")
            _ok(await client.select(s.imap_mailbox), f"select {s.imap_mailbox}")
            found = _ok(await client.uid_search("UNSEEN", charset=None), "search")
            uids = [u for line in found.lines[:1] if _UIDS.match(bytes(line)) for u in bytes(line).split()][:BATCH]
            taken = 0
            for uid in uids:
                fetched = _ok(await client.uid("fetch", uid.decode(), "(BODY.PEEK[])"), "fetch")
                raw = next((bytes(x) for x in fetched.lines if isinstance(x, bytearray)), None)
                if raw is None:
                    continue  # expunged meanwhile
                await self.take(raw, peer=f"imap:{s.imap_host}", mail_from="")
                _ok(await client.uid("store", uid.decode(), "+FLAGS", "(\\Seen)"), "store")
                taken += 1
                self.fetched += 1
            return taken
        finally:
            try:
                await client.logout()
            except (aioimaplib.AioImapException, OSError, asyncio.TimeoutError):
                pass


class ImapError(Exception):
    pass


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines if isinstance(x, (bytes, bytearray)))[:200]
        raise ImapError(f"{what}: {response.result} {text.decode(errors='replace')}")
    return response
