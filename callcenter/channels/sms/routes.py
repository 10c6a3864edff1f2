"""SMS over HTTP: the provider's signed webhooks (docs/sms.md). What they do is service.py's.

- `POST /webhooks/sms/twilio` (form fields From, To, Body, MessageSid, as Twilio posts them): an
  inbound message (`SmsService.receive`).
- `POST /webhooks/sms/twilio/status` (MessageSid, MessageStatus): a delivery report.

Both are outside /api/ (public): they check their caller themselves. The `X-Twilio-Signature`
must be right (rules.signature: Twilio's webhook security, https://www.twilio.com/docs/usage/security,
over `sms.public_url` + the path and query + the POSTed parameters, keyed with the auth token);
a missing or wrong one is a 403 that says little ("bad signature"), logged, and nothing is
stored. Both answer empty TwiML; a refused message is a 400 `bad-request` (JSON).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Callable

from aiohttp import web

from callcenter.channels.sms import rules as sms
from callcenter.channels.sms.service import STATUS_PATH, SmsService
from callcenter.config import Config
from callcenter.core.feature import Route

log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/sms/twilio"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class SmsRoutes:
    """The webhooks of `service`. `config()`: the configuration in force (`sms.public_url`, which
    the signature covers); `token()`: the provider's auth token (the signature's key)."""

    def __init__(self, service: SmsService, config: Callable[[], Config], token: Callable[[], str]) -> None:
        self.service, self.config, self.token = service, config, token

    def table(self) -> list[Route]:
        return [Route("POST", INBOUND_PATH, self.inbound, "public"),
                Route("POST", STATUS_PATH, self.status, "public")]

    async def inbound(self, request: web.Request) -> web.Response:
        form = await self.signed_form(request)
        await self.service.receive(form.get("From", ""), form.get("Body", ""), form.get("MessageSid", ""),
                                   form.get("To", ""))
        return web.Response(text=TWIML, content_type="text/xml")

    async def status(self, request: web.Request) -> web.Response:
        form = await self.signed_form(request)
        await self.service.delivery_report(form.get("MessageSid", ""), form.get("MessageStatus", ""))
        return web.Response(text=TWIML, content_type="text/xml")

    async def signed_form(self, request: web.Request) -> dict[str, str]:
        """The POSTed form (the first value of a repeated name), if the provider signed it.
        Errors: HTTPForbidden (logged; the caller learns only "bad signature")."""
        raw = await request.read()
        try:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            pairs = []  # unreadable: checked as an empty form, so refused (403, or 400 for want of From)
        url = self.config().sms_public_url + request.path_qs
        if not sms.signature_ok(self.token(), url, pairs, request.headers.get("X-Twilio-Signature", "")):
            log.warning("SMS webhook %s from %s refused: missing or wrong X-Twilio-Signature", request.path,
                        request.remote)
            raise web.HTTPForbidden(text="bad signature")
        form: dict[str, str] = {}
        for key, value in pairs:
            form.setdefault(key, value)
        return form
