"""The shape of a feature, as `app.build()` wires it (one `feature.py` in each feature folder).

A feature builds its parts in its constructor from typed dependencies (the shared ones in
`callcenter/deps.py`, other features' parts as named arguments) and subscribes them on the bus
there. Then the app asks each feature, in one order:
- `routes()`: its HTTP routes, each with who may use it (`Route`), mounted by web/server.py;
- `start()`: what must be ready before the system says it is running (a port bound, state loaded);
- `tasks()`: what runs until the stop (named coroutines, run in one task group);
- `describe()`: its part of `/api/status` (top-level keys of that document);
- `apply_config()`: a live reload happened (read the configuration in force again);
- `stop()`: let go of what `start()` took.
Every method has a default that does nothing, so a feature writes only what it has.
(wazo-calld's plugins and mitmproxy's addons have this shape, in one process.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Literal, Sequence

from aiohttp import web

Task = tuple[Coroutine[Any, Any, None], str]
# Who may use a route under /api/: anyone, an agent (the handler checks it is their own call,
# ticket, presence), a supervisor (the default) or an admin. Routes outside /api/ (pages, the chat
# widget, providers' webhooks) are public and check their callers themselves.
Access = Literal["public", "agent", "supervisor", "admin"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One HTTP route of a feature: `method` (GET, POST, ..., or * for a static folder), `path`
    (aiohttp's pattern, `/api/tickets/{id}`), the handler, and who may use it."""

    method: str
    path: str
    handler: Handler
    access: Access = "supervisor"


@dataclass(frozen=True)
class StaticFolder:
    """Files served as they are under `prefix` (`/static/`): the pages' scripts and styles. Public,
    nothing outside `folder` (no symlinks followed, no listing)."""

    prefix: str
    folder: Path


class Feature:
    """Base of every feature's wiring; see the module's docstring."""

    name = "feature"

    def routes(self) -> Sequence[Route | StaticFolder]:
        return ()

    async def start(self) -> None:
        """Before the system is announced as running. Errors stop the start."""

    def tasks(self) -> list[Task]:
        return []

    async def describe(self) -> dict[str, Any]:
        return {}

    async def apply_config(self) -> None:
        """The configuration in force changed (already validated and loaded into Asterisk)."""

    async def stop(self) -> None:
        """At the stop, in reverse order of the features."""
