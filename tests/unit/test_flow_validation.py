"""Flow validation: every problem the loader and validator can report, at its exact line:col.

tests/fixtures/flows/broken/ holds one small, realistic broken flow per error id (and per warning
id), variants named `<id>--<what>.yaml`. Each file says what it must produce in its first lines:

    # expect: <error-id> at <line>:<col>      (one line per problem; `# expect: nothing` for none)
    # required: <flow name>                   (load_flows(required=...): a DID needs that flow)

A folder in broken/ is one case whose files are loaded together (duplicate-flow needs two files).
The tests at the end of this file pin bugs found by this fixture (a node that fails to load was also
reported missing, YAML values that crashed the loader, octal digit strings, ...).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.ivr import validate as validate_module
from callcenter.ivr.flows import flow_files, load_flows
from callcenter.ivr.loader import Problem, parse_flow, read_flow_file
from callcenter.ivr.prompts import TtsFailed
from callcenter.ivr.validate import Context
from tests.support.flows import CTX, ERROR_IDS, WARNING_IDS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "flows"
BROKEN = FIXTURES / "broken"

_EXPECT = re.compile(r"^# expect: (?P<id>[a-z-]+) at (?P<line>\d+):(?P<col>\d+)\b", re.MULTILINE)
_EXPECT_ANY = re.compile(r"^# expect: ", re.MULTILINE)
_REQUIRED = re.compile(r"^# required: (\S+)", re.MULTILINE)


def cases() -> list:
    singles = [pytest.param([p], id=p.stem) for p in sorted(BROKEN.glob("*.yaml"))]
    groups = [pytest.param(sorted(d.glob("*.yaml")), id=d.name + "/") for d in sorted(BROKEN.iterdir()) if d.is_dir()]
    return singles + groups


def expectations(files: list[Path]) -> tuple[list[tuple[str, str, int, int]], dict[str, str]]:
    expected, required = [], {}
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert text.startswith("# expect: "), f"{f.name} must start with its '# expect:' header"
        found = [(f.name, m["id"], int(m["line"]), int(m["col"])) for m in _EXPECT.finditer(text)]
        assert len(found) == len(_EXPECT_ANY.findall(text)) or "# expect: nothing" in text, \
            f"{f.name}: an '# expect:' line is not '<id> at <line>:<col>'"
        expected += found
        required |= {name: f"DID of {f.name}" for name in _REQUIRED.findall(text)}
    return sorted(expected), required


def produced(files: list[Path], required: dict[str, str]) -> tuple[list, list[Problem]]:
    result = load_flows(files, CTX, required=required)
    problems = result.errors + result.warnings
    assert (result.flows is None) == bool(result.errors)
    return sorted((Path(p.file).name, p.error_id, p.line, p.column) for p in problems), problems


@pytest.mark.parametrize("files", cases())
def test_broken_flow_reports_exactly_what_its_header_says(files):
    expected, required = expectations(files)
    actual, problems = produced(files, required)
    assert actual == expected, "\n".join(str(p) for p in problems)
    for p in problems:
        assert p.severity == ("warning" if p.error_id in WARNING_IDS else "error"), str(p)


def test_the_fixtures_cover_every_id():
    covered = set()
    for param in cases():
        covered |= {e[1] for e in expectations(param.values[0])[0]}
    assert ERROR_IDS | WARNING_IDS <= covered, sorted((ERROR_IDS | WARNING_IDS) - covered)
    assert covered <= ERROR_IDS | WARNING_IDS


def test_the_id_list_here_is_complete():
    """Ids written as literals in the code: a new one needs a fixture. (The f-string ones,
    duplicate-{node,digit,key} and unknown-{agent,extension}, are in ERROR_IDS by hand.)"""
    sources = [REPO / "callcenter" / "core" / "located_yaml.py"] + [
        REPO / "callcenter" / "ivr" / f for f in ("loader.py", "validate.py", "schedule.py", "flows.py")]
    literal = {m[1] for src in sources for m in re.finditer(r'"([a-z]+(?:-[a-z]+)+)"', src.read_text())}
    assert literal <= ERROR_IDS | WARNING_IDS, sorted(literal - ERROR_IDS - WARNING_IDS)


# -- the good flows ------------------------------------------------------------------------------

GOOD = sorted((REPO / "ivr_flows").glob("*.yaml")) + sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_and_fixture_flows_are_clean(path):
    result = load_flows([path], CTX)
    assert result.errors == [] and result.warnings == [], [str(p) for p in result.errors + result.warnings]
    assert result.flows is not None and list(result.flows.flows) == [read_flow_file(path)[0].name]


def test_all_good_flows_load_together():
    result = load_flows(GOOD, CTX, required={"hotline": "DID 8005550100", "levels": "DID 8005550101"})
    assert result.errors == [] and result.flows is not None
    assert set(result.flows.flows) == {"hotline", "office-hours", "levels", "overflow"}


def test_the_shipped_folder_is_what_flow_files_lists():
    assert flow_files(REPO / "ivr_flows") == sorted((REPO / "ivr_flows").glob("*.yaml"))


def test_goto_may_name_a_flow_known_besides_the_loaded_ones():
    files = [BROKEN / "unknown-flow.yaml"]
    ctx = Context(**{**CTX.__dict__, "other_flows": frozenset({"sales-lne"})})
    assert load_flows(files, ctx).errors == []


def test_transfers_to_numbers_are_fine_with_an_outbound_trunk():
    ctx = Context(**{**CTX.__dict__, "can_dial_out": True})
    assert load_flows([BROKEN / "no-outbound-trunk.yaml"], ctx).errors == []


def test_sounds_are_not_checked_without_an_asterisk():
    ctx = Context(**{**CTX.__dict__, "sound_exists": None})
    assert load_flows([BROKEN / "unknown-sound.yaml"], ctx).errors == []


def test_the_sound_check_gets_the_flow_language():
    asked = []
    ctx = Context(**{**CTX.__dict__, "sound_exists": lambda name, language: asked.append((name, language)) or True})
    text = "language: fr\nentry: a\nnodes:\n  a:\n    hangup: [beep, digits/1]\n"
    flow, problems = parse_flow(text, "fr.yaml", "fr")
    assert problems == [] and validate_module.validate([flow], ctx) == []
    assert asked == [("beep", "fr"), ("digits/1", "fr")]


# -- problems as text ----------------------------------------------------------------------------

def test_an_error_prints_as_file_line_col_id_message():
    path = BROKEN / "unknown-queue.yaml"
    (problem,) = load_flows([path], CTX).errors
    assert str(problem) == f"{path}:7:13: unknown-queue: queue 'billing' is not in callcenter.yaml " \
                           "(queues: sales, support)"
    assert "\n" not in str(problem)


def test_a_warning_prints_with_the_word_warning():
    path = BROKEN / "unreachable-node.yaml"
    result = load_flows([path], CTX)
    assert result.errors == [] and result.flows is not None  # a warning does not refuse the flow
    (problem,) = result.warnings
    assert str(problem) == f"{path}:13:3: warning: unreachable-node: node 'old_sales' cannot be reached " \
                           "from the entry 'main_menu'"


def test_problem_text_form():
    assert str(Problem("a.yaml", 3, 7, "bad-digit", "'x' is not a key")) == "a.yaml:3:7: bad-digit: 'x' is not a key"
    assert str(Problem("a.yaml", 3, 7, "never-open", "never", "warning")) == "a.yaml:3:7: warning: never-open: never"


def test_a_file_that_cannot_be_read(tmp_path):
    flow, (problem,) = read_flow_file(tmp_path / "gone.yaml")
    assert flow is None
    assert (problem.error_id, problem.line, problem.column, problem.file) == (
        "unreadable", 0, 0, str(tmp_path / "gone.yaml"))
    result = load_flows([tmp_path / "gone.yaml"], CTX)
    assert result.flows is None and [p.error_id for p in result.errors] == ["unreadable"]


def test_the_flow_name_defaults_to_the_file_name(tmp_path):
    path = tmp_path / "night-desk.yaml"
    path.write_text("entry: a\nnodes:\n  a:\n    queue: support\n")
    result = load_flows([path], CTX)
    assert result.errors == [] and list(result.flows.flows) == ["night-desk"]


# -- say: prompts --------------------------------------------------------------------------------

class FakeSynth:
    """PromptSynth's interface; fails for texts containing `fail_on`."""

    def __init__(self, fail_on: str = "\0") -> None:
        self.fail_on = fail_on
        self.calls: list[tuple[str, str, str]] = []

    def file_for(self, text: str, language: str, voice: str = "") -> str:
        self.calls.append((text, language, voice))
        if self.fail_on in text:
            raise TtsFailed(text, "espeak-ng is not installed")
        return f"tts/{abs(hash(text)) % 10**8}"


