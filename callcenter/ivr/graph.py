"""Draw a flow so an admin can look at it: Graphviz DOT (→ SVG/PNG with `dot`) or Mermaid text."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from callcenter.core.errors import Refused
from callcenter.ivr import model as m


def _label(node: m.Node) -> str:
    s: Any = node.step  # the dict below picks the lambda of its own type
    detail = {
        m.Play: lambda: "play",
        m.Menu: lambda: f"menu ({s.retries + 1} tries, {s.timeout:g} s)",
        m.Collect: lambda: f"collect {s.variable} ({s.min_digits}-{s.max_digits} digits)",
        m.Hours: lambda: f"hours ({s.schedule.timezone})",
        m.Branch: lambda: "branch",
        m.Queue: lambda: f"queue {s.queue}" + (f" (max {s.max_wait} s)" if s.max_wait else ""),
        m.Voicemail: lambda: f"voicemail (max {s.max_length} s)",
        m.Transfer: lambda: f"transfer to {s.kind} {s.target}",
        m.Goto: lambda: f"goto flow {s.flow}",
        m.Hangup: lambda: "hang up",
    }[type(s)]()
    return f"{node.name}\\n{detail}"


def _edges(flow: m.Flow) -> list[tuple[str, str, str]]:
    return [(node.name, target, label) for node in flow.nodes.values() for label, target, _ in node.exits()]


def to_dot(flow: m.Flow) -> str:
    lines = [f'digraph "{flow.name}" {{', "  rankdir=TB;", '  node [shape=box, style="rounded,filled", '
             'fillcolor="#eef3fb", fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];',
             '  "__start" [label="call", shape=circle, fillcolor="#cde8c9"];', f'  "__start" -> "{flow.entry}";']
    for node in flow.nodes.values():
        color = "#fbe3c9" if node.final else "#eef3fb"
        lines.append(f'  "{node.name}" [label="{_label(node)}", fillcolor="{color}"];')
    for a, b, label in _edges(flow):
        lines.append(f'  "{a}" -> "{b}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(flow: m.Flow) -> str:
    ids = {name: f"n{i}" for i, name in enumerate(flow.nodes)}
    lines = ["flowchart TD", f"  start((call)) --> {ids.get(flow.entry, 'missing')}"]
    for name, node in flow.nodes.items():
        text = _label(node).replace("\\n", "<br/>").replace('"', "'")
        lines.append(f'  {ids[name]}["{text}"]')
    for a, b, label in _edges(flow):
        if b in ids:
            lines.append(f"  {ids[a]} -->|{label.replace('|', '/')}| {ids[b]}" if label else f"  {ids[a]} --> {ids[b]}")
    return "\n".join(lines) + "\n"


def write_graph(flow: m.Flow, output: Path) -> str:
    """Write the drawing; the format follows the extension: .svg .png (Graphviz), .dot, .mmd/.md (Mermaid).
    Errors (one line each): `bad-format`, `bad-output` (the folder is missing or not writable),
    `graphviz-missing`, `graphviz-failed`."""
    folder = output.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise Refused("bad-output", f"cannot write {output}: the folder {folder} does not exist or is not "
                              "writable", {"output": str(output)})
    try:
        return _write(flow, output)
    except OSError as exc:
        raise Refused("bad-output", f"cannot write {output}: {exc.strerror or exc}") from None
    except subprocess.CalledProcessError as exc:
        detail = " ".join(exc.stderr.decode(errors="replace").split())[:200] if exc.stderr else ""
        raise Refused("graphviz-failed", f"Graphviz could not draw {output}: {detail}") from None


def _write(flow: m.Flow, output: Path) -> str:
    ext = output.suffix.lower().lstrip(".")
    if ext in ("mmd", "mermaid", "md"):
        output.write_text(to_mermaid(flow))
        return "mermaid"
    dot = to_dot(flow)
    if ext == "dot":
        output.write_text(dot)
        return "dot"
    if ext not in ("svg", "png", "pdf"):
        raise Refused("bad-format", f"cannot draw to '.{ext}': use .svg, .png, .pdf, .dot or .mmd")
    if shutil.which("dot") is None:
        raise Refused("graphviz-missing", "Graphviz's `dot` is not installed (make install, or "
                              "apt-get install graphviz); .mmd (Mermaid) needs nothing")
    subprocess.run(["dot", f"-T{ext}", "-o", str(output)], input=dot.encode(), check=True, capture_output=True)
    return ext
