"""The IVR flow language as data: a flow is named nodes, one of them the entry.

Everything here is immutable: a loaded flow set is a snapshot, so a call that started on one
version keeps it to the end while new calls get the reloaded one. The YAML shape of each node is
in docs/ivr-flows.md; the loader (loader.py) builds these, the validator (validate.py) checks
them as a graph, the stepper (stepper.py) runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from callcenter.ivr.schedule import Schedule

# A caller ID or a call variable longer than this matches no branch rule and no collect pattern:
# regular expressions never run on more characters, which bounds the time of the patterns the
# validator accepts (it refuses those whose time would explode even on this length: slow-pattern).
MAX_MATCH_LENGTH = 64


@dataclass(frozen=True)
class Sound:
    """An Asterisk sound by name (`hello-world`, `digits/1`), in the flow's language."""

    name: str


@dataclass(frozen=True)
class Say:
    """Text turned into telephone audio when the flow is loaded (FlowSet.say_files)."""

    text: str


@dataclass(frozen=True)
class SayDigits:
    """Read a call variable's digits aloud (`You entered 1 2 3`)."""

    variable: str


PromptItem = Sound | Say | SayDigits


@dataclass(frozen=True)
class Prompt:
    items: tuple[PromptItem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class Play:
    prompt: Prompt
    next: str


@dataclass(frozen=True)
class Menu:
    prompt: Prompt
    options: Mapping[str, str]  # digit → node
    failure: str  # after the last retry
    timeout: float = 5.0
    retries: int = 2  # tries after the first
    no_input: Prompt = Prompt()
    invalid: Prompt = Prompt()
    barge_in: bool = True


@dataclass(frozen=True)
class Collect:
    prompt: Prompt
    variable: str
    next: str
    failure: str
    min_digits: int = 1
    max_digits: int = 10
    finish_on: str = "#"
    pattern: str = ""
    timeout: float = 5.0  # for the first digit, and between digits
    retries: int = 2
    invalid: Prompt = Prompt()


@dataclass(frozen=True)
class Hours:
    schedule: Schedule
    open: str
    closed: str


@dataclass(frozen=True)
class Rule:
    subject: str  # caller_id | did | customer.known | customer.tags | customer.open_tickets | a call variable
    test: str  # equals | prefix | matches | in | contains | above
    value: str | tuple[str, ...]
    goto: str


@dataclass(frozen=True)
class Branch:
    rules: tuple[Rule, ...]
    otherwise: str


@dataclass(frozen=True)
class Queue:
    queue: str
    priority: int = 0
    max_wait: int = 0  # seconds; 0 = wait until answered
    next: str = ""  # where the caller goes when max_wait is reached (overflow)


@dataclass(frozen=True)
class Voicemail:
    greeting: Prompt = Prompt()
    max_length: int = 120
    beep: bool = True
    next: str = ""  # after the message; empty = thank and hang up
    silence: int = 5  # seconds of silence that end the message (Asterisk's RECORD FILE s=); 0: off
    min_length: float = 1.0  # seconds: a shorter message, or one without sound, is an empty voicemail


@dataclass(frozen=True)
class Transfer:
    kind: str  # agent | extension | number
    target: str
    timeout: int = 30
    failure: str = ""  # no answer / busy; empty = hang up


@dataclass(frozen=True)
class Goto:
    flow: str


@dataclass(frozen=True)
class Hangup:
    prompt: Prompt = Prompt()


Step = Play | Menu | Collect | Hours | Branch | Queue | Voicemail | Transfer | Goto | Hangup
KINDS: dict[str, type] = {"play": Play, "menu": Menu, "collect": Collect, "hours": Hours, "branch": Branch,
                          "queue": Queue, "voicemail": Voicemail, "transfer": Transfer, "goto": Goto,
                          "hangup": Hangup}


@dataclass(frozen=True)
class Node:
    name: str
    step: Step
    line: int = 0
    column: int = 0

    @property
    def kind(self) -> str:
        return type(self.step).__name__.lower()

    def exits(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """Exits to other nodes of the same flow: (label, target node, key path where it is written)."""
        s, p = self.step, ("nodes", self.name)
        if isinstance(s, Play):
            return [("next", s.next, p + ("next",))]
        if isinstance(s, Menu):
            return [(f"press {d}", n, p + ("menu", "options", d)) for d, n in s.options.items()] + [
                ("failure", s.failure, p + ("failure",))]
        if isinstance(s, Collect):
            return [("next", s.next, p + ("next",)), ("failure", s.failure, p + ("failure",))]
        if isinstance(s, Hours):
            return [("open", s.open, p + ("open",)), ("closed", s.closed, p + ("closed",))]
        if isinstance(s, Branch):
            return [(f"{r.subject} {r.test} {r.value}", r.goto, p + ("branch", str(i), "goto"))
                    for i, r in enumerate(s.rules)] + [("else", s.otherwise, p + ("else",))]
        if isinstance(s, Queue) and s.next:
            return [("overflow", s.next, p + ("next",))]
        if isinstance(s, Voicemail) and s.next:
            return [("next", s.next, p + ("next",))]
        if isinstance(s, Transfer) and s.failure:
            return [("failure", s.failure, p + ("failure",))]
        return []

    @property
    def takes_input(self) -> bool:
        """Does the caller act (or wait for a person) at this node? Loops need one such node."""
        return isinstance(self.step, (Menu, Collect, Queue, Voicemail, Transfer))

    @property
    def final(self) -> bool:
        """Does the call leave this flow here (or may it, for queue/voicemail/transfer)?"""
        return isinstance(self.step, (Hangup, Goto, Queue, Voicemail, Transfer))


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    entry: str
    nodes: Mapping[str, Node]
    language: str = "en"
    voice: str = ""
    line: int = 0
    broken_nodes: frozenset[str] = frozenset()  # written, but not loaded (their errors are reported)
    # Where each key was written (key path → line, column), for the validator's messages.
    positions: Mapping[tuple[str, ...], tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    def at(self, *path: str) -> tuple[int, int]:
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, (self.line, 1))


@dataclass(frozen=True)
class FlowSet:
    """All flows of one load, by name: what a call runs on from its first node to its last."""

    flows: Mapping[str, Flow] = field(default_factory=dict)
    version: int = 0
    loaded_at: float = 0.0
    # (language, voice, text) → the generated sound for a `say:` prompt, as Asterisk names it.
    say_files: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
