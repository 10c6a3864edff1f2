"""Read IVR flow files (YAML) into the model, collecting every problem with its file, line and column.

A file holds one flow:

    name: hotline          # optional, defaults to the file name
    language: en
    entry: welcome
    nodes:
      welcome:
        play: [{say: "Thank you for calling."}, hello-world]
        next: main_menu
      ...

Shape problems (unknown keys, wrong types, missing keys) are found here; graph problems
(targets, reachability, loops, queues, sounds) in validate.py.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from callcenter.core import located_yaml
from callcenter.core.text import one_line
from callcenter.ivr import model as m
from callcenter.ivr.model import MAX_MATCH_LENGTH
from callcenter.ivr.schedule import ScheduleError, parse_schedule
from callcenter.core.located_yaml import KeyPath, Located, YamlProblem

DIGITS = set("0123456789*#")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# An Asterisk sound language (en, fr, en_US, pt_BR) and an espeak-ng voice (en-us, fr-fr, en+f3,
# mb/mb-fr1): they become parts of file paths and an espeak-ng argument, so they are names, never
# paths or options.
_LANGUAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]{0,63}")
TESTS = ("equals", "prefix", "matches", "in", "contains", "above")
# What the store knows of the caller when the call enters the flow (callcenter/tickets, customer_facts).
CUSTOMER_FACTS = ("customer.known", "customer.tags", "customer.open_tickets")
SUBJECTS_FIXED = ("caller_id", "did")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    error_id: str
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        """One line, whatever the flow file holds (a key or a value quoted in the message may
        contain line breaks or control characters: they are shown escaped)."""
        where = _one_line(f"{self.file}:{self.line}:{self.column}")
        message = _one_line(self.message)
        if self.severity == "warning":
            return f"{where}: warning: {self.error_id}: {message}"
        return f"{where}: {self.error_id}: {message}"


MAX_MESSAGE = 500
def _one_line(text: str) -> str:
    return one_line(text, MAX_MESSAGE)


class _Invalid(Exception):
    """Stops reading one node (or the file); the problem is already recorded."""


class _Reader:
    """Reads typed values out of the located YAML, recording problems at the right place."""

    def __init__(self, loc: Located) -> None:
        self.loc = loc
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, error_id: str, message: str, severity: str = "error") -> None:
        line, col = self.loc.at(path)
        self.problems.append(Problem(self.loc.file, line, col, error_id, message, severity))

    def fail(self, path: KeyPath, error_id: str, message: str) -> _Invalid:
        self.problem(path, error_id, message)
        return _Invalid()

    def mapping(self, value: Any, path: KeyPath, known: set[str], required: frozenset[str] | set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, "wrong-type", f"must be a mapping, not {_kind(value)}")
        for key in value:
            if key not in known:
                self.problem(path + (key,), "unknown-key",
                             f"unknown key '{key}' (known keys: {', '.join(sorted(known))})")
        for key in sorted(required - set(value)):
            self.problem(path, "missing-key", f"missing required key '{key}'")
        if any(k not in known for k in value) or required - set(value):
            raise _Invalid()
        return value

    def scalar(self, data: dict, key: str, path: KeyPath, tp: type, default: Any = None,
               check: Callable[[Any], str] | None = None) -> Any:
        if key not in data:
            return default
        value = data[key]
        if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a node named 1, a digit written as 1
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise self.fail(path + (key,), "wrong-type", f"must be {_type_word(tp)}, not {_kind(value)} {value!r}")
        if check is not None:
            why = check(value)
            if why:
                raise self.fail(path + (key,), "bad-value", why)
        return value

    def prompt(self, value: Any, path: KeyPath) -> m.Prompt:
        items = value if isinstance(value, list) else [value]
        out: list[m.PromptItem] = []
        for i, item in enumerate(items):
            where = path + (str(i),) if isinstance(value, list) else path
            if isinstance(item, str) and item.strip():
                out.append(m.Sound(item.strip()))
            elif isinstance(item, dict) and len(item) == 1 and "say" in item and isinstance(item["say"], str):
                out.append(m.Say(item["say"].strip()))
            elif isinstance(item, dict) and len(item) == 1 and "say_digits" in item \
                    and isinstance(item["say_digits"], str):
                out.append(m.SayDigits(item["say_digits"]))
            else:
                raise self.fail(where, "wrong-type", "a prompt is a sound name, {say: \"text\"}, "
                                "{say_digits: variable}, or a list of those")
        return m.Prompt(tuple(out))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _type_word(tp: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, tp.__name__)


def _positive(v: float) -> str:
    return "" if v > 0 else "must be more than 0"


def _not_negative(v: int) -> str:
    return "" if v >= 0 else "must be 0 or more"


def _language(v: str) -> str:
    return "" if _LANGUAGE.fullmatch(v) else f"'{v}' is not a language code (like en, fr, en_US)"


def _flow_name(v: str) -> str:
    # A flow's name travels in goto targets and in the dialplan's CC_RESUME ("flow/node").
    return "" if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v) and ".." not in v else \
        f"'{v}' is not a flow name (letters, digits, _ . -)"


def _voice(v: str) -> str:
    return "" if not v or (_VOICE.fullmatch(v) and ".." not in v) else \
        f"'{v}' is not an espeak-ng voice name (like en-us, fr-fr, en+f3)"


# -- regular expressions ------------------------------------------------------------------------
#
# A caller-ID `matches:` or a collect `pattern:` is run by Python's backtracking `re` while the
# controller's event loop waits. Patterns that can make it backtrack exponentially, or as a high
# power of the text's length, are refused here (`slow-pattern`):
#
# - a quantified group that contains a quantifier, or alternatives that can match at the same
#   place (`(a+)+`, `(\d+-)*`, `(a|aa)+`, `(.*x){20}`): exponential;
# - more ways to split a text of MAX_MATCH_LENGTH characters between the pattern's quantifiers and
#   alternatives than MAX_PATTERN_WAYS (`\d*\d*\d*\d*`, `a?a?a?...` twenty times): a high power.
#
# The stepper never matches more than MAX_MATCH_LENGTH characters, so the count is a bound of the
# work of one match (and a shape that slips through stays bounded too).

MAX_PATTERN = 200  # characters of a pattern
MAX_PATTERN_WAYS = 1_000_000  # about 0.1 s of backtracking at worst
_L = MAX_MATCH_LENGTH
_CAP = 10 ** 15  # counts stop growing here (the limit is far below)
_sre_parse: Any = importlib.import_module("re._parser")  # the parser `re` itself uses (3.11+)
_sre: Any = importlib.import_module("re._constants")
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT}
_OPEN = 10  # a repeated group with more than this many optional repeats counts as unbounded: (x?){30}
_ZERO_WIDTH = {_sre.AT, _sre.GROUPREF, _sre.GROUPREF_IGNORE, _sre.GROUPREF_LOC_IGNORE, _sre.GROUPREF_UNI_IGNORE}
_NESTED = ("a repeated group contains a quantifier, or alternatives that can match the same text (like (a+)+, "
           "(a|aa)* or (.*x){20}): matching can take exponential time on a text that does not match; repeat "
           "one simple thing instead, e.g. ^\\+?[0-9]+$ rather than ^(\\+?[0-9]+)+$")

Ways = list[int]  # [n0, n1, ...]: in how many ways the pattern can consume exactly i characters


class _Slow(Exception):
    pass


def _first_chars(items: Any) -> set[str] | None:
    """The characters a (parsed) pattern can start with, in lower case (a pattern may ignore case);
    None: any, too many to list, or beyond ASCII (where case rules are subtler)."""
    for op, av in items:
        if op == _sre.AT:
            continue  # ^ $ \b take no character
        if op == _sre.LITERAL:
            return {chr(av).lower()} if av < 128 else None
        if op == _sre.IN:
            out: set[str] = set()
            for item_op, item in av:
                if item_op == _sre.LITERAL and item < 128:
                    out.add(chr(item).lower())
                elif item_op == _sre.RANGE and item[1] < 128:
                    out.update(chr(c).lower() for c in range(item[0], item[1] + 1))
                else:
                    return None
            return out
        if op == _sre.SUBPATTERN and av[-1].getwidth()[0] > 0:
            return _first_chars(av[-1])
        return None
    return None  # empty: it starts with whatever follows


def _disjoint(alternatives: list) -> bool:
    """Do the alternatives of a|b|c start with different characters (and none is empty)? Then at
    most one of them can go on at any place."""
    seen: set[str] = set()
    for alt in alternatives:
        first = _first_chars(alt) if alt.getwidth()[0] > 0 else None
        if first is None or first & seen:
            return False
        seen |= first
    return True


def _times(a: Ways, b: Ways) -> Ways:
    """Ways of `a` then `b`."""
    out = [0] * (_L + 1)
    b_terms = [(j, y) for j, y in enumerate(b) if y]
    for i, x in enumerate(a):
        if x:
            for j, y in b_terms:
                if i + j > _L:
                    break
                out[i + j] += x * y
    return [v if v < _CAP else _CAP for v in out]


def _unit(width: int = 0, count: int = 1) -> Ways:
    out = [0] * (_L + 1)
    if width <= _L:
        out[width] = min(count, _CAP)
    return out


def _repeat(body: Ways, low: int, high: int) -> Ways:
    """Ways of body{low,high}."""
    high = min(high, _L + 1)  # more would consume more than _L characters (or repeat an empty match)
    out = [0] * (_L + 1)
    terms = [(i, x) for i, x in enumerate(body) if x]
    if len(terms) == 1 and terms[0][0] > 0:  # a fixed width, the usual case: \d+, a{2,5}, (ab)*
        width, count = terms[0]
        for n in range(low, high + 1):
            if width * n > _L:
                break
            out[width * n] = min(_CAP, count ** n)  # n <= _L
        return out
    power = _unit()
    for n in range(high + 1):
        if n >= low:
            out = [min(_CAP, x + y) for x, y in zip(out, power)]
        if not any(power):
            break
        power = _times(power, body)
    return out


def _ways(items: Any) -> tuple[Ways, bool]:
    """(in how many ways the parsed pattern can consume 0, 1, ... _L characters; can it match one
    text in more than one way). Raises _Slow for a repeated group that can (exponential)."""
    ways, varies = _unit(), False
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            inner, inner_varies = _ways(body)
            if high > 1 and inner_varies and (high == _sre.MAXREPEAT or high - low > _OPEN):
                raise _Slow(_NESTED)
            here, varies = _repeat(inner, low, high), varies or inner_varies or low != high
        elif op in (_sre.BRANCH, _sre.GROUPREF_EXISTS):  # a|b, (?(1)a|b)
            alts = av[1] if op == _sre.BRANCH else [a if a is not None else _sre_parse.SubPattern(av[1].state)
                                                     for a in av[1:]]
            parts = [_ways(alt) for alt in alts]
            one_way = op == _sre.BRANCH and _disjoint(alts)
            pick = max if one_way else sum
            here = [min(_CAP, pick(p[0][i] for p in parts)) for i in range(_L + 1)]
            varies = varies or not one_way or any(v for _, v in parts)
        elif op in (_sre.SUBPATTERN, _sre.ATOMIC_GROUP):
            here, inner_varies = _ways(av if op == _sre.ATOMIC_GROUP else av[-1])
            varies = varies or inner_varies
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):  # a look-around: tried whole, takes no character
            inner, inner_varies = _ways(av[-1])
            here, varies = _unit(0, sum(inner)), varies or inner_varies
        elif op in _ZERO_WIDTH:
            continue
        else:  # one character
            here = _unit(1)
        ways = _times(ways, here)
    return ways, varies


def pattern_problem(pattern: str) -> tuple[str, str] | None:
    """(error id, message) if `pattern` is not a regular expression (`bad-pattern`) or one that may
    take very long to match (`slow-pattern`); None if it is fine."""
    if len(pattern) > MAX_PATTERN:
        return "slow-pattern", f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN}"
    try:
        re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except re.error as exc:
        return "bad-pattern", f"not a valid regular expression: {exc}"
    except (RecursionError, OverflowError, ValueError) as exc:  # (((((...))))) nested too deeply
        return "bad-pattern", f"not a regular expression that can be used: {type(exc).__name__}"
    try:
        ways, _ = _ways(parsed)
    except RecursionError:
        return "slow-pattern", "the pattern is nested too deeply"
    except _Slow as exc:
        return "slow-pattern", str(exc)
    anchored = bool(parsed.data) and parsed.data[0] in ((_sre.AT, _sre.AT_BEGINNING), (_sre.AT, _sre.AT_BEGINNING_STRING))
    total = sum(ways) * (1 if anchored else _L + 1)  # re.search tries every start unless ^
    if total > MAX_PATTERN_WAYS:
        hint = "start it with ^ (it is tried at every position otherwise)" if sum(ways) <= MAX_PATTERN_WAYS \
            else "use fewer"
        return "slow-pattern", (f"too many quantifiers that can take the same characters (like \\d*\\d*\\d*\\d* or "
                                f"a?a?a?a?...): a {_L}-character text can be split between them in about "
                                f"{total:.0e} ways, and matching may try them all; {hint}")
    return None


# -- one node kind each --------------------------------------------------------------------------

def _play(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"play", "next"}, {"play", "next"})
    return m.Play(r.prompt(node["play"], p + ("play",)), r.scalar(node, "next", p, str))


def _menu(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"menu", "failure"}, {"menu", "failure"})
    q = p + ("menu",)
    d = r.mapping(node["menu"], q, {"prompt", "options", "timeout", "retries", "no_input", "invalid", "barge_in"},
                  {"prompt", "options"})
    options_raw = d["options"]
    if not isinstance(options_raw, dict) or not options_raw:
        raise r.fail(q + ("options",), "wrong-type", "must be a mapping of digits to nodes, e.g. {1: sales}")
    options = {}
    for digit, target in options_raw.items():
        if digit not in DIGITS:
            r.problem(q + ("options", digit), "bad-digit", f"'{digit}' is not one key of the keypad (0-9, *, #)")
            continue
        if not isinstance(target, (str, int)):
            r.problem(q + ("options", digit), "wrong-type", "must be the name of a node")
            continue
        options[digit] = str(target)
    return m.Menu(prompt=r.prompt(d["prompt"], q + ("prompt",)), options=options,
                  failure=r.scalar(node, "failure", p, str),
                  timeout=r.scalar(d, "timeout", q, float, 5.0, _positive),
                  retries=r.scalar(d, "retries", q, int, 2, _not_negative),
                  no_input=r.prompt(d["no_input"], q + ("no_input",)) if "no_input" in d else m.Prompt(),
                  invalid=r.prompt(d["invalid"], q + ("invalid",)) if "invalid" in d else m.Prompt(),
                  barge_in=r.scalar(d, "barge_in", q, bool, True))


def _collect(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"collect", "next", "failure"}, {"collect", "next", "failure"})
    q = p + ("collect",)
    d = r.mapping(node["collect"], q, {"prompt", "variable", "min_digits", "max_digits", "finish_on", "pattern",
                                       "timeout", "retries", "invalid"}, {"prompt", "variable"})
    variable = r.scalar(d, "variable", q, str)
    if not _NAME.match(variable):
        raise r.fail(q + ("variable",), "bad-value", f"'{variable}' is not a variable name (letters, digits, _)")
    low = r.scalar(d, "min_digits", q, int, 1, _positive)
    high = r.scalar(d, "max_digits", q, int, 10, _positive)
    if low > high:
        raise r.fail(q + ("min_digits",), "bad-range", f"min_digits {low} is more than max_digits {high}")
    finish_on = r.scalar(d, "finish_on", q, str, "#")
    if finish_on not in ("", "#", "*"):
        raise r.fail(q + ("finish_on",), "bad-digit", "must be '#', '*' or '' (no end key)")
    pattern = r.scalar(d, "pattern", q, str, "")
    if pattern and (bad := pattern_problem(pattern)):
        raise r.fail(q + ("pattern",), *bad)
    return m.Collect(prompt=r.prompt(d["prompt"], q + ("prompt",)), variable=variable,
                     next=r.scalar(node, "next", p, str), failure=r.scalar(node, "failure", p, str),
                     min_digits=low, max_digits=high, finish_on=finish_on, pattern=pattern,
                     timeout=r.scalar(d, "timeout", q, float, 5.0, _positive),
                     retries=r.scalar(d, "retries", q, int, 2, _not_negative),
                     invalid=r.prompt(d["invalid"], q + ("invalid",)) if "invalid" in d else m.Prompt())


def _hours(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"hours", "open", "closed"}, {"hours", "open", "closed"})
    q = p + ("hours",)
    if not isinstance(node["hours"], dict):
        raise r.fail(q, "wrong-type", "must be a mapping: timezone, weekly, holidays (or always: true)")
    try:
        schedule = parse_schedule(node["hours"])
    except ScheduleError as exc:
        raise r.fail(q + exc.key, exc.error_id, exc.message) from None
    return m.Hours(schedule, r.scalar(node, "open", p, str), r.scalar(node, "closed", p, str))


def _branch(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"branch", "else"}, {"branch", "else"})
    q = p + ("branch",)
    if not isinstance(node["branch"], list) or not node["branch"]:
        raise r.fail(q, "wrong-type", "must be a list of rules: - {if: caller_id, prefix: '555', goto: vip}")
    rules = []
    for i, raw in enumerate(node["branch"]):
        rp = q + (str(i),)
        d = r.mapping(raw, rp, {"if", "goto", *TESTS}, {"if", "goto"})
        tests = [t for t in TESTS if t in d]
        if len(tests) != 1:
            raise r.fail(rp, "missing-key" if not tests else "bad-value",
                         f"a rule needs exactly one test of: {', '.join(TESTS)}")
        test = tests[0]
        value = d[test]
        if test == "in":
            if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
                raise r.fail(rp + ("in",), "wrong-type", "must be a list of values")
            value = tuple(str(v) for v in value)
        elif isinstance(value, bool):  # `equals: true` (customer.known)
            value = "true" if value else "false"
        else:
            value = str(r.scalar(d, test, rp, str))
            if test == "matches" and (bad := pattern_problem(value)):
                raise r.fail(rp + (test,), *bad)
        subject = r.scalar(d, "if", rp, str)
        if subject.startswith("customer.") and subject not in CUSTOMER_FACTS:
            raise r.fail(rp + ("if",), "bad-value", f"no customer fact '{subject}' (known: {', '.join(CUSTOMER_FACTS)})")
        if test == "above" and not re.fullmatch(r"-?[0-9]{1,9}", value):
            raise r.fail(rp + ("above",), "bad-value", f"'above' needs a whole number, not {value!r}")
        rules.append(m.Rule(subject, test, value, r.scalar(d, "goto", rp, str)))
    return m.Branch(tuple(rules), r.scalar(node, "else", p, str))


def _queue(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"queue", "next"}, {"queue"})
    q = p + ("queue",)
    if isinstance(node["queue"], str):
        return m.Queue(node["queue"], next=r.scalar(node, "next", p, str, ""))
    d = r.mapping(node["queue"], q, {"name", "priority", "max_wait"}, {"name"})
    max_wait = r.scalar(d, "max_wait", q, int, 0, _not_negative)
    nxt = r.scalar(node, "next", p, str, "")
    if max_wait and not nxt:
        raise r.fail(p, "missing-exit", "max_wait needs 'next': where callers go when they waited that long")
    return m.Queue(r.scalar(d, "name", q, str), r.scalar(d, "priority", q, int, 0, _not_negative), max_wait, nxt)


def _voicemail(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"voicemail", "next"}, {"voicemail"})
    q = p + ("voicemail",)
    d = r.mapping(node["voicemail"] or {}, q, {"greeting", "max_length", "beep", "silence", "min_length"})
    max_length = r.scalar(d, "max_length", q, int, 120, _positive)
    return m.Voicemail(greeting=r.prompt(d["greeting"], q + ("greeting",)) if "greeting" in d else m.Prompt(),
                       max_length=max_length, beep=r.scalar(d, "beep", q, bool, True),
                       next=r.scalar(node, "next", p, str, ""),
                       silence=r.scalar(d, "silence", q, int, 5, lambda v: "" if 0 <= v <= 60 else
                                        "must be 0 (off) to 60 seconds"),
                       min_length=r.scalar(d, "min_length", q, float, 1.0, lambda v: "" if 0 <= v <= max_length else
                                           f"must be 0 to max_length ({max_length}) seconds"))


def _transfer(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"transfer", "failure"}, {"transfer"})
    q = p + ("transfer",)
    d = r.mapping(node["transfer"], q, {"agent", "extension", "number", "timeout"})
    kinds = [k for k in ("agent", "extension", "number") if k in d]
    if len(kinds) != 1:
        raise r.fail(q, "missing-key" if not kinds else "bad-value",
                     "a transfer goes to exactly one of: agent, extension, number")
    target = r.scalar(d, kinds[0], q, str)
    if kinds[0] != "agent" and not re.fullmatch(r"\+?[0-9]{2,20}", target):
        raise r.fail(q + (kinds[0],), "bad-value", f"'{target}' is not a phone number or extension (digits)")
    return m.Transfer(kinds[0], target, r.scalar(d, "timeout", q, int, 30, _positive),
                      r.scalar(node, "failure", p, str, ""))


def _goto(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"goto"}, {"goto"})
    return m.Goto(r.scalar(node, "goto", p, str))


def _hangup(r: _Reader, node: dict, p: KeyPath) -> m.Step:
    r.mapping(node, p, {"hangup"}, {"hangup"})
    value = node["hangup"]
    if value in (None, True, {}):
        return m.Hangup()
    return m.Hangup(r.prompt(value, p + ("hangup",)))


READERS: dict[str, Callable[[_Reader, dict, KeyPath], m.Step]] = {
    "play": _play, "menu": _menu, "collect": _collect, "hours": _hours, "branch": _branch, "queue": _queue,
    "voicemail": _voicemail, "transfer": _transfer, "goto": _goto, "hangup": _hangup}


def _duplicate_word(path: KeyPath) -> str:
    if path == ("nodes",):
        return "node"
    return "digit" if path and path[-1] == "options" else "key"


MAX_NESTING = 50  # [ and { inside each other; a flow needs a handful


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where [ or { brackets first nest more than MAX_NESTING deep (outside quotes and comments),
    if they do: such a file is refused before the YAML reader, whose time grows with the square
    of the depth and which recurses until Python's limit. (A rough scan: what it misses, the
    reader's RecursionError still catches.)"""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return None
    depth, line, line_start, quote, comment, escaped, previous = 0, 1, 0, "", False, False, "\n"
    for i, c in enumerate(text):
        if c == "\n":
            line, line_start, comment = line + 1, i + 1, False
        elif comment:
            pass
        elif quote:
            if escaped:
                escaped = False
            elif quote == '"' and c == "\\":
                escaped = True
            elif c == quote:
                if quote == "'" and text[i + 1:i + 2] == "'":  # 'it''s'
                    escaped = True
                else:
                    quote = ""
        elif c == "#" and previous in " \t\n":
            comment = True
        elif c in "\"'" and previous in " \t\n[{,:":
            quote = c
        elif c in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line, i - line_start + 1
        elif c in "]}":
            depth = max(0, depth - 1)
        previous = c
    return None


