"""The secondary channels that feed the same ticket store as calls: SMS, email and web chat. Pure
rules live apart from I/O: sms.py, mail.py and chat.py decide; providers.py, intake.py, outbox.py
and chatdesk.py talk to the outside."""

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as people wrote it, without what no message shows: line ends made \n, other control
    characters (and lone surrogates) dropped."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
