"""Read a recorded raw AMI stream (`ami.record` in callcenter.yaml) back into messages.

Used by the unit tests and the benchmarks: they replay traffic recorded from the real Asterisk
through the same parser (panoramisk's) and translation as the live controller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from panoramisk.message import Message


def parse_stream(raw: str) -> Iterator[Message]:
    """Messages of a raw AMI stream, in order (the banner line is skipped)."""
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        block = block.strip()
        if block.startswith("Asterisk Call Manager/"):
            block = block.partition("\n")[2]
        if not block:
            continue
        message = Message.from_line(block.replace("\n", "\r\n"))
        if message is not None:
            yield message


def read_trace(path: Path) -> list[Message]:
    return list(parse_stream(path.read_text(encoding="utf-8", errors="replace")))


def events(path: Path) -> list[Message]:
    """Only the events of a trace (not the responses to actions)."""
    return [m for m in read_trace(path) if "Event" in m]
