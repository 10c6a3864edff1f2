"""Settings of SMS (`sms:`): the provider, the webhook's public URL, our number, the missed-call text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.core.config import Locator

PROVIDERS = ("dev", "twilio")


@dataclass(frozen=True)
class SmsSettings:
    """SMS: inbound by the provider's webhook, replies through the provider."""

    provider: str = "dev"  # dev (keeps replies on the ticket, sends nothing) | twilio
    public_url: str = ""  # the URL the provider posts to (its signature covers it); "" = this API's (api.bind/port)
    from_number: str = ""  # our number, E.164 (twilio)
    twilio_account_sid: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    topic: str = "general"  # the ticket topic SMS join
    queue: str = ""  # the queue whose agents answer new SMS tickets ("" = the queue of the DID texted, else the first)
    missed_call_text: str = ""  # an SMS to callers who gave up (off when empty); e.g. "Sorry we missed you: reply here"


def check(sms: SmsSettings, loc: Locator) -> None:
    if sms.provider not in PROVIDERS:
        raise loc.error(("sms", "provider"), f"unknown provider '{sms.provider}' (dev, twilio)", "bad-value")
    for key in ("public_url", "twilio_api_url"):
        value = getattr(sms, key)
        if key == "public_url" and not value:
            continue
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise loc.error(("sms", key), f"'{value[:60]}' is not an http(s) URL", "bad-value")
    if sms.provider == "twilio" and not (re.fullmatch(r"\+[1-9][0-9]{6,14}", sms.from_number)
                                         and re.fullmatch(r"AC[0-9a-f]{32}", sms.twilio_account_sid)):
        raise loc.error(("sms",), "the twilio provider needs from_number (E.164, +...) and twilio_account_sid "
                        "(AC + 32 hex digits)", "missing-key")
