"""Run one caller through a flow: results and `now` in, actions out. Pure: no I/O, no clock.

    run = FlowRun(flow_set, "hotline", caller_id="5551230001", did="8005550100")
    action = run.start(now)
    while not isinstance(action, Finished):
        result = ...perform the action (runner.py does it over AsyncAGI)...
        action = run.send(result, now)

The flow set is the snapshot the call started on: a reload never changes a running call.
`run.path` is what happened, for the call record (node visits, keys pressed, where it ended).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Generator, Mapping

from callcenter.ivr import model as m
from callcenter.ivr.model import MAX_MATCH_LENGTH
from callcenter.ivr.schedule import is_open

ALL_DIGITS = "0123456789*#"
MAX_STEPS = 500  # a safety net; the validator already refuses loops that take no input


def _search(pattern: str, text: str) -> bool:
    """A branch's `matches` or a collect's `pattern`, on at most MAX_MATCH_LENGTH characters (a
    longer text never matches): the validator refuses exponential shapes and counts the ways the
    others can split a text of that length, so the time of a match is bounded."""
    return len(text) <= MAX_MATCH_LENGTH and re.search(pattern, text) is not None


# -- actions (out) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Play:
    """Play these items in order: ("file", sound) or ("digits", "1234"). With `escape` digits,
    a key pressed during the prompt stops it (barge-in) and is the result."""

    items: tuple[tuple[str, str], ...]
    escape: str = ""


@dataclass(frozen=True)
class WaitDigit:
    timeout: float


@dataclass(frozen=True)
class ToQueue:
    queue: str
    priority: int
    max_wait: int
    resume: str  # "flow/node" to come back to on overflow, or ""


@dataclass(frozen=True)
class RecordMessage:
    greeting: tuple[tuple[str, str], ...]
    max_length: int
    beep: bool
    silence: int = 5  # seconds of silence that end it; 0: off
    min_length: float = 1.0  # seconds: shorter, or without sound, is an empty voicemail


@dataclass(frozen=True)
class Dial:
    kind: str  # agent | extension | number
    target: str
    timeout: int
    resume: str


@dataclass(frozen=True)
class Hangup:
    items: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Finished:
    """The flow is done with this caller (hung up, or handed to a queue / transfer for good)."""

    reason: str


Action = Play | WaitDigit | ToQueue | RecordMessage | Dial | Hangup | Finished


# -- results (in) --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pressed:
    """A Play or WaitDigit ended: the key pressed, or '' (played to the end / timed out)."""

    digit: str = ""


@dataclass(frozen=True)
class Returned:
    """A queue or a transfer handed the caller back: `status` is QUEUESTATUS or DIALSTATUS."""

    status: str


@dataclass(frozen=True)
class Recorded:
    file: str
    seconds: float
    empty: str = ""  # why the message is empty (too short, no sound), or ""


@dataclass(frozen=True)
class Done:
    """An action with nothing to report (a Hangup, a Play without escape digits)."""


Result = Pressed | Returned | Recorded | Done


def _key(result: Result) -> str:
    """The key a Play or WaitDigit ended on ('' if none)."""
    return result.digit if isinstance(result, Pressed) else ""


@dataclass
class FlowRun:
    flows: m.FlowSet
    flow_name: str
    caller_id: str = ""
    did: str = ""
    start_node: str = ""  # to resume a flow at a node (after a controller restart)
    # What the store knows of the caller: {"known": bool, "tags": [str], "open_tickets": int}.
    customer: Mapping[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    now: float = 0.0
    current_flow: str = ""
    _gen: Generator[Action, Result, None] | None = field(default=None, repr=False)

    def start(self, now: float) -> Action:
        self.now = now
        self._gen = self._run()
        return next(self._gen)

    def send(self, result: Result, now: float) -> Action:
        assert self._gen is not None, "start() first"
        self.now = now
        try:
            return self._gen.send(result)
        except StopIteration:
            return Finished("done")

    # -- the interpreter --------------------------------------------------------------------

    def _items(self, prompt: m.Prompt) -> tuple[tuple[str, str], ...]:
        flow = self.flows.flows[self.current_flow]
        out = []
        for item in prompt.items:
            if isinstance(item, m.Sound):
                out.append(("file", item.name))
            elif isinstance(item, m.Say):
                out.append(("file", self.flows.say_files.get((flow.language, flow.voice, item.text), "")))
            elif isinstance(item, m.SayDigits) and self.variables.get(item.variable):
                out.append(("digits", self.variables[item.variable]))
        return tuple(out)

    def _run(self) -> Generator[Action, Any, None]:
        flow = self.flows.flows[self.flow_name]
        self.current_flow = flow.name
        name = self.start_node or flow.entry
        for _ in range(MAX_STEPS):
            node = flow.nodes[name]
            self.path.append(f"{flow.name}/{name}")
            s = node.step
            if isinstance(s, m.Play):
                yield Play(self._items(s.prompt))
                name = s.next
            elif isinstance(s, m.Menu):
                name = yield from self._menu(s)
            elif isinstance(s, m.Collect):
                name = yield from self._collect(s)
            elif isinstance(s, m.Hours):
                opened = is_open(s.schedule, self.now)
                self.path.append("open" if opened else "closed")
                name = s.open if opened else s.closed
            elif isinstance(s, m.Branch):
                name = next((r.goto for r in s.rules if self._matches(r)), s.otherwise)
            elif isinstance(s, m.Queue):
                resume = f"{flow.name}/{s.next}" if s.next else ""
                result = yield ToQueue(s.queue, s.priority, s.max_wait, resume)
                if not (isinstance(result, Returned) and s.next):
                    yield Finished(f"queue {s.queue}")
                    return
                self.path.append(f"overflow:{result.status.lower()}")
                name = s.next
            elif isinstance(s, m.Voicemail):
                result = yield RecordMessage(self._items(s.greeting), s.max_length, s.beep, s.silence, s.min_length)
                if isinstance(result, Recorded):
                    self.path.append(f"message:{result.seconds:.0f}s" + (" (empty)" if result.empty else ""))
                if not s.next:
                    yield Hangup((("file", "vm-goodbye"),))
                    yield Finished("voicemail")
                    return
                name = s.next
            elif isinstance(s, m.Transfer):
                resume = f"{flow.name}/{s.failure}" if s.failure else ""
                result = yield Dial(s.kind, s.target, s.timeout, resume)
                if not (isinstance(result, Returned) and s.failure):
                    yield Finished(f"transfer {s.kind} {s.target}")
                    return
                self.path.append(f"transfer-failed:{result.status.lower()}")
                name = s.failure
            elif isinstance(s, m.Goto):
                flow = self.flows.flows[s.flow]
                self.current_flow = flow.name
                name = flow.entry
            elif isinstance(s, m.Hangup):
                yield Hangup(self._items(s.prompt))
                yield Finished("hangup")
                return
        yield Hangup()
        yield Finished("too many steps")

    def _menu(self, s: m.Menu) -> Generator[Action, Any, str]:
        # Any key stops the prompt (a wrong one too: the caller hears why, instead of being ignored).
        escape = ALL_DIGITS if s.barge_in else ""
        for attempt in range(s.retries + 1):
            digit = _key((yield Play(self._items(s.prompt), escape)))
            if not digit:
                digit = _key((yield WaitDigit(s.timeout)))
            if digit in s.options:
                self.path.append(f"pressed:{digit}")
                return s.options[digit]
            self.path.append(f"invalid:{digit}" if digit else "no-input")
            if attempt < s.retries:
                explain = s.invalid if digit else s.no_input
                if explain:
                    yield Play(self._items(explain))
        self.path.append("menu-failed")
        return s.failure

    def _collect(self, s: m.Collect) -> Generator[Action, Any, str]:
        for attempt in range(s.retries + 1):
            first = _key((yield Play(self._items(s.prompt), ALL_DIGITS)))
            digits = "" if first == s.finish_on else first
            finished = bool(first) and first == s.finish_on
            while not finished and len(digits) < s.max_digits:
                d = _key((yield WaitDigit(s.timeout)))
                if not d or (s.finish_on and d == s.finish_on):
                    break
                digits += d
            valid = s.min_digits <= len(digits) <= s.max_digits and (
                not s.pattern or _search(s.pattern, digits))
            if valid:
                self.variables[s.variable] = digits
                self.path.append(f"collected:{s.variable}={digits}")
                return s.next
            self.path.append(f"invalid-input:{digits}" if digits else "no-input")
            if attempt < s.retries and s.invalid:
                yield Play(self._items(s.invalid))
        self.path.append("collect-failed")
        return s.failure

    def _matches(self, rule: m.Rule) -> bool:
        if rule.subject.startswith("customer."):
            return _fact_matches(self.customer.get(rule.subject.removeprefix("customer.")), rule)
        value = {"caller_id": self.caller_id, "did": self.did}.get(rule.subject)
        if value is None:
            value = self.variables.get(rule.subject, "")
        if len(value) > MAX_MATCH_LENGTH:
            return False  # a hostile caller ID: no rule matches it, the branch goes to `else`
        if rule.test == "equals":
            return value == rule.value
        if rule.test == "prefix":
            return value.startswith(str(rule.value))
        if rule.test == "matches":
            return _search(str(rule.value), value)
        if rule.test == "contains":
            return str(rule.value) in value
        if rule.test == "above":
            return value.isdigit() and int(value) > int(str(rule.value))
        return value in rule.value  # "in"


def _fact_matches(fact: Any, rule: m.Rule) -> bool:
    """A customer fact (None when the store knows nothing) against a rule: `tags contains vip`,
    `open_tickets above 0`, `known equals true`."""
    if fact is None:
        return False
    if rule.test == "contains":
        return str(rule.value).lower() in [str(t).lower() for t in fact] if isinstance(fact, list) else False
    if rule.test == "above":
        return isinstance(fact, int) and not isinstance(fact, bool) and fact > int(str(rule.value))
    text = ("true" if fact else "false") if isinstance(fact, bool) else str(fact)
    if rule.test == "equals":
        return text.lower() == str(rule.value).lower()
    if rule.test == "in":
        return text in rule.value
    if rule.test == "prefix":
        return text.startswith(str(rule.value))
    return _search(str(rule.value), text[:MAX_MATCH_LENGTH])  # matches
