"""The one policy for text from outside (shared by every feature).

Two uses, one set of characters: `clean_text` keeps what people wrote (a message, a note) and drops
what no message shows; `refuse_control` is for values that become syntax somewhere (an AMI header, a
config line, a name): there a control character is an error, not something to drop.
"""

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as people wrote it, without what no message shows: line ends made \\n, other control
    characters (and lone surrogates) dropped."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