SAYING = """\
name: saying
language: fr
voice: fr-be
entry: welcome
nodes:
  welcome:
    play: [{say: "Bonjour."}, beep, {say: "Veuillez patienter."}]
    next: support
  support:
    queue: support
"""


def test_say_prompts_are_synthesized_when_the_flows_are_clean(tmp_path):
    (tmp_path / "saying.yaml").write_text(SAYING)
    synth = FakeSynth()
    result = load_flows([tmp_path / "saying.yaml"], CTX, synth=synth, version=7)
    assert result.errors == [] and result.flows.version == 7
    assert synth.calls == [("Bonjour.", "fr", "fr-be"), ("Veuillez patienter.", "fr", "fr-be")]
    assert set(result.flows.say_files) == {("fr", "fr-be", "Bonjour."), ("fr", "fr-be", "Veuillez patienter.")}
    assert all(name.startswith("tts/") for name in result.flows.say_files.values())


def test_a_failed_synthesis_is_a_located_error(tmp_path):
    path = tmp_path / "saying.yaml"
    path.write_text(SAYING)
    result = load_flows([path], CTX, synth=FakeSynth(fail_on="patienter"))
    assert result.flows is None
    assert [(p.error_id, p.line, p.column) for p in result.errors] == [("tts-failed", 7, 37)]
    assert str(result.errors[0]).startswith(f"{path}:7:37: tts-failed: could not turn 'Veuillez patienter.'")


