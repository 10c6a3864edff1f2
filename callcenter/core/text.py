"""The one policy for text from outside, shared by every feature.

One set of characters, three uses:
- `first_control(value)`: the first character a value may not hold, or None. A one-line value (a
  name, a tag, an AMI header, a config value) may hold no C0 control character (below U+0020),
  DEL, NEL (U+0085), line or paragraph separator (U+2028, U+2029) or lone surrogate: any of these
  would start a new line or a new field where it ends up (an AMI action, a config file, a log
  line, SQL text). A multi-line text (a note, a message) may hold newlines and tabs, and the
  Unicode line breaks as written.
- `clean_text(text)`: text as people wrote it, with what no message shows dropped (a message
  from a phone or a mail is kept, not refused), bidirectional overrides included.
- `one_line(text)`: any text made fit for a one-line error message (control characters escaped).
"""

from __future__ import annotations

import re

_LINE_BREAKS = "\x85\u2028\u2029"
# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder what is
# shown after them ("Trojan Source", CVE-2021-42574): a message could make an agent read another
# text than the one stored. The marks (U+200E/F, U+061C) that Arabic and Hebrew text need stay.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_DROPPED = re.compile(f"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff{_BIDI_CONTROLS}]")
_ESCAPED = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")


def first_control(value: str, *, multiline: bool = False) -> str | None:
    """The first character of `value` the policy refuses (see the module's docstring), or None."""
    for c in value:
        o = ord(c)
        if o < 0x20:
            if multiline and c in "\n\t":
                continue
            return c
        if o == 0x7F or 0xD800 <= o <= 0xDFFF or (c in _LINE_BREAKS and not multiline):
            return c
    return None


def clean_text(text: str) -> str:
    """Text as people wrote it, without what no message shows: line ends made \\n, other control
    characters, bidirectional embeddings, overrides and isolates (and lone surrogates) dropped."""
    return _DROPPED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str, limit: int = 0) -> str:
    """`text` with its control characters shown escaped (\\n, \\x00), so an error stays one line;
    cut to `limit` characters (with ...) when `limit` is given."""
    text = _ESCAPED.sub(lambda c: repr(c[0])[1:-1], text)
    return text if not limit or len(text) <= limit else text[:limit - 3] + "..."
