"""The live set of flows: load `ivr_flows/*.yaml`, validate, synthesize prompts, hot-reload.

A reload builds a complete new FlowSet and swaps it in only if it has no errors; otherwise the
running version stays and the errors are kept for `callcenter flow list` / `status` and the log.
That includes files that cannot be read as flows (too large, not UTF-8, a NUL byte), `say:` prompts
that cannot be synthesized (`tts-failed`, located at the prompt), and any unexpected failure.
Calls keep the FlowSet they started on. The folder is polled (cheap: names, sizes, mtimes), so
an edit applies to new calls well within 2 s, with no restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from callcenter.asterisk.install import AsteriskInstall
from callcenter.config import Config
from callcenter.ivr import model as m
from callcenter.ivr.loader import Problem, read_flow_file
from callcenter.ivr.prompts import PromptSynth, TtsFailed, sound_finder
from callcenter.ivr.validate import Context, prompt_paths, validate

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class LoadResult:
    flows: m.FlowSet | None  # None when there are errors
    errors: list[Problem]
    warnings: list[Problem]


def flow_context(config: Config, install: AsteriskInstall | None) -> tuple[Context, dict[str, str | Needed]]:
    """What flows are checked against (this config; this Asterisk's sounds, unless there is none
    installed), and the flows the config's DIDs need."""
    context = Context(queues=frozenset(config.queues), agents=frozenset(config.agents),
                      extensions=frozenset(a.extension for a in config.agents.values()),
                      sound_exists=sound_finder(install.sysroot, install.data_dir) if install else None,
                      can_dial_out=bool(config.trunk.host))
    required: dict[str, str | Needed] = {}
    for number, did in config.dids.items():
        if did.flow:
            # A missing flow is reported where the DID names it.
            line, column = config.positions.get(("dids", number, "flow"), (0, 0))
            required[did.flow] = Needed(f"DID {number}", config.source, line, column)
    return context, required


@dataclass(frozen=True)
class Needed:
    """Who needs a flow, and where they say so (file, line, column)."""

    who: str
    file: str
    line: int
    column: int


def flow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("."))


def load_flows(files: Iterable[Path], ctx: Context, *, required: Mapping[str, str | Needed] | None = None,
               synth: PromptSynth | None = None, version: int = 0) -> LoadResult:
    """Load and validate flow files together. `required`: flow name → who needs it (a DID).
    With `synth`, `say:` prompts are synthesized (their failures are errors too)."""
    flows, problems = [], []
    for path in files:
        flow, found = read_flow_file(path)
        problems += found
        if flow is not None:
            flows.append(flow)
    problems += validate(flows, ctx)
    names = {f.name for f in flows}
    for name, who in (required or {}).items():
        if name not in names:
            # Located where it is asked for when that is known (the DID's line in callcenter.yaml).
            need = who if isinstance(who, Needed) else Needed(who, str(next(iter(files), "ivr_flows")), 0, 0)
            problems.append(Problem(need.file, need.line, need.column, "missing-flow",
                                    f"flow '{name}' is used by {need.who} but no flow file defines it"))
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    say_files: dict[tuple[str, str, str], str] = {}
    if not errors and synth is not None:
        for flow in flows:
            for node in flow.nodes.values():
                for prompt, key_path in prompt_paths(node):
                    for i, item in enumerate(prompt.items):
                        if isinstance(item, m.Say):
                            try:
                                say_files[(flow.language, flow.voice, item.text)] = synth.file_for(
                                    item.text, flow.language, flow.voice)
                            except Exception as exc:  # TtsFailed, or anything else: a located error
                                failed = exc if isinstance(exc, TtsFailed) else \
                                    TtsFailed(item.text, f"{type(exc).__name__}: {exc}")
                                line, col = flow.at(*key_path, str(i))
                                errors.append(Problem(flow.file, line, col, failed.error_id, str(failed)))
    if errors:
        return LoadResult(None, errors, warnings)
    return LoadResult(m.FlowSet({f.name: f for f in flows}, version, time.time(), say_files), errors, warnings)


@dataclass
class FlowLibrary:
    """The current FlowSet plus what the last reload said."""

    directory: Path
    context: Context
    required: Mapping[str, str | Needed] = field(default_factory=dict)
    synth: PromptSynth | None = None
    current: m.FlowSet = field(default_factory=m.FlowSet)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    last_attempt_at: float = 0.0
    on_change: Callable[[m.FlowSet], None] | None = None
    _signature: tuple = ()

    def _files_signature(self) -> tuple:
        out = []
        for p in flow_files(self.directory):
            try:
                st = p.stat()
                out.append((p.name, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                continue
        return tuple(out)

    def reload(self) -> bool:
        """Load the folder; swap it in if it is clean. Returns True if the flows changed."""
        self._signature = self._files_signature()
        self.last_attempt_at = time.time()
        try:
            result = load_flows(flow_files(self.directory), self.context, required=self.required, synth=self.synth,
                                version=self.current.version + 1)
        except Exception as exc:  # a bug: refused like an invalid flow, and said where it is seen
            log.exception("flow reload failed")
            result = LoadResult(None, [Problem(str(self.directory), 0, 0, "bad-value",
                                               f"the reload failed: {type(exc).__name__}: {exc}")], [])
        self.errors, self.warnings = result.errors, result.warnings
        for w in result.warnings:
            log.warning("flow warning: %s", w)
        if result.flows is None:
            for e in result.errors:
                log.error("flow error: %s", e)
            log.error("flows NOT reloaded: %d error(s); version %d keeps running", len(result.errors),
                      self.current.version)
            return False
        self.current = result.flows
        log.info("flows loaded: version %d (%s)", self.current.version, ", ".join(sorted(self.current.flows)))
        if self.on_change is not None:
            self.on_change(self.current)
        return True

    async def watch(self, interval: float = POLL_INTERVAL) -> None:
        """Reload whenever a flow file is added, removed or changed."""
        while True:
            await asyncio.sleep(interval)
            if self._files_signature() != self._signature:
                try:
                    await asyncio.to_thread(self.reload)
                except Exception:  # a bug in one reload must not end hot reloading
                    log.exception("flow reload failed; version %d keeps running", self.current.version)

    def describe(self) -> dict:
        """For the API: the flows running, and the errors of the last attempt if it failed."""
        return {
            "version": self.current.version,
            "loaded_at": self.current.loaded_at,
            "last_attempt_at": self.last_attempt_at,
            "flows": [{"name": f.name, "file": f.file, "entry": f.entry, "nodes": len(f.nodes),
                       "language": f.language} for f in sorted(self.current.flows.values(), key=lambda f: f.name)],
            "errors": [str(p) for p in self.errors],
            "warnings": [str(p) for p in self.warnings],
        }
