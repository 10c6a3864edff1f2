"""Settings of the numbers callers dial (`dids:`): the IVR flow that answers each, and the
dialplan's fallback (greeting, then queue) when the controller is away."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from callcenter.core.config import Locator
from callcenter.routing.settings import DISPLAY, SOUND, QueueSettings

DID = re.compile(r"\+?[0-9]{3,20}")


@dataclass(frozen=True)
class DidSettings:
    """A number callers dial: the IVR flow that answers it.

    `greeting` then `queue` is the dialplan's fallback when the controller is away (and the whole
    route when no `flow` is given).
    """

    queue: str
    flow: str = ""
    name: str = ""
    greeting: str = "hello-world"


def normalize_did(number: str) -> str:
    """'+8005550100', '008005550100', '800-555-0100' → '8005550100' (the digits a DID is matched on)."""
    digits = "".join(c for c in str(number) if c.isdigit())
    return digits[2:] if str(number).strip().startswith("00") else digits


def check(dids: Mapping[str, DidSettings], queues: Mapping[str, QueueSettings], loc: Locator) -> None:
    seen: dict[str, str] = {}
    for number, did in dids.items():
        if normalize_did(number) in seen:
            raise loc.error(("dids", number), f"DID {number} is DID {seen[normalize_did(number)]} again "
                            "(+ and 00 prefixes are the same number)", "duplicate-did")
        seen[normalize_did(number)] = number
        if not DID.fullmatch(number):
            raise loc.error(("dids", number), f"DID '{number}' must be digits (optionally with a leading +)",
                            "bad-did")
        if not DISPLAY.fullmatch(did.name):
            raise loc.error(("dids", number, "name"), "a name may not hold quotes, < >, ; or \\ and is at most 80 "
                            "characters", "bad-value")
        if not SOUND.fullmatch(did.greeting):
            raise loc.error(("dids", number, "greeting"), f"'{did.greeting}' is not a sound name (e.g. hello-world)",
                            "unknown-sound")
        if did.queue not in queues:
            raise loc.error(("dids", number, "queue"), f"unknown queue '{did.queue}'", "unknown-queue")
