"""Who a contact is: caller IDs, emails, chat visitors as identities of a customer (pure).

A phone number is normalized to E.164 with `phonenumbers` (Google's libphonenumber metadata), so
`+1 415-555-2671`, `4155552671` and `(415) 555-2671` (default region US) are one identity. A
withheld or non-dialable caller ID never becomes an identity (RFC 3323 `anonymous`, the words
carriers send, empty, a SIP URI without digits): such a contact is "unidentified". A number that
does not parse is kept raw and flagged (`valid=False`), never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from callcenter.core.text import first_control
from callcenter.core.errors import Refused
from callcenter.routing.callbacks import WITHHELD

IdentityKind = Literal["phone", "email", "chat", "account"]
KINDS: tuple[str, ...] = ("phone", "email", "chat", "account")
MAX_VALUE = 320  # an RFC 5321 address is at most 254 characters; leave room for raw numbers


@dataclass(frozen=True)
class Identity:
    """An identity as stored: `kind`, the normalized `value` (E.164 for a valid phone number, the
    raw text otherwise), the `raw` text as received, and whether the value is `valid`."""

    kind: str
    value: str
    raw: str
    valid: bool = True


class IdentityError(Refused):
    """Text that cannot be an identity at all (empty, control characters, too long): error id
    `invalid-identity`."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid-identity", message)


_SIP_URI = re.compile(r"^(?:sips?:|tel:)?([^@;]*)(?:@.*)?$", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


def known_region(code: str) -> bool:
    """Is `code` a region phonenumbers has metadata for (ISO 3166-1 alpha-2, upper case)?"""
    return code in phonenumbers.SUPPORTED_REGIONS


def _clean(text: str) -> str:
    text = text.strip()
    if first_control(text) is not None:  # the one policy (core/text.py)
        raise IdentityError(f"control character in {text[:40]!r}")
    if len(text) > MAX_VALUE:
        raise IdentityError(f"{len(text)} characters; at most {MAX_VALUE}")
    return text


def phone(raw: str, region: str) -> Identity | None:
    """The identity of a caller ID (as Asterisk gives it: digits, `+E.164`, a SIP URI's user part,
    or a withheld word), or None when it identifies nobody. `region` is an ISO 3166 code (`US`)
    for numbers written without a country code. Errors: IdentityError."""
    text = _clean(raw)
    if text.lower() in WITHHELD:
        return None
    if "@" in text or text.lower().startswith(("sip:", "sips:", "tel:")):
        match = _SIP_URI.match(text)
        user = match.group(1) if match else ""
        if not any(c.isdigit() for c in user) or user.lower() in WITHHELD:
            return None
        text = user
    if not any(c.isdigit() for c in text):
        return None  # "Anonymous Caller", "Unknown": nothing to call or recognise
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return Identity("phone", text, raw, valid=False)
    if not phonenumbers.is_possible_number(number):
        return Identity("phone", text, raw, valid=False)
    return Identity("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), raw)


def caller(raw: str, region: str) -> Identity | None:
    """The identity of a caller ID as `phone` gives it, or None when it identifies nobody or is
    not one at all (a caller ID is outside text: it never raises)."""
    try:
        return phone(raw, region)
    except IdentityError:
        return None


def email(raw: str) -> Identity:
    """An email address, lower-cased (the local part too: mailboxes in practice ignore case).
    Errors: IdentityError for text that is not an address."""
    text = _clean(raw)
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if not _EMAIL.fullmatch(text):
        raise IdentityError(f"{text[:60]!r} is not an email address")
    return Identity("email", text.lower(), raw)


def parse(kind: str, raw: str, region: str) -> Identity | None:
    """An identity of any kind (`phone`, `email`, `chat`, `account`). None for a withheld phone.
    Errors: IdentityError."""
    if kind == "phone":
        return phone(raw, region)
    if kind == "email":
        return email(raw)
    if kind in ("chat", "account"):
        text = _clean(raw)
        if not text:
            raise IdentityError(f"an empty {kind} id")
        return Identity(kind, text, raw)
    raise IdentityError(f"unknown identity kind {kind!r} (known: {', '.join(KINDS)})")


def guess(text: str, region: str) -> Identity | None:
    """What a user typed to find a customer (`customer show X`): an email, else a phone number.
    None if it identifies nobody. Errors: IdentityError."""
    text = _clean(text)
    if "@" in text and not text.lower().startswith(("sip:", "sips:")):
        return email(text)
    return phone(text, region)
