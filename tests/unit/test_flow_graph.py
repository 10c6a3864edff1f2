"""Drawing flows: every node and exit appears, in DOT and in Mermaid."""

import shutil
from pathlib import Path

import pytest

from callcenter.core.errors import CallcenterError
from callcenter.ivr.graph import to_dot, to_mermaid, write_graph
from callcenter.ivr.loader import read_flow_file

REPO = Path(__file__).resolve().parents[2]
HOTLINE = REPO / "ivr_flows" / "hotline.yaml"


def hotline():
    flow, problems = read_flow_file(HOTLINE)
    assert flow is not None and not problems
    return flow


def test_dot_has_every_node_and_labelled_exits():
    dot = to_dot(hotline())
    for name in hotline().nodes:
        assert f'"{name}" [label="{name}\\n' in dot
    assert '"main_menu" -> "sales" [label="press 1"]' in dot
    assert '"support" -> "voicemail" [label="overflow"]' in dot
    assert '"__start" -> "welcome"' in dot


def test_mermaid_text():
    text = to_mermaid(hotline())
    assert text.startswith("flowchart TD\n  start((call)) --> n0\n")
    assert "-->|press 9|" in text and text.count("-->") == 1 + 18  # the start, and every exit (menu failure too)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by make install")
def test_svg_via_graphviz(tmp_path):
    assert write_graph(hotline(), tmp_path / "h.svg") == "svg"
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(CallcenterError) as info:
        write_graph(hotline(), tmp_path / "h.gif")
    assert info.value.error_id == "bad-format"


@pytest.mark.parametrize("output", ["/nonexistent/x.png", "/nonexistent/x.mmd", "/proc/x.dot"])
def test_an_unwritable_output_is_a_one_line_error(output: str) -> None:
    from click.testing import CliRunner

    from callcenter.cli.main import main
    result = CliRunner().invoke(main, ["--config", str(REPO / "callcenter.yaml"), "flow", "graph", "hotline",
                                       "-o", output])
    assert result.exit_code != 0 and result.output.startswith("error: bad-output: ")
    assert len(result.output.strip().splitlines()) == 1
