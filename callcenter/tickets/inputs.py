"""What the ticket store accepts from outside before it reaches SQL: bounded text that holds no
control character (core/text.py's one policy), and ids that fit the database's integer columns.

Errors: Refused `bad-text`.
"""

from __future__ import annotations

from callcenter.core.errors import Refused
from callcenter.core.text import first_control

MAX_TEXT = 10_000  # a note, a body written through the API
MAX_SHORT = 200  # names, tags, assignees
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_TAGS = 50


def checked_text(value: object, what: str, limit: int = MAX_SHORT, *, empty: bool = True) -> str:
    """`value` if it may be stored as `what`: a string of at most `limit` characters with no
    control character (a text longer than MAX_SHORT may hold newlines and tabs: a note, a
    message; CR LF becomes LF), and not blank unless `empty`. Errors: Refused `bad-text`."""
    if not isinstance(value, str):
        raise Refused("bad-text", f"{what} must be text, not {type(value).__name__}")
    multiline = limit > MAX_SHORT
    if multiline:  # a browser's textarea sends CR LF: the same text as LF
        value = value.replace("\r\n", "\n")
    bad = first_control(value, multiline=multiline)
    if bad is not None:
        raise Refused("bad-text", f"{what}: control character U+{ord(bad):04X} is not allowed")
    if len(value) > limit:
        raise Refused("bad-text", f"{what}: {len(value)} characters; at most {limit}")
    if not empty and not value.strip():
        raise Refused("bad-text", f"{what} is empty")
    return value


def is_id(value: int) -> bool:
    """Can `value` be a row's id (1 to MAX_ID)? Anything else names no row: looked up, never sent
    to the database (PostgreSQL refuses an integer out of its column's range)."""
    return 0 < value <= MAX_ID
