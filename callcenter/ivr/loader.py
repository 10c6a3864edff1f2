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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from callcenter import located_yaml
from callcenter.ivr import model as m
from callcenter.ivr.schedule import ScheduleError, parse_schedule
from callcenter.located_yaml import KeyPath, Located, YamlProblem

DIGITS = set("0123456789*#")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
TESTS = ("equals", "prefix", "matches", "in")
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
        where = f"{self.file}:{self.line}:{self.column}"
        if self.severity == "warning":
            return f"{where}: warning: {self.error_id}: {self.message}"
        return f"{where}: {self.error_id}: {self.message}"


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
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail(q + ("pattern",), "bad-pattern", f"not a valid regular expression: {exc}") from None
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
        else:
            value = str(r.scalar(d, test, rp, str))
            if test == "matches":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise r.fail(rp + (test,), "bad-pattern", f"not a valid regular expression: {exc}") from None
        subject = r.scalar(d, "if", rp, str)
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
    d = r.mapping(node["voicemail"] or {}, q, {"greeting", "max_length", "beep"})
    return m.Voicemail(greeting=r.prompt(d["greeting"], q + ("greeting",)) if "greeting" in d else m.Prompt(),
                       max_length=r.scalar(d, "max_length", q, int, 120, _positive),
                       beep=r.scalar(d, "beep", q, bool, True), next=r.scalar(node, "next", p, str, ""))


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


def parse_flow(text: str, file: str, default_name: str) -> tuple[m.Flow | None, list[Problem]]:
    """One flow file → (flow or None, problems). A flow with errors in some nodes is still
    returned (without those nodes) so the graph checks can run; it is never used for calls."""
    try:
        data, loc = located_yaml.load(text, file, _duplicate_word)
    except YamlProblem as p:
        return None, [Problem(p.file, p.line, p.column, p.error_id, p.message)]
    r = _Reader(loc)
    try:
        top = r.mapping(data, (), {"name", "language", "voice", "entry", "nodes"}, {"entry", "nodes"})
        name = r.scalar(top, "name", (), str, default_name)
        language = r.scalar(top, "language", (), str, "en")
        voice = r.scalar(top, "voice", (), str, "")
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
