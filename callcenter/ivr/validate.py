"""Check flows as a graph, before a caller can meet a mistake.

Errors (the flow set is refused): a target node or flow that does not exist, a node from which
the caller can never leave the flow, a loop in which the caller is never asked anything, an
unknown queue / agent / extension, a sound file that does not exist, two flows of one name.
Warnings (the flow runs): nodes no path reaches, a schedule that is never open, a branch on a
variable no node collects. Pure: the outside world comes in through `Context`.

A loop without input may go through other flows (`goto`): the flows loaded together are checked
as one graph. Every check of one node runs on its own: should it fail unexpectedly, the node gets
a located `bad-value` problem and the other nodes are still checked (never a traceback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from callcenter.core.text import first_control
from callcenter.ivr import model as m
from callcenter.ivr.loader import Problem

KeyPath = tuple[str, ...]

MAX_SAY_CHARS = 1000  # of one say: text (espeak-ng takes seconds for a page; split long text)
MAX_SOUND_NAME = 200
_SOUND_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")


def sound_name_problem(name: str) -> str:
    """Why `name` is not an Asterisk sound name ('' if it is one): letters, digits, _ - . in
    segments separated by /, relative (to the language's sounds folder), no '.' or '..' segment."""
    if len(name) > MAX_SOUND_NAME:
        return f"a sound name has at most {MAX_SOUND_NAME} characters"
    if name.startswith("/"):
        return f"'{name}' is a path; a sound is named relative to Asterisk's sounds, like hello-world or digits/1"
    for segment in name.split("/"):
        if segment in (".", "..") or not _SOUND_SEGMENT.fullmatch(segment):
            return (f"'{name}' is not a sound name (letters, digits, _ - . in parts separated by /, "
                    "no '..'; like hello-world or digits/1)")
    return ""


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
    into: dict[str, list[str]] = {}
    for name, node in flow.nodes.items():
        for _, target, _ in node.exits():
            into.setdefault(target, []).append(name)
    good = {n for n, node in flow.nodes.items() if node.final}
    todo = list(good)
    while todo:
        for source in into.get(todo.pop(), ()):
            if source not in good:
                good.add(source)
                todo.append(source)
    return good


def _back_edge_cycles(starts: Iterable[str], edges: Callable[[str], list[str]]) -> list[list[str]]:
    """Depth-first from each start in turn: the cycle each edge back to a node on the stack closes
    ([a, b, c, a]). Iterative: a flow of 10,000 nodes in a row is fine."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in starts:
        if start in state:
            continue
        state[start] = 1
        stack, todo = [start], [iter(edges(start))]
        while todo:
            target = next(todo[-1], None)
            if target is None:
                state[stack.pop()] = 2
                todo.pop()
            elif state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                state[target] = 1
                stack.append(target)
                todo.append(iter(edges(target)))
    return cycles


def _input_free_cycles(flow: m.Flow) -> list[list[str]]:
    """Cycles made only of nodes where the caller is asked nothing (play, hours, branch)."""
    instant = {n for n, node in flow.nodes.items() if not node.takes_input}
    return _back_edge_cycles(sorted(instant), lambda name: [t for _, t, _ in flow.nodes[name].exits() if t in instant])


def _input_free_loops_across_flows(flows: list[m.Flow]) -> list[Problem]:
    """Loops without input that go through `goto` (a flow that goes to itself, two flows that go to
    each other, ...): one problem per loop, at the goto node that closes it, i.e. that goes back to
    the first flow (in load order) of the loop."""
    by_name: dict[str, m.Flow] = {}
    for flow in flows:
        by_name.setdefault(flow.name, flow)
    order = {name: i for i, name in enumerate(by_name)}

    def instant(key: tuple[str, str]) -> bool:
        flow = by_name.get(key[0])
        return flow is not None and key[1] in flow.nodes and not flow.nodes[key[1]].takes_input

    def edges(key: tuple[str, str]) -> list[tuple[str, str]]:
        flow = by_name[key[0]]
        step = flow.nodes[key[1]].step
        if isinstance(step, m.Goto):
            out = [(step.flow, by_name[step.flow].entry)] if step.flow in by_name else []
        else:
            out = [(flow.name, t) for _, t, _ in flow.nodes[key[1]].exits()]
        return [k for k in out if instant(k)]

    keys = [(f.name, n) for f in by_name.values() for n in f.nodes if instant((f.name, n))]
    problems: list[Problem] = []
    for component in _strongly_connected(keys, edges):
        # A loop leaves a flow only by a goto and enters one only at its entry: the loop's first flow
        # is entered by a goto of the loop, which closes it.
        first = min({f for f, _ in component}, key=order.__getitem__)
        entry = (first, by_name[first].entry)
        closers = [k for k in component if isinstance(by_name[k[0]].nodes[k[1]].step, m.Goto) and entry in edges(k)]
        if not closers:
            continue  # a loop inside one flow: _check_flow reports it
        closer = min(closers, key=lambda k: (order[k[0]], list(by_name[k[0]].nodes).index(k[1])))
        path = _path(entry, closer, component, edges) + [entry]
        flow = by_name[closer[0]]
        problems.append(_problem(flow, ("nodes", closer[1]), "input-free-loop",
                                 f"loop {' → '.join(f'{f}/{n}' for f, n in path)} never waits for the caller "
                                 "(through goto): it would spin forever"))
    return problems


def _strongly_connected(keys: list, edges: Callable) -> list[set]:
    """Tarjan's strongly connected components that hold a loop (two nodes or more, or one that goes
    to itself), iteratively."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    out: list[set] = []
    for root in keys:
        if root in index:
            continue
        work = [(root, iter(edges(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges(child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges(node):
                    out.append(component)
    return out


def _path(start: tuple[str, str], end: tuple[str, str], within: set, edges: Callable) -> list[tuple[str, str]]:
    """A shortest path start → end inside `within` (breadth-first)."""
    came: dict = {start: None}
    todo = [start]
    for node in todo:
        if node == end:
            break
        for target in edges(node):
            if target in within and target not in came:
                came[target] = node
                todo.append(target)
    path: list[tuple[str, str]] = []
    at: tuple[str, str] | None = end
    while at is not None:
        path.append(at)
        at = came.get(at)
    return path[::-1]


def _check_node(flow: m.Flow, node: m.Node, names: set[str], ctx: Context) -> list[Problem]:
    out: list[Problem] = []
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
            if isinstance(item, m.Say):
                if not item.text:
                    out.append(_problem(flow, where, "bad-value", "say: needs some text"))
                elif len(item.text) > MAX_SAY_CHARS:
                    out.append(_problem(flow, where, "bad-value", f"say: text of {len(item.text):,} characters; at "
                                        f"most {MAX_SAY_CHARS:,} (split it into several say: prompts)"))
                elif bad := first_control(item.text, multiline=True):  # line breaks and tabs are fine
                    out.append(_problem(flow, where, "bad-value", f"say: text with a control character "
                                        f"{bad!r}"))
            if isinstance(item, m.Sound):
                why = sound_name_problem(item.name)
                if why:
                    out.append(_problem(flow, where, "unknown-sound", why))
                elif ctx.sound_exists is not None and not ctx.sound_exists(item.name, flow.language):
                    out.append(_problem(flow, where, "unknown-sound", f"no sound '{item.name}' for language "
                                        f"'{flow.language}' in Asterisk's sounds"))
    return out


def _check_graph(flow: m.Flow) -> list[Problem]:
    out: list[Problem] = []
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
                if rule.subject not in ("caller_id", "did") and rule.subject not in collected and \
                        not rule.subject.startswith("customer."):
                    out.append(_problem(flow, ("nodes", node.name, "branch", str(i), "if"), "unset-variable",
                                        f"no node of this flow collects '{rule.subject}'", "warning"))
    return out


def _failed(flow: m.Flow, path: KeyPath, what: str, exc: Exception) -> Problem:
    """An unexpected failure of a check, as a located problem (the flow set is refused, not crashed)."""
    return _problem(flow, path, "bad-value", f"{what} could not be checked: {type(exc).__name__}: {exc}")


def _check_flow(flow: m.Flow, names: set[str], ctx: Context) -> list[Problem]:
    out: list[Problem] = []
    if flow.entry not in flow.nodes and flow.entry not in flow.broken_nodes:
        out.append(_problem(flow, ("entry",), "unknown-target", f"entry node '{flow.entry}' does not exist"))
    for node in flow.nodes.values():
        try:
            out.extend(_check_node(flow, node, names, ctx))
        except Exception as exc:  # one node's check must not crash the validation of all flows
            out.append(_failed(flow, ("nodes", node.name), f"node '{node.name}'", exc))
    if flow.broken_nodes:
        return out  # the graph checks below would only echo the broken nodes' own errors
    try:
        out.extend(_check_graph(flow))
    except Exception as exc:
        out.append(_failed(flow, ("entry",), f"flow '{flow.name}'", exc))
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
    clean = [f for f in first.values() if not f.broken_nodes]
    try:
        out.extend(_input_free_loops_across_flows(clean))
    except Exception as exc:
        if clean:
            out.append(_failed(clean[0], ("entry",), "loops through goto", exc))
    return out
