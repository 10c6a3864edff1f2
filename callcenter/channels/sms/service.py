"""SMS on tickets, without HTTP (docs/sms.md): what the webhooks, the ticket reply and the bus call.

- `receive`: an inbound message the provider posted (the routes checked its signature): checked,
  stored once per MessageSid on the sender's ticket, STOP / START recorded, MessageReceived published.
- `delivery_report`: the provider's status for a message we sent.
- `send`: THE way an SMS goes out on a ticket (a number that can be texted and has not sent STOP,
  through the provider, with the status callback, kept on the ticket); `reply` (an agent's answer)
  and `missed_call` (the follow-up after a call the caller gave up on) both go through it.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from callcenter.channels.sms import rules as sms
from callcenter.channels.sms.provider import SmsProvider
from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.core.errors import Conflict, Refused
from callcenter.core.events import CallRecord
from callcenter.core.text import clean_text
from callcenter.tickets.messages import Messages
from callcenter.tickets.rows import InteractionRow

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 1600  # Twilio's own limit for one message
MAX_SID_CHARS = 100
MAX_SENDER_CHARS = 64
STATUS_PATH = "/webhooks/sms/twilio/status"  # where the provider reports delivery (routes.py serves it)


class OptedOut(Conflict):
    """The number sent STOP (and no START since): nothing is sent to it."""

    def __init__(self, number: str) -> None:
        super().__init__("opted-out", f"{number} sent STOP: no SMS until they send START")


class SmsService:
    """SMS of one store through one provider. `config()`: the configuration in force (`sms:`, the
    public URL the status callback names); `publish`: the bus; `clock()`: epoch seconds."""

    def __init__(self, messages: Messages, provider: SmsProvider, config: Callable[[], Config],
                 publish: Callable[[Any], Awaitable[None]], clock: Callable[[], float]) -> None:
        self.messages, self.provider, self.config = messages, provider, config
        self.publish, self.clock = publish, clock

    async def receive(self, sender: str, body: str, sid: str, to: str = "") -> tuple[InteractionRow, bool]:
        """An inbound message (the form fields From, Body, MessageSid, To of Twilio's webhook request,
        https://www.twilio.com/docs/messaging/guides/webhook-request): (its interaction,
        True if new; False for a provider's retry of a MessageSid already stored). A new one that
        is a STOP / START keyword sets or clears the sender's opt-out (and is kept like any
        message); every new one is published as MessageReceived. Errors: Refused `bad-request`
        (no From or MessageSid, a Body over 1,600 characters, a From over 64 or a MessageSid over
        100, control characters or line breaks in either: they would break lines in lists and logs)."""
        body = clean_text(body)
        if not sender or not sid or len(body) > MAX_BODY_CHARS or len(sid) > MAX_SID_CHARS \
                or len(sender) > MAX_SENDER_CHARS or clean_text(sender) != sender or clean_text(sid) != sid \
                or "\n" in sender + sid:
            log.warning("SMS webhook refused: From %r, MessageSid %r, %d characters", sender[:40], sid[:40], len(body))
            raise Refused("bad-request", f"From and MessageSid are needed; Body up to {MAX_BODY_CHARS} characters")
        config = self.config()
        row, new = await self.messages.inbound("sms", sender, body, external_id=sid, topic=config.sms.topic, to=to,
                                               queue=config.work_queue(config.sms.queue, to))
        if new:
            word = sms.keyword(body)
            if word:
                await self.messages.set_opt_out(sender, word == "stop")
                log.info("SMS %s from %s: opt-%s recorded", word.upper(), sender, "out" if word == "stop" else "in")
            assert row["ticket_id"] is not None  # a message is always on a ticket
            await self.publish(ev.MessageReceived("sms", row["id"], row["ticket_id"], row["customer_id"], sender,
                                                  body, self.clock()))
        return row, new

    async def delivery_report(self, sid: str, state: str) -> InteractionRow | None:
        """The provider's MessageStatus (queued, sent, delivered, undelivered, failed) for the
        message MessageSid `sid`, as its StatusCallback posts it
        (https://www.twilio.com/docs/messaging/api/message-resource): its interaction updated, or
        None (one of the two missing, or a message we did not send: logged)."""
        if not sid or not state:
            return None
        row = await self.messages.delivery("sms", sid, state)
        if row is None:
            log.info("SMS delivery report for an unknown message %s (%s)", sid[:40], state[:32])
        return row

    async def send(self, ticket_id: int, number: str, text: str, *, actor: str) -> InteractionRow:
        """Text `number` on ticket `ticket_id` through the provider, asking for delivery reports;
        the message is kept on the ticket as sent by `actor`, with the provider's id and status.
        Errors: Refused `bad-number` (not 3-20 digits), OptedOut (Conflict `opted-out`),
        SmsError `sms-send-failed` (the provider refused or is away), NotFound `unknown-ticket`."""
        if not sms.textable(number):
            raise Refused("bad-number", f"{number[:30]!r} is not a phone number to text")
        if await self.messages.opted_out(number):
            raise OptedOut(number)
        sid, state = await self.provider.send(number, text, self.config().sms_public_url + STATUS_PATH)
        return await self.messages.outbound(ticket_id, "sms", number, text, actor=actor, external_id=sid,
                                            status=state)

    async def reply(self, ticket_id: int, text: str, *, to: str | None, actor: str) -> dict[str, Any]:
        """An answer on a ticket (POST /api/tickets/{id}/reply): to `to`, else the ticket's
        customer's first phone. The stored interaction, with `segments` and `encoding` (gsm7 |
        ucs2). Errors: Refused `too-long` (over 10 segments), Conflict `no-address`, and those of
        `send`."""
        encoding, parts = sms.segments(text)
        if parts > sms.MAX_SEGMENTS:
            raise Refused("too-long", f"{parts} SMS segments ({encoding}); at most {sms.MAX_SEGMENTS}")
        number = to or await self.messages.phone_of(ticket_id)
        row = await self.send(ticket_id, number, text, actor=actor)
        return {**row, "segments": parts, "encoding": encoding}

    async def missed_call(self, record: CallRecord, ticket_id: int) -> bool:
        """After a call is stored on `ticket_id`: `sms.missed_call_text` (off when empty) to a caller
        who gave up (rules.missed) and has not sent STOP. True if a message went out. Errors: those of
        `send` but OptedOut."""
        text = self.config().sms.missed_call_text
        if not text or not sms.missed(record):
            return False
        number = record.caller_id.strip()
        try:
            await self.send(ticket_id, number, text, actor="system")
        except OptedOut:
            return False
        log.info("call %s: missed; SMS sent to %s on ticket #%s", record.call_id, number, ticket_id)
        return True
