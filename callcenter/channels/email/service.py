"""Email answers on tickets, without HTTP (docs/email.md, "Answers"): what the ticket reply calls."""

from __future__ import annotations

from typing import Callable

from callcenter.channels.email import outbox
from callcenter.channels.email import parse as mail
from callcenter.channels.email.settings import EmailSettings
from callcenter.core.text import clean_text
from callcenter.tickets.messages import Messages
from callcenter.tickets.rows import InteractionRow

MAX_REFERENCES = 20  # ids of the thread kept on our answer (References grows with every message)


class EmailService:
    """Answers of one store. `settings()`: the `email:` section in force (our address, the relay)."""

    def __init__(self, messages: Messages, settings: Callable[[], EmailSettings]) -> None:
        self.messages, self.settings = messages, settings

    async def reply(self, ticket_id: int, text: str, *, to: str | None, actor: str) -> InteractionRow:
        """An answer on ticket `ticket_id` (POST /api/tickets/{id}/reply), to the newest mail on it
        from one of its customer's own addresses (`to` is not used: an answer goes to the thread).
        Threaded as RFC 5322 §3.6.4 says (a new Message-ID in our domain, In-Reply-To the newest
        message of the ticket, References its chain plus it), `[#id]` in the subject so a reply
        finds the ticket without the ids; sent through `email.relay_host` (none: kept, "kept (no
        relay)"); stored as sent by `actor`, with the ids the next answer threads on. Errors:
        NotFound `unknown-ticket`, Conflict `no-address`, Upstream `mail-send-failed`."""
        text = clean_text(text)
        thread = await self.messages.email_thread(ticket_id)
        settings = self.settings()
        msg = mail.reply(from_address=settings.from_address, to=thread["to"], subject=thread["subject"], text=text,
                         ticket_id=ticket_id, in_reply_to=thread["in_reply_to"], references=thread["references"])
        state = await outbox.send(msg, settings.relay_host, settings.relay_port)
        references = [*thread["references"][-MAX_REFERENCES:], thread["in_reply_to"]]
        return await self.messages.outbound(ticket_id, "email", thread["to"], text, actor=actor,
                                            external_id=str(msg["Message-ID"]), status=state,
                                            subject=str(msg["Subject"]),
                                            variables={"in_reply_to": thread["in_reply_to"], "references": references})
