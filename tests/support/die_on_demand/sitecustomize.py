"""Fault injection for tests/integration/test_resilience.py, without a hook in the product: a
controller started with this folder on PYTHONPATH and CC_TEST_DIE_WHEN=<file> fails on an
internal error (RuntimeError inside `App.run`) as soon as <file> exists, as a bug would.

Python imports `sitecustomize` at start-up, before the worktree is on sys.path: so nothing of
callcenter is imported here; an import hook patches `callcenter.app` when the controller loads it.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

TRIGGER = os.environ.get("CC_TEST_DIE_WHEN", "")


def _patch(app: Any) -> None:
    run = app.App.run

    async def run_until_the_trigger(self: Any) -> None:
        async def die() -> None:
            while not Path(TRIGGER).exists():
                await asyncio.sleep(0.1)
            raise RuntimeError(f"fault injected by the test: {TRIGGER} exists")

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run(self), name="controller")
            tasks.create_task(die(), name="injected fault")

    app.App.run = run_until_the_trigger


class _PatchApp(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "callcenter.app":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            _patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if TRIGGER:
    sys.meta_path.insert(0, _PatchApp())