def test_nothing_is_synthesized_for_flows_with_errors():
    synth = FakeSynth()
    result = load_flows([BROKEN / "unknown-queue.yaml", REPO / "ivr_flows" / "hotline.yaml"], CTX, synth=synth)
    assert result.flows is None and synth.calls == []


# -- the CLI -------------------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callcenter.cli", "--config", str(REPO / "callcenter.yaml"),
                           "flow", "validate", *args], capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


def test_cli_validate_prints_the_located_problem_and_exits_1():
    path = BROKEN / "unknown-queue.yaml"
    done = cli(str(path))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert f"{path}:7:13: unknown-queue: queue 'billing' is not in callcenter.yaml (queues: sales, support)" in lines
    assert lines[-1] == "1 error(s), 0 warning(s) in 1 file(s)"


def test_cli_validate_yaml_syntax_error():
    path = BROKEN / "yaml-syntax.yaml"
    done = cli(str(path))
    assert done.returncode == 1
    assert f"{path}:8:10: yaml-syntax: YAML syntax: mapping values are not allowed here" in done.stderr.splitlines()


@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cli_validate_accepts_the_good_flows(path):
    done = cli(str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok: 1 flow file(s), 0 warning(s)"


def test_cli_validate_warnings_do_not_fail():
    path = BROKEN / "unreachable-node.yaml"
    done = cli(str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:13:3: warning: unreachable-node: " in done.stderr
    assert done.stdout.strip() == "ok: 1 flow file(s), 1 warning(s)"


# -- known product bugs: the right behaviour, failing today ------------------------------------

MENU_TO_BROKEN_NODE = """\
entry: main_menu
nodes:
  main_menu:
    menu:
      prompt: beep
      options: {1: sales, 2: support}
    failure: support
  sales:
    queue: {name: sales, max_wait: 120}
  support:
    queue: support
"""


def test_a_node_that_fails_to_load_is_not_also_reported_missing(tmp_path):
    (tmp_path / "f.yaml").write_text(MENU_TO_BROKEN_NODE)
    result = load_flows([tmp_path / "f.yaml"], CTX)
    assert [p.error_id for p in result.errors] == ["missing-exit"]


def test_duplicate_flow_points_at_the_name_key():
    files = sorted((BROKEN / "duplicate-flow").glob("*.yaml"))
    (problem,) = load_flows(files, CTX).errors
    assert (Path(problem.file).name, problem.line, problem.column) == ("sales-line2.yaml", 4, 1)


def test_an_impossible_unquoted_date_is_a_located_problem():
    text = MENU_TO_BROKEN_NODE.replace("queue: {name: sales, max_wait: 120}",
                                       "hours: {holidays: [2026-02-30]}\n    open: support\n    closed: support")
    _, problems = parse_flow(text, "f.yaml", "f")
    assert [(p.error_id, p.line) for p in problems] == [("bad-value", 9)]


def test_an_unknown_yaml_tag_is_a_located_problem():
    _, problems = parse_flow("entry: a\nnodes:\n  a:\n    hangup: !say Goodbye\n", "f.yaml", "f")
    assert [(p.error_id, p.line) for p in problems] == [("bad-value", 4)]


def test_digit_strings_with_a_leading_zero_are_not_silently_changed():
    text = ("entry: route\nnodes:\n  route:\n    branch:\n      - {if: caller_id, prefix: 0612, goto: out}\n"
            "    else: out\n  out:\n    transfer: {number: 06123}\n")
    flow, problems = parse_flow(text, "f.yaml", "f")
    if problems:  # refusing it (quote it!) is as good as keeping it as written
        assert {p.error_id for p in problems} <= {"wrong-type", "bad-value"}
        return
    assert flow.nodes["route"].step.rules[0].value == "0612"
    assert flow.nodes["out"].step.target == "06123"

