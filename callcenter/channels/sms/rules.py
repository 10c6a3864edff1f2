"""SMS rules (pure): Twilio's webhook signature, message segments, opt-out keywords.

- Signature (Twilio's "X-Twilio-Signature", https://www.twilio.com/docs/usage/security): base64 of
  HMAC-SHA1, keyed with the account's auth token, over the full URL the provider posted to followed by
  every POST parameter sorted by name, each as name + value (a repeated name: each value, in order).
- Segments (3GPP TS 23.038 / 23.040): text that fits the GSM 7-bit default alphabet (with its
  extension table, whose characters take two septets) is 160 septets in one message, 153 per part
  when concatenated; anything else is UCS-2: 70 UTF-16 code units, 67 per part.
- Opt-out: the keywords carriers and Twilio honour (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT;
  back in with START, YES, UNSTOP), the whole message, any case, surrounding spaces ignored.
- Missed call: which calls get the missed-call text (docs/sms.md, "Missed calls").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable

from callcenter.core.events import CallRecord

GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("^{}\\[~]|€\f")
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START_WORDS = frozenset({"start", "yes", "unstop"})
MAX_SEGMENTS = 10  # longer texts are refused (1,530 GSM characters; Twilio's own limit is 1,600)


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature of a POST of `params` (name, value pairs, as sent) to `url`."""
    data = url + "".join(k + v for k, v in sorted(params, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_ok(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    if not given or not auth_token:
        return False
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())


def segments(text: str) -> tuple[str, int]:
    """(`gsm7` or `ucs2`, the number of SMS parts `text` takes)."""
    if all(c in GSM7 or c in GSM7_EXTENSION for c in text):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return "gsm7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "ucs2", 1 if units <= 70 else -(-units // 67)


def textable(number: str) -> bool:
    """A number we can text: 3-20 ASCII digits, an optional leading '+'."""
    digits = number[1:] if number.startswith("+") else number
    return digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20


def keyword(text: str) -> str:
    """`stop`, `start` or '' for an inbound message."""
    word = text.strip().lower()
    return "stop" if word in STOP_WORDS else "start" if word in START_WORDS else ""


def missed(record: CallRecord) -> bool:
    """Did the caller give up on this call? An inbound call nobody answered that left no
    voicemail, abandoned in the queue or ended there, from a number that can be texted (never a
    withheld one)."""
    return (record.direction == "inbound" and record.agent_answered_at is None and not record.voicemail
            and (record.abandoned or record.queue is not None) and textable(record.caller_id.strip()))
