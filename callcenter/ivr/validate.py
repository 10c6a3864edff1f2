"""Check flows as a graph, before a caller can meet a mistake.

Errors (the flow set is refused): a target node or flow that does not exist, a node from which
the caller can never leave the flow, a loop in which the caller is never asked anything, an
unknown queue / agent / extension, a sound file that does not exist, two flows of one name.
Warnings (the flow runs): nodes no path reaches, a schedule that is never open, a branch on a
variable no node collects. Pure: the outside world comes in through `Context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from callcenter.ivr import model as m
from callcenter.ivr.loader import Problem

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Context:
    """What the flows may refer to outside themselves."""

    queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    extensions: frozenset[str] = frozenset()
    # (sound name, language) → exists? None: sounds are not checked (no Asterisk installed here).
    sound_exists: Callable[[str, str], bool] | None = None
    other_flows: frozenset[str] = field(default_factory=frozenset)  # flows known besides these
    can_dial_out: bool = False  # the trunk has a host to send calls to (transfers to numbers)


def _problem(flow: m.Flow, path: KeyPath, error_id: str, message: str, severity: str = "error") -> Problem:
    line, col = flow.at(*path)
    return Problem(flow.file, line, col, error_id, message, severity)


def prompt_paths(node: m.Node) -> Iterator[tuple[m.Prompt, KeyPath]]:
    s, p = node.step, ("nodes", node.name)
    if isinstance(s, m.Play):
        yield s.prompt, p + ("play",)
    elif isinstance(s, m.Menu):
        yield s.prompt, p + ("menu", "prompt")
        yield s.no_input, p + ("menu", "no_input")
        yield s.invalid, p + ("menu", "invalid")
    elif isinstance(s, m.Collect):
        yield s.prompt, p + ("collect", "prompt")
        yield s.invalid, p + ("collect", "invalid")
    elif isinstance(s, m.Voicemail):
        yield s.greeting, p + ("voicemail", "greeting")
    elif isinstance(s, m.Hangup):
        yield s.prompt, p + ("hangup",)


def _reachable(flow: m.Flow) -> set[str]:
    seen, todo = set(), [flow.entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.nodes:
            continue
        seen.add(name)
        todo.extend(t for _, t, _ in flow.nodes[name].exits())
    return seen


def _can_leave(flow: m.Flow) -> set[str]:
    """Nodes from which some path leaves the flow (hangup, goto, queue, voicemail, transfer)."""
    good = {n for n, node in flow.nodes.items() if node.final}
    changed = True
    while changed:
        changed = False
        for name, node in flow.nodes.items():
            if name not in good and any(t in good for _, t, _ in node.exits()):
                good.add(name)
                changed = True
    return good


def _input_free_cycles(flow: m.Flow) -> list[list[str]]:
    """Cycles made only of nodes where the caller is asked nothing (play, hours, branch)."""
    instant = {n for n, node in flow.nodes.items() if not node.takes_input}
    cycles, state = [], {}  # state: 1 on the stack, 2 done

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        stack.append(name)
        for _, target, _ in flow.nodes[name].exits():
            if target not in instant:
                continue
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[name] = 2

    for name in sorted(instant):
        if name not in state:
            visit(name, [])
    return cycles


def _check_flow(flow: m.Flow, names: set[str], ctx: Context) -> list[Problem]:
    out: list[Problem] = []
    if flow.entry not in flow.nodes and flow.entry not in flow.broken_nodes:
        out.append(_problem(flow, ("entry",), "unknown-target", f"entry node '{flow.entry}' does not exist"))
    for node in flow.nodes.values():
        for _, target, path in node.exits():
            if target not in flow.nodes and target not in flow.broken_nodes:  # a broken node has its own error
                out.append(_problem(flow, path, "unknown-target", f"node '{target}' does not exist in flow "
                                    f"'{flow.name}' (nodes: {', '.join(sorted(flow.nodes))})"))
        s, p = node.step, ("nodes", node.name)
        if isinstance(s, m.Goto) and s.flow not in names:
            out.append(_problem(flow, p + ("goto",), "unknown-flow", f"flow '{s.flow}' does not exist"))
        if isinstance(s, m.Queue) and s.queue not in ctx.queues:
            out.append(_problem(flow, p + ("queue", "name") if (*p, "queue", "name") in flow.positions
                                else p + ("queue",), "unknown-queue",
                                f"queue '{s.queue}' is not in callcenter.yaml (queues: {', '.join(sorted(ctx.queues))})"))
        if isinstance(s, m.Transfer):
            known = {"agent": ctx.agents, "extension": ctx.extensions}.get(s.kind)
            if known is not None and s.target not in known:
                out.append(_problem(flow, p + ("transfer", s.kind), f"unknown-{s.kind}",
                                    f"{s.kind} '{s.target}' is not in callcenter.yaml"))
            if s.kind == "number" and not ctx.can_dial_out:
                out.append(_problem(flow, p + ("transfer", s.kind), "no-outbound-trunk",
                                    "transfers to numbers need trunk.host in callcenter.yaml (where calls out go)"))
        if isinstance(s, m.Hours) and not s.schedule.ever_open:
            out.append(_problem(flow, p + ("hours",), "never-open", "this schedule is never open", "warning"))
        for prompt, path in prompt_paths(node):
            for i, item in enumerate(prompt.items):
                where = path + (str(i),) if (*path, str(i)) in flow.positions else path
                if isinstance(item, m.Say) and not item.text:
                    out.append(_problem(flow, where, "bad-value", "say: needs some text"))
                if isinstance(item, m.Sound) and ctx.sound_exists is not None \
                        and not ctx.sound_exists(item.name, flow.language):
                    out.append(_problem(flow, where, "unknown-sound", f"no sound '{item.name}' for language "
                                        f"'{flow.language}' in Asterisk's sounds"))
    if flow.broken_nodes:
        return out  # the graph checks below would only echo the broken nodes' own errors
    reachable = _reachable(flow)
    can_leave = _can_leave(flow)
    for name in sorted(set(flow.nodes) - reachable):
        out.append(_problem(flow, ("nodes", name), "unreachable-node",
                            f"node '{name}' cannot be reached from the entry '{flow.entry}'", "warning"))
    for name in sorted(reachable - can_leave):
        out.append(_problem(flow, ("nodes", name), "no-way-out",
                            f"a caller at node '{name}' can never leave the flow (no path to a hangup, queue, "
                            "voicemail, transfer or goto)"))
    for cycle in _input_free_cycles(flow):
        out.append(_problem(flow, ("nodes", cycle[0]), "input-free-loop",
                            f"loop {' → '.join(cycle)} never waits for the caller: it would spin forever"))
    collected = {n.step.variable for n in flow.nodes.values() if isinstance(n.step, m.Collect)}
    for node in flow.nodes.values():
        if isinstance(node.step, m.Branch):
            for i, rule in enumerate(node.step.rules):
                if rule.subject not in ("caller_id", "did") and rule.subject not in collected:
                    out.append(_problem(flow, ("nodes", node.name, "branch", str(i), "if"), "unset-variable",
                                        f"no node of this flow collects '{rule.subject}'", "warning"))
    return out


def validate(flows: list[m.Flow], ctx: Context) -> list[Problem]:
    """All graph problems of a set of flows (loaded together: goto targets are among them)."""
    out: list[Problem] = []
    first: dict[str, m.Flow] = {}
    for flow in flows:
        if flow.name in first:
            line, col = flow.at("name")
            out.append(Problem(flow.file, line, col, "duplicate-flow",
                               f"flow '{flow.name}' is also defined in {first[flow.name].file}"))
        first.setdefault(flow.name, flow)
    names = set(first) | set(ctx.other_flows)
    for flow in flows:
        out.extend(_check_flow(flow, names, ctx))
    return out
