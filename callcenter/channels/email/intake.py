"""The email receiver: an SMTP server (aiosmtpd) on `email.smtp_bind`:`email.smtp_port` (127.0.0.1:2525
by default) in the controller's event loop. Every message it accepts lands on a ticket (parse.py
reads it, tickets/messages.py threads it) or, when it cannot be read, in the quarantine folder with
the reason (`<runtime>/quarantine/<id>.eml` + `.json`): never dropped. A message over `email.max_bytes`
is refused during the SMTP session (552), so its sender is told. Attachments are stored under
`<runtime>/attachments/<interaction id>/` within `email.max_attachment_bytes` each (larger ones are
listed, not kept); an HTML part's sanitized view (mail.safe_html) under `<runtime>/email-html/`.

A person may release a kept message (run it through the intake again: it lands on its ticket and
leaves the quarantine, or stays with the new reason) or delete it; ids are checked against
QUARANTINE_ID before any path is made of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from callcenter.core import events as ev
from callcenter.channels.email import parse as mail
from callcenter.channels.email import outbox
from callcenter.channels.email.settings import EmailSettings
from callcenter.core.errors import CallcenterError, Conflict, NotFound
from callcenter.tickets.messages import Messages
from callcenter.tickets.rows import InteractionRow

log = logging.getLogger(__name__)
MAX_ATTACHMENTS = 20
# A quarantined message's id: when it was kept (local time) and 12 hex digits of its sha256, e.g.
# 20261207-223507-0123456789ab. Nothing else names a file there (no `/`, no `..`, no NUL).
QUARANTINE_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{12}")


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
        self._releasing: set[str] = set()  # ids being released or deleted now (the other one gets 409)
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
        """Store one message; returns {"interaction", "ticket", "new"} or {"quarantined": reason}
        (then kept in the quarantine folder)."""
        result = await self._store(raw, peer=peer, mail_from=mail_from)
        if "quarantined" in result:
            await asyncio.to_thread(self._quarantine, raw, result["quarantined"], peer, mail_from)
        return result

    async def _store(self, raw: bytes, *, peer: str, mail_from: str, released_by: str = "") -> dict[str, Any]:
        """One message onto its ticket: {"interaction", "ticket", "new"}, or {"quarantined": reason}
        when it cannot be (nothing written then). `released_by`: the person who released it from
        the quarantine; they accepted it, so mail from our own address is taken (a loop is the
        receiver's guess, not a fact: an admin's test mail, a colleague's forward)."""
        try:
            parsed = await asyncio.to_thread(mail.parse, raw)
        except mail.Quarantine as why:
            return {"quarantined": str(why)}
        if parsed.sender == self.settings().from_address.lower() and not released_by:  # our own answer came back
            return {"quarantined": f"sent from our own address {parsed.sender} (email.from_address): a mail loop "
                                   "or a spoofed sender"}
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
            return {"quarantined": f"{exc.error_id}: {exc}"}
        if new:
            await asyncio.to_thread(self._keep_attachments, row["id"], parsed.attachments[:MAX_ATTACHMENTS])
            if parsed.html_view:
                await asyncio.to_thread(self._keep_html, row["id"], parsed.html_view)
            await self._acknowledge(parsed, row)
            self.received += 1
            assert row["ticket_id"] is not None  # a message is always on a ticket
            await self.publish(ev.MessageReceived("email", row["id"], row["ticket_id"], row["customer_id"],
                                                  parsed.sender, parsed.text[:500], self.clock()))
        log.info("email %s from %s on ticket #%s%s%s", message_id[:80], parsed.sender, row["ticket_id"],
                 "" if new else " (already stored)", f" (released from quarantine by {released_by})"
                 if released_by else "")
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
        """What is in quarantine, newest first: {id, file, reason, at (epoch s), peer, mail_from,
        bytes}, plus `released_at` and `released_by` of a release that failed again."""
        out = []
        for meta in sorted(self.quarantine_dir.glob("*.json"), reverse=True) if self.quarantine_dir.is_dir() else []:
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                data = {"reason": "(unreadable note)"}
            if not isinstance(data, dict):
                data = {"reason": "(unreadable note)"}
            out.append({**data, "id": meta.stem, "file": str(meta.with_suffix(".eml"))})
        return out

    def _kept(self, message_id: str) -> Path:
        """The .eml of quarantined message `message_id`. Errors: NotFound `unknown-quarantined` for
        an id that is not QUARANTINE_ID's shape (checked before any path is made of it) or is not there."""
        if not isinstance(message_id, str) or not QUARANTINE_ID.fullmatch(message_id):
            raise NotFound("unknown-quarantined", f"no quarantined message {str(message_id)[:40]!r}")
        path = self.quarantine_dir / f"{message_id}.eml"
        if not path.is_file():
            raise NotFound("unknown-quarantined", f"no quarantined message {message_id}")
        return path

    async def release(self, message_id: str, *, actor: str) -> dict[str, Any]:
        """Run quarantined message `message_id` through the intake again (after a fix, or because
        `actor` accepts it: our own address is then no reason). Stored: it leaves the quarantine,
        {"id", "released": True, "interaction", "ticket", "new"} (`new` False: it was on a ticket
        already). Still refused: it stays, its note gets the new reason and who tried,
        {"id", "released": False, "reason"}. Errors: NotFound `unknown-quarantined`, Conflict
        `quarantine-busy` (a release of the same message is running)."""
        path = self._kept(message_id)
        if message_id in self._releasing:
            raise Conflict("quarantine-busy", f"message {message_id} is being released or deleted already")
        self._releasing.add(message_id)
        try:
            raw = await asyncio.to_thread(path.read_bytes)
            note = await asyncio.to_thread(self._note, message_id)
            result = await self._store(raw, peer=str(note.get("peer", "")), mail_from=str(note.get("mail_from", "")),
                                       released_by=actor)
            if "quarantined" in result:
                reason = result["quarantined"]
                await asyncio.to_thread(self._write_note, message_id, {
                    **note, "reason": reason, "released_at": self.clock(), "released_by": actor[:64]})
                log.warning("email %s: %s released it, still refused: %s", message_id, actor, reason)
                return {"id": message_id, "released": False, "reason": reason}
            await asyncio.to_thread(self._remove, message_id)
            log.info("email %s released from quarantine by %s onto ticket #%s", message_id, actor, result["ticket"])
            return {"id": message_id, "released": True, **result}
        finally:
            self._releasing.discard(message_id)

    async def delete(self, message_id: str, *, actor: str) -> dict[str, Any]:
        """Remove quarantined message `message_id` (its .eml and note) for good: {"id", "deleted": True}.
        Errors: NotFound `unknown-quarantined`, Conflict `quarantine-busy` (it is being released)."""
        self._kept(message_id)
        if message_id in self._releasing:
            raise Conflict("quarantine-busy", f"message {message_id} is being released: delete it after")
        self._releasing.add(message_id)  # a release that starts now waits its turn (409), never writes a note after
        try:
            await asyncio.to_thread(self._remove, message_id)
        finally:
            self._releasing.discard(message_id)
        log.warning("email %s deleted from quarantine by %s", message_id, actor)
        return {"id": message_id, "deleted": True}

    def _note(self, message_id: str) -> dict[str, Any]:
        try:
            data = json.loads((self.quarantine_dir / f"{message_id}.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_note(self, message_id: str, note: dict[str, Any]) -> None:
        tmp = self.quarantine_dir / f".{message_id}.json.tmp"
        tmp.write_text(json.dumps(note))
        tmp.replace(self.quarantine_dir / f"{message_id}.json")  # a reader never sees half a note

    def _remove(self, message_id: str) -> None:
        # The note first: the list is read from the notes, so a message never shows without its .eml.
        (self.quarantine_dir / f"{message_id}.json").unlink(missing_ok=True)
        (self.quarantine_dir / f"{message_id}.eml").unlink(missing_ok=True)


async def serve(intake: MailIntake, host: str, port: int, max_bytes: int) -> asyncio.AbstractServer:
    """The SMTP server, in this event loop."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(intake, hostname="callcenter", data_size_limit=max_bytes,
                                                 enable_SMTPUTF8=True, decode_data=False, ident="callcenter"),
                                    host=host, port=port)
