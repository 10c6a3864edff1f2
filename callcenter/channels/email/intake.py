"""The email receiver: an SMTP server (aiosmtpd) on `email.smtp_bind`:`email.smtp_port` (127.0.0.1:2525
by default) in the controller's event loop. Every message it accepts lands on a ticket (parse.py
reads it, tickets/messages.py threads it) or, when it cannot be read, in the quarantine folder with
the reason (`<runtime>/quarantine/*.eml` + `.json`): never dropped. A message over `email.max_bytes`
is refused during the SMTP session (552), so its sender is told. Attachments are stored under
`<runtime>/attachments/<interaction id>/` within `email.max_attachment_bytes` each (larger ones are
listed, not kept); an HTML part's sanitized view (mail.safe_html) under `<runtime>/email-html/`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from callcenter.core import events as ev
from callcenter.channels.email import parse as mail
from callcenter.channels.email import outbox
from callcenter.channels.email.settings import EmailSettings
from callcenter.core.errors import CallcenterError
from callcenter.tickets.messages import Messages
from callcenter.tickets.rows import InteractionRow

log = logging.getLogger(__name__)
MAX_ATTACHMENTS = 20


class MailIntake:
    def __init__(self, messages: Messages, runtime_dir: Path, publish: Callable[[Any], Awaitable[None]], *,
                 topic: str = "general", max_attachment_bytes: int = 5 << 20,
                 clock: Callable[[], float] = time.time, settings: Callable[[], EmailSettings] | None = None,
                 queue: Callable[[], str] = lambda: "") -> None:
        """`queue()`: the queue whose agents answer a new ticket (Config.work_queue)."""
        self.messages, self.publish, self.topic, self.clock, self.queue = messages, publish, topic, clock, queue
        self.settings = settings or EmailSettings
        self._acked: dict[str, float] = {}  # sender → when we last acknowledged them (loop protection)
        self.quarantine_dir = runtime_dir / "quarantine"
        self.attachments_dir = runtime_dir / "attachments"
        self.html_dir = runtime_dir / "email-html"
        self.max_attachment_bytes = max_attachment_bytes
        self.received = self.quarantined = 0
        self.problem = ""  # e.g. the SMTP port could not be opened

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        try:
            await self.take(raw, peer=str(session.peer), mail_from=str(envelope.mail_from or ""))
        except Exception:  # noqa: BLE001 - the store is away: the sender retries (a 4xx), nothing lost
            log.exception("email from %s: could not be stored; asking the sender to retry", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please retry"
        return "250 2.0.0 OK"

    async def take(self, raw: bytes, *, peer: str = "", mail_from: str = "") -> dict[str, Any]:
        """Store one message; returns {"interaction", "ticket", "new"} or {"quarantined": reason}."""
        try:
            parsed = await asyncio.to_thread(mail.parse, raw)
        except mail.Quarantine as why:
            return {"quarantined": await asyncio.to_thread(self._quarantine, raw, str(why), peer, mail_from)}
        if parsed.sender == self.settings().from_address.lower():  # our own answer came back: a loop
            return {"quarantined": await asyncio.to_thread(
                self._quarantine, raw, f"sent from our own address {parsed.sender} (email.from_address): a mail "
                "loop or a spoofed sender", peer, mail_from)}
        message_id = parsed.message_id or f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@callcenter>"
        meta: dict[str, Any] = {"quoted": parsed.quoted[:20_000], "html": parsed.html, "automatic": parsed.automatic,
                                "html_view": bool(parsed.html_view),
                                "in_reply_to": parsed.in_reply_to, "references": parsed.references[-10:],
                                "attachments": [{"filename": a.filename, "content_type": a.content_type,
                                                 "bytes": len(a.data)} for a in parsed.attachments[:MAX_ATTACHMENTS]]}
        try:
            row, new = await self.messages.inbound_email(
                sender=parsed.sender, name=parsed.sender_name, subject=parsed.subject, text=parsed.text[:100_000],
                message_id=message_id, thread_ids=parsed.thread_ids(), ticket_ref=parsed.ticket_ref(),
                variables=meta, topic=self.topic, queue=self.queue())
        except CallcenterError as exc:  # e.g. text the store refuses: kept aside with the reason
            return {"quarantined": await asyncio.to_thread(self._quarantine, raw, f"{exc.error_id}: {exc}", peer,
                                                           mail_from)}
        if new:
            await asyncio.to_thread(self._keep_attachments, row["id"], parsed.attachments[:MAX_ATTACHMENTS])
            if parsed.html_view:
                await asyncio.to_thread(self._keep_html, row["id"], parsed.html_view)
            await self._acknowledge(parsed, row)
            self.received += 1
            assert row["ticket_id"] is not None  # a message is always on a ticket
            await self.publish(ev.MessageReceived("email", row["id"], row["ticket_id"], row["customer_id"],
                                                  parsed.sender, parsed.text[:500], self.clock()))
        log.info("email %s from %s on ticket #%s%s", message_id[:80], parsed.sender, row["ticket_id"],
                 "" if new else " (already stored)")
        return {"interaction": row["id"], "ticket": row["ticket_id"], "new": new}

    async def _acknowledge(self, parsed: mail.ParsedMail, row: InteractionRow) -> None:
        """`email.auto_ack`: the first mail of a new ticket gets its number. Never to automatic mail
        (RFC 3834), never to ourselves, at most once an hour per sender (a loop with another
        robot that ignores Auto-Submitted stops there)."""
        settings = self.settings()
        now = self.clock()
        if (not settings.auto_ack or parsed.automatic or parsed.sender == settings.from_address.lower()
                or now - self._acked.get(parsed.sender, -1e9) < 3600):
            return
        ticket_id = row["ticket_id"]
        assert ticket_id is not None  # a message is always on a ticket
        ticket = await self.messages.tickets.get(ticket_id)
        if len(ticket["interactions"]) != 1:
            return  # not a new ticket
        self._acked[parsed.sender] = now
        text = (f"Thank you for your message: it is ticket #{row['ticket_id']}. Reply to this mail to add to it; "
                "we will answer soon.")
        msg = mail.reply(from_address=settings.from_address, to=parsed.sender, subject=parsed.subject, text=text,
                         ticket_id=ticket_id, in_reply_to=row["external_id"], references=parsed.references,
                         automatic=True)
        try:
            state = await outbox.send(msg, settings.relay_host, settings.relay_port)
        except CallcenterError as exc:
            log.warning("email: the acknowledgement of ticket #%s was not sent: %s", row["ticket_id"], exc)
            return
        await self.messages.outbound(ticket_id, "email", parsed.sender, text, actor="system",
                                     external_id=str(msg["Message-ID"]), status=state, subject=str(msg["Subject"]),
                                     variables={"automatic": "auto-acknowledgement"})

    def html_path(self, interaction_id: int) -> Path:
        """Where a message's sanitized HTML view is kept (<runtime>/email-html/<id>.html)."""
        return self.html_dir / f"{int(interaction_id)}.html"

    def _keep_html(self, interaction_id: int, view: str) -> None:
        self.html_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.html_dir / f".{int(interaction_id)}.tmp"
        tmp.write_text(view, encoding="utf-8")
        tmp.replace(self.html_path(interaction_id))

    def _quarantine(self, raw: bytes, reason: str, peer: str, mail_from: str) -> str:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.quarantine_dir, 0o700)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{hashlib.sha256(raw).hexdigest()[:12]}"
        (self.quarantine_dir / f"{name}.eml").write_bytes(raw)
        (self.quarantine_dir / f"{name}.json").write_text(json.dumps(
            {"reason": reason, "at": self.clock(), "peer": peer, "mail_from": mail_from[:320], "bytes": len(raw)}))
        self.quarantined += 1
        log.warning("email from %s quarantined as %s: %s", mail_from[:80] or "?", name, reason)
        return reason

    def _keep_attachments(self, interaction_id: int, attachments: list[mail.Attachment]) -> None:
        folder = self.attachments_dir / str(interaction_id)
        for a in attachments:
            if len(a.data) > self.max_attachment_bytes:
                continue  # listed on the message, not kept
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / a.filename
            if target.exists():
                target = folder / f"{target.stem}-{hashlib.sha256(a.data).hexdigest()[:8]}{target.suffix}"
            target.write_bytes(a.data)

    def quarantine(self) -> list[dict[str, Any]]:
        """What is in quarantine, newest first: file, reason, when, from whom, size."""
        out = []
        for meta in sorted(self.quarantine_dir.glob("*.json"), reverse=True) if self.quarantine_dir.is_dir() else []:
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                data = {"reason": "(unreadable note)"}
            out.append({"file": str(meta.with_suffix(".eml")), **data})
        return out


async def serve(intake: MailIntake, host: str, port: int, max_bytes: int) -> asyncio.AbstractServer:
    """The SMTP server, in this event loop."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(intake, hostname="callcenter", data_size_limit=max_bytes,
                                                 enable_SMTPUTF8=True, decode_data=False, ident="callcenter"),
                                    host=host, port=port)