def parse_flow(text: str, file: str, default_name: str) -> tuple[m.Flow | None, list[Problem]]:
    """One flow file → (flow or None, problems). A flow with errors in some nodes is still
    returned (without those nodes) so the graph checks can run; it is never used for calls."""
    if deep := _too_deep(text):
        return None, [Problem(file, *deep, "too-large", f"brackets nested more than {MAX_NESTING} deep")]
    try:
        data, loc = located_yaml.load(text, file, _duplicate_word)
    except YamlProblem as p:
        return None, [Problem(p.file, p.line, p.column, p.error_id, p.message)]
    except RecursionError:  # [[[[[[...]]]]]]: the YAML composer is recursive
        return None, [Problem(file, 1, 1, "too-large", "the document is nested too deeply")]
    except Exception as exc:  # a reader's bug must be a located problem, not a traceback
        return None, [Problem(file, 1, 1, "yaml-syntax", f"cannot read this YAML: {type(exc).__name__}: {exc}")]
    r = _Reader(loc)
    try:
        top = r.mapping(data, (), {"name", "language", "voice", "entry", "nodes"}, {"entry", "nodes"})
        name = r.scalar(top, "name", (), str, default_name, _flow_name)
        language = r.scalar(top, "language", (), str, "en", _language)
        voice = r.scalar(top, "voice", (), str, "", _voice)
        entry = r.scalar(top, "entry", (), str)
        if not isinstance(top["nodes"], dict) or not top["nodes"]:
            raise r.fail(("nodes",), "wrong-type", "must be a mapping of node names to nodes")
    except _Invalid:
        return None, r.problems
    nodes = {}
    broken = set()
    for node_name, raw in top["nodes"].items():
        broken.add(node_name)  # until it loads
        where: KeyPath = ("nodes", node_name)
        if not isinstance(raw, dict):
            r.problem(where, "wrong-type", f"node '{node_name}' must be a mapping with one kind key "
                      f"({', '.join(READERS)})")
            continue
        kinds = [k for k in raw if k in READERS]
        if len(kinds) != 1:
            r.problem(where, "unknown-kind", f"node '{node_name}' needs exactly one kind key of: {', '.join(READERS)}"
                      + (f" (has {', '.join(kinds)})" if kinds else ""))
            continue
        try:
            step = READERS[kinds[0]](r, raw, where)
        except _Invalid:
            continue
        except Exception as exc:  # a bug here must be one located problem, not a traceback
            r.problem(where, "bad-value", f"node '{node_name}' could not be read: {type(exc).__name__}: {exc}")
            continue
        line, col = loc.at(where)
        nodes[node_name] = m.Node(node_name, step, line, col)
        broken.discard(node_name)
    line, _ = loc.at(("entry",))
    flow = m.Flow(name=name, file=file, entry=entry, nodes=nodes, language=language, voice=voice, line=line,
                  broken_nodes=frozenset(broken), positions=loc.marks)
    return flow, r.problems


def read_flow_file(path: Path) -> tuple[m.Flow | None, list[Problem]]:
    try:
        text = located_yaml.read_text(path)
    except YamlProblem as p:
        return None, [Problem(p.file, p.line, p.column, p.error_id, p.message)]
    return parse_flow(text, str(path), path.stem)
