"""Hostile flows (issue 8): what an admin's typo or a bad actor's file must not do to the controller.

Slow regular expressions (refused by shape, and never run on more than MAX_MATCH_LENGTH
characters), loops without input through `goto`, sound names that are paths, huge `say:` texts,
files that are not text, and any surprise inside the checks: each is a located problem that
refuses the reload and keeps the running version, never a traceback or a frozen event loop.
The fixtures of tests/fixtures/flows/broken/ pin the locations; this file pins the behaviour.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.core import located_yaml
from callcenter.ivr import loader
from callcenter.ivr import model as m
from callcenter.ivr.flows import FlowLibrary, load_flows
from callcenter.ivr.loader import Problem, parse_flow, pattern_problem, read_flow_file
from callcenter.ivr.model import MAX_MATCH_LENGTH
from callcenter.ivr.prompts import PromptSynth, TtsFailed, sound_finder
from callcenter.ivr.stepper import FlowRun, Pressed, ToQueue, WaitDigit
from callcenter.ivr.validate import MAX_SAY_CHARS, Context, sound_name_problem, validate
from tests.support.flows import CTX, ERROR_IDS, OTHER_IDS, WARNING_IDS


NOW = 1_800_000_000.0


@contextlib.contextmanager
def at_most(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the test run) if the block takes longer: Python's regex engine
    checks for signals while it backtracks."""
    class TookTooLong(Exception):
        pass

    def alarm(*_: object) -> None:
        raise TookTooLong(f"more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def ids(problems: list[Problem]) -> list[str]:
    return [p.error_id for p in problems]


# -- 1. regular expressions ----------------------------------------------------------------------

SLOW = [
    r"^(\+?[0-9]+)+$",  # the one of the issue
    r"^(\d+)*$", r"(a*)*b", r"(x+x+)+y", r"^(\d+-)+$", r"(.*a){20}", r"(?:[0-9]{1,3})+#",  # nested quantifiers
    r"(a|aa)+$", r"^([0-9]|[0-9][0-9])+$", r"(a|a?)+", r"(?:\d|\d\d)*x",  # overlapping alternatives, repeated
    r"\d*\d*\d*\d*\d*x", r"[0-9]*[0-9]*[0-9]*[0-9]{0,10}x",  # many quantifiers on the same characters
    "a?" * 25 + "a" * 25, r"(?:a?){30}a{30}", r"(.*a){5}", r"(?=(a+)+b)",  # ... and in look-aheads
    "a" * 201,  # longer than MAX_PATTERN
]
FINE = [
    r"^9", r"^[0-9]{4,10}$", r"^\+?[0-9]+$", r"^\+3361", r"^(\+33|0033|0)[1-9]([ .-]?[0-9]{2}){4}$",
    r"^\+?1?\d{10}$", r"^\d{3,4}-\d{4,8}$", r"^(?:\+33|0)[67]\d{8}$", r"555", r"(ab|cd)+$", r"^(\d{2}){1,5}$",
    r"^\+?\d+[- ]?\d+[- ]?\d+$", r"(\d{1,3}\.){3}\d{1,3}", r"^.*123.*$", r"^(?:1|2|3)+$", r"^9[0-9]{3}$",
]
ADVERSARIAL = ["1" * MAX_MATCH_LENGTH, "1" * (MAX_MATCH_LENGTH - 1) + "x", "+" + "1" * (MAX_MATCH_LENGTH - 1),
               "a" * (MAX_MATCH_LENGTH - 1) + "!", "1-" * (MAX_MATCH_LENGTH // 2), "ab" * (MAX_MATCH_LENGTH // 2)]


@pytest.mark.parametrize("pattern", SLOW)
def test_patterns_that_backtrack_badly_are_refused(pattern):
    problem = pattern_problem(pattern)
    assert problem is not None and problem[0] == "slow-pattern", problem


@pytest.mark.parametrize("pattern", FINE)
def test_ordinary_patterns_are_fine_and_fast_on_any_caller_id(pattern):
    assert pattern_problem(pattern) is None
    with at_most(0.5):
        for text in ADVERSARIAL:
            loader.re.search(pattern, text)


def test_a_broken_pattern_is_still_bad_pattern():
    assert pattern_problem("^(+33")[0] == "bad-pattern"  # type: ignore[index]
    assert pattern_problem("(" * 500 + ")" * 500)[0] in ("bad-pattern", "slow-pattern")  # type: ignore[index]


def test_the_check_itself_is_quick():
    with at_most(1.0):
        for pattern in SLOW + FINE + [".*" * 100, "(?:(?:(?:a?b?){3}){3}){3}"]:
            pattern_problem(pattern)


_ATOM = st.sampled_from(["a", "b", "1", r"\d", ".", "[ab]", "[0-9]", r"\+", "-", "[^x]", "(?=a)", "(b)"])
_QUANT = st.sampled_from(["", "?", "*", "+", "{0,3}", "{2}", "{1,5}", "*?", "{0,20}"])


@st.composite
def patterns(draw: st.DrawFn, depth: int = 0) -> str:
    out = ""
    for _ in range(draw(st.integers(1, 4))):
        if depth < 3 and draw(st.booleans()) and draw(st.booleans()):
            inner = draw(patterns(depth + 1))
            if draw(st.booleans()):
                inner += "|" + draw(patterns(depth + 1))
            atom = f"(?:{inner})"
        else:
            atom = draw(_ATOM)
        out += atom + draw(_QUANT)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns(), st.booleans())
def test_whatever_the_check_accepts_matches_quickly(pattern, anchored):
    """The check is a bound, not a list of known shapes: random patterns it accepts run fast on
    texts made to make them backtrack."""
    pattern = "^" + pattern if anchored else pattern
    try:
        loader.re.compile(pattern)
    except loader.re.error:
        return
    if pattern_problem(pattern) is None:
        with at_most(0.5):
            for text in ADVERSARIAL + ["b" * MAX_MATCH_LENGTH, "aab" * (MAX_MATCH_LENGTH // 3)]:
                loader.re.search(pattern, text)


BRANCH_FLOW = """\
    name: b
    entry: route
    nodes:
      route:
        branch:
          - {if: caller_id, matches: "^\\\\+?[0-9]+$", goto: vip}
          - {if: caller_id, prefix: "+33", goto: vip}
        else: support
      vip:
        queue: {name: support, priority: 9}
      support:
        queue: support
"""


def branch_run(caller_id: str, flow_text: str = BRANCH_FLOW) -> FlowRun:
    flow, problems = parse_flow(textwrap.dedent(flow_text), "b.yaml", "b")
    assert flow is not None and problems == [], [str(p) for p in problems]
    return FlowRun(m.FlowSet({flow.name: flow}), flow.name, caller_id=caller_id)


def test_a_caller_id_longer_than_the_limit_matches_no_rule():
    assert branch_run("+" + "3" * (MAX_MATCH_LENGTH - 1)).start(NOW) == ToQueue("support", 9, 0, "")
    assert branch_run("+" + "3" * MAX_MATCH_LENGTH).start(NOW) == ToQueue("support", 0, 0, "")  # else


def test_a_slow_pattern_that_slipped_through_is_not_run_on_a_long_caller_id():
    """A flow set made without the validator: the length limit still keeps the step instant."""
    rule = m.Rule("caller_id", "matches", r"^(\d+)+$", "vip")
    flow = m.Flow("b", "b.yaml", "route", {
        "route": m.Node("route", m.Branch((rule,), "support")),
        "vip": m.Node("vip", m.Queue("support", 9)), "support": m.Node("support", m.Queue("support"))})
    run = FlowRun(m.FlowSet({"b": flow}), "b", caller_id="1" * 5000 + "x")
    with at_most(1.0):
        assert run.start(NOW) == ToQueue("support", 0, 0, "")


def test_collected_digits_longer_than_the_limit_do_not_match_the_pattern():
    text = """\
        name: c
        entry: ask
        nodes:
          ask:
            collect: {prompt: beep, variable: code, min_digits: 1, max_digits: 80, pattern: "^[0-9]+$", retries: 0}
            next: ok
            failure: denied
          ok:
            queue: sales
          denied:
            queue: support
    """
    for length, expected in ((MAX_MATCH_LENGTH, "sales"), (MAX_MATCH_LENGTH + 1, "support")):
        flow, problems = parse_flow(textwrap.dedent(text), "c.yaml", "c")
        assert flow is not None and problems == []
        run = FlowRun(m.FlowSet({"c": flow}), "c")
        action = run.start(NOW)
        for _ in range(length):
            action = run.send(Pressed("1"), NOW)
        assert isinstance(action, WaitDigit)
        assert run.send(Pressed("#"), NOW) == ToQueue(expected, 0, 0, "")


# -- 2. loops without input through goto ---------------------------------------------------------

def test_a_loop_through_goto_that_waits_for_a_key_is_fine(tmp_path):
    a = write(tmp_path, "a.yaml", """\
        name: a
        entry: menu
        nodes:
          menu:
            menu: {prompt: beep, options: {1: to_b}}
            failure: bye
          to_b:
            goto: b
          bye:
            hangup: ~
    """)
    b = write(tmp_path, "b.yaml", "name: b\nentry: hello\nnodes:\n  hello:\n    play: beep\n    next: back\n"
                                  "  back:\n    goto: a\n")
    assert load_flows([a, b], CTX).errors == []


def test_a_loop_through_three_flows_is_reported_once_where_it_closes(tmp_path):
    files = [write(tmp_path, f"{name}.yaml", f"name: {name}\nentry: say\nnodes:\n  say:\n    play: beep\n"
                   f"    next: go\n  go:\n    goto: {target}\n")
             for name, target in (("a", "b"), ("b", "c"), ("c", "a"))]
    (problem,) = load_flows(files, CTX).errors
    assert (Path(problem.file).name, problem.error_id, problem.line) == ("c.yaml", "input-free-loop", 7)
    assert "a/say → a/go → b/say → b/go → c/say → c/go → a/say" in problem.message


def test_a_goto_to_itself_from_the_entry(tmp_path):
    path = write(tmp_path, "spin.yaml", "name: spin\nentry: again\nnodes:\n  again:\n    goto: spin\n")
    (problem,) = load_flows([path], CTX).errors
    assert (problem.error_id, problem.line, problem.column) == ("input-free-loop", 4, 3)


def test_a_goto_to_a_flow_known_besides_is_not_followed(tmp_path):
    path = write(tmp_path, "a.yaml", "name: a\nentry: go\nnodes:\n  go:\n    goto: elsewhere\n")
    assert load_flows([path], Context(**{**CTX.__dict__, "other_flows": frozenset({"elsewhere"})})).errors == []


def test_the_loop_checks_take_no_recursion(tmp_path):
    """10,000 nodes in a row (the recursive search of before hit Python's recursion limit)."""
    nodes = {f"n{i}": m.Node(f"n{i}", m.Play(m.Prompt(), f"n{i + 1}")) for i in range(10_000)}
    nodes["n10000"] = m.Node("n10000", m.Goto("long"))
    flow = m.Flow("long", "long.yaml", "n0", nodes)
    problems = validate([flow], Context(sound_exists=None))
    assert ids(problems) == ["input-free-loop"]


# -- 3. sound names, and surprises inside the checks ---------------------------------------------

@pytest.mark.parametrize("name", ["hello-world", "digits/1", "en/vm-goodbye", "silence/1", "custom/menu_v2.1"])
def test_sound_names(name):
    assert sound_name_problem(name) == ""


@pytest.mark.parametrize("name", ["../../etc/passwd", "digits/../../x", "/etc/passwd", "a//b", "beep x", "a\x00b",
                                  "./beep", "x" * 201, "beep;hangup", "digits/"])
def test_paths_and_odd_characters_are_not_sound_names(name):
    assert sound_name_problem(name) != ""


def debian_like_root(tmp_path: Path) -> tuple[Path, str]:
    """A sysroot whose sounds/en is an absolute link, as on Debian (what made relative_to fail)."""
    data_dir = "/usr/share/asterisk"
    sounds = tmp_path / "root" / data_dir.lstrip("/") / "sounds"
    (sounds / "en_US_f_Allison").mkdir(parents=True)
    (sounds / "en_US_f_Allison" / "beep.gsm").write_bytes(b"")
    os.symlink(f"{data_dir}/sounds/en_US_f_Allison", sounds / "en")
    return tmp_path / "root", data_dir


def test_a_path_as_a_sound_with_a_real_sound_finder_is_unknown_sound_not_a_traceback(tmp_path):
    root, data_dir = debian_like_root(tmp_path)
    ctx = Context(**{**CTX.__dict__, "sound_exists": sound_finder(root, data_dir)})
    path = write(tmp_path, "f.yaml", """\
        entry: a
        nodes:
          a:
            play: [beep, ../../../../../../../etc/passwd, "x%s"]
            next: b
          b:
            queue: support
    """ % ("y" * 190))
    assert ids(load_flows([path], ctx).errors) == ["unknown-sound", "unknown-sound"]


def test_the_sound_finder_itself_never_raises(tmp_path):
    root, data_dir = debian_like_root(tmp_path)
    exists = sound_finder(root, data_dir)
    assert exists("beep", "en")
    for name in ("../../../../../../../etc/passwd", "a\x00b", "x" * 5000, "/" + "../" * 30 + "etc/passwd"):
        assert exists(name, "en") is False
    assert exists("beep", "../../../../../../..") is False


def test_an_exception_while_checking_a_node_is_a_located_bad_value(tmp_path):
    def broken_finder(name: str, language: str) -> bool:
        raise RuntimeError("disk on fire")

    path = write(tmp_path, "f.yaml", """\
        entry: a
        nodes:
          a:
            play: beep
            next: b
          b:
            queue: billing
    """)
    errors = load_flows([path], Context(**{**CTX.__dict__, "sound_exists": broken_finder})).errors
    assert [(p.error_id, p.line, p.column) for p in errors] == [("bad-value", 3, 3), ("unknown-queue", 7, 5)]
    assert "RuntimeError: disk on fire" in errors[0].message


def test_an_exception_while_reading_a_node_is_a_located_bad_value(tmp_path, monkeypatch):
    def broken_reader(*_: object) -> m.Step:
        raise KeyError("surprise")

    monkeypatch.setitem(loader.READERS, "play", broken_reader)
    path = write(tmp_path, "f.yaml", "entry: a\nnodes:\n  a:\n    play: beep\n    next: b\n  b:\n    queue: support\n")
    flow, problems = read_flow_file(path)
    assert flow is not None and [(p.error_id, p.line, p.column) for p in problems] == [("bad-value", 3, 3)]


def test_a_problem_prints_on_one_line_whatever_the_file_holds():
    _, problems = parse_flow('entry: a\nnodes:\n  a:\n    queue: support\n    "x\\ny: z\\u2028": 1\n', "f.yaml", "f")
    assert ids(problems) == ["unknown-key"]
    assert "\n" not in str(problems[0]) and "\u2028" not in str(problems[0])
    assert len(str(Problem("f.yaml", 1, 1, "bad-value", "x" * 100_000))) < 600


# -- 4. say: text ---------------------------------------------------------------------------------

def say_flow(tmp_path: Path, text: str) -> Path:
    return write(tmp_path, "say.yaml", f'entry: a\nnodes:\n  a:\n    play: {{say: "{text}"}}\n    next: b\n'
                                       "  b:\n    queue: support\n")


def test_say_text_up_to_the_limit_is_fine(tmp_path):
    assert load_flows([say_flow(tmp_path, "a" * MAX_SAY_CHARS)], CTX).errors == []
    assert ids(load_flows([say_flow(tmp_path, "a" * (MAX_SAY_CHARS + 1))], CTX).errors) == ["bad-value"]


class RecordingRun:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bytes | None]] = []

    def __call__(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        self.calls.append((list(args), kwargs.get("input")))  # type: ignore[arg-type]
        Path(args[args.index("-w") + 1] if "-w" in args else args[-1]).write_bytes(b"RIFF")
        return subprocess.CompletedProcess(args, 0, b"", b"")


@pytest.mark.parametrize("text", ["--help", "-w /tmp/elsewhere.wav Hello", "x" * 300_000])
def test_say_text_goes_to_espeak_on_stdin_never_in_argv(tmp_path, monkeypatch, text):
    run = RecordingRun()
    monkeypatch.setattr("callcenter.ivr.prompts.shutil.which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr("callcenter.ivr.prompts.subprocess.run", run)
    synth = PromptSynth(tmp_path / "tts", lambda p: str(p))
    assert synth.file_for(text, "en").startswith(str(tmp_path / "tts"))
    (espeak, given_text), _sox = run.calls
    assert espeak[0] == "espeak-ng" and "--stdin" in espeak and given_text == text.encode()
    assert all(text not in arg for arg in espeak)


@pytest.mark.skipif(not all(map(__import__("shutil").which, ("espeak-ng", "sox"))), reason="no espeak-ng/sox")
def test_a_text_that_looks_like_options_is_said_for_real(tmp_path):
    synth = PromptSynth(tmp_path / "tts", lambda p: str(p))
    name = synth.file_for("--help -w elsewhere.wav", "en")
    assert Path(name + ".wav").read_bytes()[:4] == b"RIFF" and Path(name + ".wav").stat().st_size > 1000
    assert not (tmp_path / "elsewhere.wav").exists() and not Path("elsewhere.wav").exists()


@pytest.mark.parametrize("failure", [OSError(7, "Argument list too long"),
                                     subprocess.TimeoutExpired(["espeak-ng"], 60),
                                     subprocess.CalledProcessError(1, ["espeak-ng"], b"", b"line one\nline two")])
def test_any_synthesis_failure_is_tts_failed_in_one_line(tmp_path, monkeypatch, failure):
    def run(*_: object, **__: object) -> None:
        raise failure

    monkeypatch.setattr("callcenter.ivr.prompts.shutil.which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr("callcenter.ivr.prompts.subprocess.run", run)
    with pytest.raises(TtsFailed) as info:
        PromptSynth(tmp_path / "tts", lambda p: str(p)).file_for("Hello.", "en")
    assert info.value.error_id == "tts-failed" and "\n" not in str(info.value)
    assert list((tmp_path / "tts").iterdir()) == []  # no half-made file left


class FailingSynth:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def file_for(self, text: str, language: str, voice: str = "") -> str:
        if "closed" in text:
            raise self.failure
        return "tts/ok"


GOOD = """\
    name: t
    entry: welcome
    nodes:
      welcome:
        play: {say: "Hello."}
        next: support
      support:
        queue: support
"""


@pytest.mark.parametrize("failure", [TtsFailed("We are closed.", "espeak-ng: no voice 'xx'"),
                                     PermissionError(13, "Permission denied"), RuntimeError("bug")])
def test_a_tts_failure_refuses_the_reload_and_is_listed(tmp_path, failure):
    library = FlowLibrary(tmp_path, CTX, synth=FailingSynth(failure))  # type: ignore[arg-type]
    write(tmp_path, "t.yaml", GOOD)
    assert library.reload()
    running = library.current
    write(tmp_path, "t.yaml", GOOD.replace('"Hello."', '"We are closed."'))
    assert not library.reload()
    assert library.current is running
    assert [(e.error_id, e.line, e.column) for e in library.errors] == [("tts-failed", 5, 5)]
    (shown,) = library.describe()["errors"]
    assert shown.startswith(f"{tmp_path / 't.yaml'}:5:5: tts-failed: could not turn 'We are closed.' into audio")


def test_a_reload_that_fails_unexpectedly_keeps_the_running_version_and_says_so(tmp_path, monkeypatch):
    library = FlowLibrary(tmp_path, CTX)
    write(tmp_path, "t.yaml", GOOD)
    assert library.reload()
    running = library.current

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("callcenter.ivr.flows.load_flows", broken)
    assert not library.reload()
    assert library.current is running and ids(library.errors) == ["bad-value"]
    assert "RuntimeError: bug" in library.describe()["errors"][0]


# -- 5. files that are not flows ------------------------------------------------------------------

GOOD_BYTES = textwrap.dedent(GOOD).encode()
HOSTILE_FILES = {
    "nul": (GOOD_BYTES.replace(b"Hello.", b"Hel\x00lo."), "bad-encoding"),
    "latin-1": (GOOD_BYTES.replace(b"Hello.", "Hélas.".encode("latin-1")), "bad-encoding"),
    "utf-16": (GOOD.encode("utf-16"), "bad-encoding"),
    "over-1-mb": (GOOD_BYTES + b"#" * located_yaml.MAX_BYTES, "too-large"),
    "alias-bomb": (("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n" for p, k in zip("abcdefg", "bcdefgh"))).encode(), "too-large"),
    "nested-brackets": (b"entry: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "too-large"),
    "nested-blocks": (b"entry:\n  " + b"- " * 5000 + b"x\n", "too-large"),  # the reader's RecursionError
    "binary": (bytes(range(256)) * 4, "bad-encoding"),
}


@pytest.mark.parametrize("kind", HOSTILE_FILES)
def test_a_hostile_file_is_a_located_problem_and_the_running_version_stays(tmp_path, kind):
    content, error_id = HOSTILE_FILES[kind]
    library = FlowLibrary(tmp_path, CTX)
    write(tmp_path, "t.yaml", GOOD)
    assert library.reload()
    running = library.current

    (tmp_path / "t.yaml").write_bytes(content)
    flow, problems = read_flow_file(tmp_path / "t.yaml")
    assert flow is None and ids(problems) == [error_id]
    assert not library.reload()
    assert library.current is running and running.version == 1
    assert ids(library.errors) == [error_id]
    (shown,) = library.describe()["errors"]
    assert shown.startswith(f"{tmp_path / 't.yaml'}:") and f": {error_id}: " in shown and "\n" not in shown

    write(tmp_path, "t.yaml", GOOD)  # fixed: it loads again
    assert library.reload() and library.current.version == 2 and library.errors == []


# -- the fuzz ----------------------------------------------------------------------------------

KNOWN_IDS = ERROR_IDS | WARNING_IDS | OTHER_IDS | {"unreadable"}
NODE_NAMES = ["a", "b", "c", "1"]
KINDS = [  # a node kind line (right or wrong), and the exits that kind needs
    ("    play: beep", "next"), ("    play: ../../etc/passwd", "next"), ('    play: {say: "Hello."}', "next"),
    ("    play: [beep, {say_digits: v}]", "next"), ("    play: {say: ''}", "next"), ("    goto: fuzz", ""),
    ("    goto: other", ""), ("    queue: support", ""), ("    queue: billing", ""),
    ("    queue: {name: sales, max_wait: 10}", "next"), ("    queue: {name: sales, priority: -1}", ""),
    ("    hangup: ~", ""), ("    hangup: beep", ""), ("    menu: {prompt: beep, options: {1: a, '#': b}}", "failure"),
    ("    menu: {prompt: beep, options: {x: a}}", "failure"),
    ("    menu: {prompt: beep, options: {1: a}, no_input: /etc/x, timeout: 0}", "failure"),
    ("    collect: {prompt: beep, variable: v, pattern: '^[0-9]+$'}", "next failure"),
    ("    collect: {prompt: beep, variable: v}", "next failure"),
    ("    collect: {prompt: beep, variable: v, pattern: '(a+)+'}", "next failure"),
    ("    collect: {prompt: beep, variable: 1v}", "next failure"),
    ("    collect: {prompt: beep, variable: v, min_digits: 5, max_digits: 2, finish_on: x}", "next failure"),
    ("    branch: [{if: caller_id, matches: '^(\\d+)+$', goto: a}]", "else"),
    ("    branch: [{if: v, in: [1, 2], goto: b}, {if: caller_id, matches: '^\\+?[0-9]+$', goto: c}]", "else"),
    ("    branch: [{if: did, prefix: 0612, goto: c}, {if: v, equals: x, matches: y, goto: a}]", "else"),
    ("    branch: []", "else"), ("    branch: [{if: caller_id, matches: '[', goto: a}]", "else"),
    ("    hours: {always: true}", "open closed"),
    ("    hours: {timezone: Europe/Paris, weekly: {mon-fri: '09:00-18:00'}, holidays: [2026-12-25]}", "open closed"),
    ("    hours: {timezone: ../../x, weekly: {mon-sun: '25:00-26:00'}}", "open closed"),
    ("    hours: {weekly: {xyz: '1'}}", "open closed"), ("    transfer: {number: '+33123456'}", "failure"),
    ("    transfer: {agent: agent1}", ""), ("    transfer: {extension: x, agent: y}", ""), ("    voicemail: {}", ""),
    ("    voicemail: ~", "next"), ("    voicemail: {greeting: {say: x}, max_length: 0}", ""), ("    nothing: 1", ""),
    ("    voicemail: {max_length: 10, silence: 61, min_length: 11}", ""),
    ("    voicemail: {silence: -1, min_length: .nan}", ""), ("    voicemail: {silence: 0, min_length: 0.5}", "next"),
]
NOISE = ["      - x", "    - y", "&a [1]", "*a", "{", "]", ": :", "\t", "'", '"\\u0000"', "? [a]", "---", "...",
         "x: !!python/object {}", "!!binary aGk=", "%YAML 1.1", "a: 1e999", "a: 2026-02-30", "<<: *a", "   ", "#",
         "    " + "[" * 60, "  d: &d {play: beep, next: *d}", "    next: a", "    else: zz", "    open: 1"]


@st.composite
def flow_texts(draw: st.DrawFn) -> str:
    """Mostly well-formed flows made of every kind of node, right and wrong, with some noise."""
    lines = [draw(st.sampled_from(["name: fuzz", "language: en", "language: ../x", "voice: -x", "name: other"])),
             "entry: " + draw(st.sampled_from(["a", "a", "b", "zz"])), "nodes:"]
    for name in draw(st.lists(st.sampled_from(NODE_NAMES), min_size=1, max_size=4, unique=True)):
        kind, exits = draw(st.sampled_from(KINDS))
        lines += [f"  {name}:", kind] + [f"    {exit}: {draw(st.sampled_from(NODE_NAMES + ['zz']))}"
                                         for exit in exits.split()]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        noise = draw(st.one_of(st.sampled_from(NOISE), st.text(max_size=12)))
        lines.insert(draw(st.integers(0, len(lines))), noise)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_fuzzed(directory: Path, texts: list[str]) -> None:
    paths = []
    for i, text in enumerate(texts):
        paths.append(directory / f"fuzz{i}.yaml")
        paths[-1].write_text(text, encoding="utf-8", errors="surrogatepass")  # a lone surrogate: not UTF-8
    result = load_flows(paths, CTX, required={"fuzz": "DID 1"})
    assert (result.flows is None) == bool(result.errors)
    for problem in result.errors + result.warnings:
        assert problem.error_id in KNOWN_IDS, str(problem)
        assert isinstance(problem.line, int) and isinstance(problem.column, int)
        assert "\n" not in str(problem)


NOISY_TEXT = st.lists(st.one_of(st.sampled_from([k for k, _ in KINDS] + NOISE), st.text(max_size=12)),
                      max_size=25).map("\n".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(flow_texts(), NOISY_TEXT), min_size=1, max_size=2))
def test_fuzz_yaml_shaped_flows_are_loaded_or_refused_with_located_problems(fuzz_dir, texts):
    """load_flows on one or two files (goto between them, duplicate names, ...) of random flows."""
    check_fuzzed(fuzz_dir, texts)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_fuzz_any_bytes_are_loaded_or_refused_with_located_problems(fuzz_dir, data):
    path = fuzz_dir / "bytes.yaml"
    path.write_bytes(data)
    result = load_flows([path], CTX)
    for problem in result.errors + result.warnings:
        assert problem.error_id in KNOWN_IDS, str(problem)


def test_a_flow_name_that_is_no_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: ../x\nentry: a\nnodes:\n  a:\n    hangup: {}\n")
    flow, problems = read_flow_file(path)
    assert [p.error_id for p in problems] == ["bad-value"] and "not a flow name" in problems[0].message
