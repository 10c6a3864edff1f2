"""Sending our email: through the SMTP relay of `email.relay_host` (smtplib, in a thread), or, with
no relay (the local setup), nowhere: the message is kept on the ticket marked `kept (no relay)`.
Errors: CallcenterError `mail-send-failed` (the relay refused it or cannot be reached)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from callcenter.core.errors import Upstream


async def send(msg: EmailMessage, relay_host: str, relay_port: int, timeout: float = 30.0) -> str:
    """The delivery status to record."""
    if not relay_host:
        return "kept (no relay)"

    def deliver() -> None:
        with smtplib.SMTP(relay_host, relay_port, timeout=timeout) as smtp:
            smtp.send_message(msg)
    try:
        await asyncio.to_thread(deliver)
    except (smtplib.SMTPException, OSError) as exc:
        raise Upstream("mail-send-failed", f"the relay {relay_host}:{relay_port} did not take it: {exc}") from None
    return "sent"
