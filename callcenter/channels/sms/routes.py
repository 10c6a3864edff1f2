"""SMS over HTTP: the provider's webhooks (inbound messages, delivery reports) and replies from a
ticket.

- `POST /webhooks/sms/twilio` (form fields From, To, Body, MessageSid, as Twilio sends them): the
  `X-Twilio-Signature` must be Twilio's HMAC-SHA1 over `sms.public_url` + the path + the sorted
  parameters, keyed with the auth token (channels/sms.py); a missing or wrong one is 403 and nothing
  is stored. A message is written once per MessageSid (Twilio retries). STOP / START (and their
  synonyms) set or clear the number's opt-out, and are kept on the ticket like any message. The
  answer is empty TwiML.
- `POST /webhooks/sms/twilio/status` (MessageSid, MessageStatus), signed the same way: a delivery
  report for a reply.
- `POST /api/tickets/{id}/reply {channel: "sms", text, to?}`: through the provider to the ticket's
  customer (their first phone, or `to`); refused for a number that opted out (409 `opted-out`) and
  for a text over 10 segments (400 `too-long`).
Errors as JSON (`bad-signature`, `bad-request`, ...), except the webhooks' 403, which says little.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import Any, Awaitable, Callable

from aiohttp import web

from callcenter.core import events as ev
from callcenter.core.text import clean_text
from callcenter.channels.sms import rules as sms
from callcenter.channels.email import parse as mail
from callcenter.channels.email import outbox
from callcenter.channels.email.intake import MailIntake
from callcenter.channels.sms.provider import SmsProvider
from callcenter.config import Config
from callcenter.core.errors import Conflict, NotFound, Refused
from callcenter.tickets.messages import Messages
from callcenter.web import access
from callcenter.tickets.routes import path_id

log = logging.getLogger(__name__)

JsonBody = Callable[[web.Request], Awaitable[dict[str, Any]]]
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_BODY_CHARS = 1600  # Twilio's own limit for one message


def add_routes(app: web.Application, *, messages: Messages, provider: SmsProvider, config: Callable[[], Config],
               token: Callable[[], str], publish: Callable[[Any], Awaitable[None]], json_body: JsonBody,
               clock: Callable[[], float], intake: Callable[[], MailIntake | None] = lambda: None) -> None:

    async def signed_form(request: web.Request) -> dict[str, str]:
        """The POSTed form, if Twilio signed it; else 403 (logged, nothing stored)."""
        raw = await request.read()
        try:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            pairs = []
        url = config().sms_public_url + request.path_qs
        if not sms.signature_ok(token(), url, pairs, request.headers.get("X-Twilio-Signature", "")):
            log.warning("SMS webhook %s from %s refused: missing or wrong X-Twilio-Signature", request.path,
                        request.remote)
            raise web.HTTPForbidden(text="bad signature")
        form: dict[str, str] = {}
        for key, value in pairs:
            form.setdefault(key, value)
        return form

    async def inbound(request: web.Request) -> web.Response:
        form = await signed_form(request)
        sender, body, sid = form.get("From", ""), clean_text(form.get("Body", "")), form.get("MessageSid", "")
        if not sender or not sid or len(body) > MAX_BODY_CHARS or len(sid) > 100 or len(sender) > 64 or \
                clean_text(sender) != sender or clean_text(sid) != sid or "\n" in sender + sid:
            log.warning("SMS webhook refused: From %r, MessageSid %r, %d characters", sender[:40], sid[:40], len(body))
            return web.json_response({"error_id": "bad-request", "message": "From and MessageSid are needed; Body "
                                      f"up to {MAX_BODY_CHARS} characters", "details": {}}, status=400)
        row, new = await messages.inbound("sms", sender, body, external_id=sid, topic=config().sms.topic,
                                          to=form.get("To", ""))
        if new:
            word = sms.keyword(body)
            if word:
                await messages.set_opt_out(sender, word == "stop")
                log.info("SMS %s from %s: opt-%s recorded", word.upper(), sender, "out" if word == "stop" else "in")
            await publish(ev.MessageReceived("sms", row["id"], row["ticket_id"], row["customer_id"], sender, body,
                                             clock()))
        return web.Response(text=TWIML, content_type="text/xml")

    async def status(request: web.Request) -> web.Response:
        form = await signed_form(request)
        sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if sid and state and await messages.delivery("sms", sid, state) is None:
            log.info("SMS delivery report for an unknown message %s (%s)", sid[:40], state[:32])
        return web.Response(text=TWIML, content_type="text/xml")

    async def reply(request: web.Request) -> web.Response:
        body = await json_body(request)
        channel, text, to = body.get("channel"), body.get("text"), body.get("to")
        if channel not in ("sms", "email"):
            raise Refused("bad-request", 'channel must be "sms" or "email" (chat replies come later)')
        if not isinstance(text, str) or not text.strip() or (to is not None and not isinstance(to, str)):
            raise Refused("bad-request", "text must be a non-empty string, and to an address")
        if channel == "email":
            return await email_reply(request, text)
        encoding, parts = sms.segments(text)
        if parts > sms.MAX_SEGMENTS:
            raise Refused("too-long", f"{parts} SMS segments ({encoding}); at most {sms.MAX_SEGMENTS}")
        ticket_id = path_id(request.match_info["id"], "ticket")
        me = access.principal(request)
        if not me.may("supervisor"):  # as for editing: an agent answers tickets of theirs or of nobody's
            access.own_ticket(request, (await messages.tickets.get(ticket_id))["assignee"])
        number = to or await messages.phone_of(ticket_id)
        if not sms.textable(number):
            raise Refused("bad-number", f"{number[:30]!r} is not a phone number to text")
        if await messages.opted_out(number):
            raise Conflict("opted-out", f"{number} sent STOP: no SMS until they send START")
        callback = config().sms_public_url + "/webhooks/sms/twilio/status"
        sid, state = await provider.send(number, text, callback)
        row = await messages.outbound(ticket_id, "sms", number, text, actor=me.name, external_id=sid, status=state)
        return web.json_response({**row, "segments": parts, "encoding": encoding})

    async def quarantine(request: web.Request) -> web.Response:
        mail = intake()
        return web.json_response({"problem": mail.problem if mail else "the email receiver is not running",
                                  "messages": await asyncio.to_thread(mail.quarantine) if mail else []})

    async def email_reply(request: web.Request, text: str) -> web.Response:
        ticket_id = path_id(request.match_info["id"], "ticket")
        me = access.principal(request)
        thread = await messages.email_thread(ticket_id)
        settings = config().email
        msg = mail.reply(from_address=settings.from_address, to=thread["to"], subject=thread["subject"],
                         text=clean_text(text), ticket_id=ticket_id, in_reply_to=thread["in_reply_to"],
                         references=thread["references"])
        state = await outbox.send(msg, settings.relay_host, settings.relay_port)
        row = await messages.outbound(ticket_id, "email", thread["to"], clean_text(text), actor=me.name,
                                      external_id=str(msg["Message-ID"]), status=state, subject=str(msg["Subject"]),
                                      variables={"in_reply_to": thread["in_reply_to"],
                                                 "references": [*thread["references"][-20:], thread["in_reply_to"]]})
        return web.json_response(row)

    async def html_view(request: web.Request) -> web.StreamResponse:
        """An email's sanitized HTML view, as its own document that can do nothing: no script
        runs (sandbox), nothing loads from outside (default-src 'none'; images inline only)."""
        interaction = path_id(request.match_info["id"], "interaction")
        mail_intake = intake()
        path = mail_intake.html_path(interaction) if mail_intake else None
        if path is None or not path.is_file():
            raise NotFound("unknown-interaction", f"interaction #{interaction} has no HTML view")
        return web.FileResponse(path, headers={
            "Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            "Referrer-Policy": "no-referrer"})

    app.router.add_get("/api/email/quarantine", quarantine)
    app.router.add_get("/api/interactions/{id}/html", html_view)
    app.router.add_post("/webhooks/sms/twilio", inbound)
    app.router.add_post("/webhooks/sms/twilio/status", status)
    app.router.add_post("/api/tickets/{id}/reply", reply)
