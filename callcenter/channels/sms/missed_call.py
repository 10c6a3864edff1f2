"""After a missed call: an SMS to the caller (config `sms.missed_call_text`, off when empty), on the
call's ticket, with a way back (the text can name the chat page or say "reply to this message").

Sent once per call, for inbound calls the caller gave up on (abandoned in the queue, or ended before
anyone answered and without a voicemail), to a number that can be texted and has not sent STOP."""

from __future__ import annotations

import logging
from typing import Callable

from callcenter.core.events import CallRecord
from callcenter.channels.sms import rules as sms
from callcenter.channels.sms.provider import SmsProvider
from callcenter.config import Config
from callcenter.tickets.messages import Messages
from callcenter.tickets.rows import InteractionRow

log = logging.getLogger(__name__)


def missed(record: CallRecord) -> bool:
    """Did the caller give up on this call (pure)?"""
    return (record.direction == "inbound" and record.agent_answered_at is None and not record.voicemail
            and (record.abandoned or record.queue is not None) and sms.textable(record.caller_id.strip()))


async def missed_call_sms(record: CallRecord, row: InteractionRow, *, config: Callable[[], Config],
                          messages: Messages, provider: Callable[[], SmsProvider]) -> bool:
    """Text the caller of a missed call; True if a message went out."""
    text = config().sms.missed_call_text
    if not text or not missed(record):
        return False
    number = record.caller_id.strip()
    if await messages.opted_out(number):
        return False
    callback = config().sms_public_url + "/webhooks/sms/twilio/status"
    sid, state = await provider().send(number, text, callback)
    await messages.outbound(row["ticket_id"], "sms", number, text, actor="system", external_id=sid, status=state)
    log.info("call %s: missed; SMS sent to %s on ticket #%s", record.call_id, number, row["ticket_id"])
    return True
