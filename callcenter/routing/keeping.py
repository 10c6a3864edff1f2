"""Where routing keeps its durable state (callback requests, memberships and pauses).

With a ticket store, a `Keeper` (callcenter/tickets/keeper.py) writes each changed row in order
and `flush()` waits until all is written; without one, each owner rewrites its JSON file in the
runtime folder at every change.
"""

from __future__ import annotations

from typing import Any, Protocol


class Keeper(Protocol):
    def put(self, row: dict[str, Any]) -> None:
        """Hand over a changed row (`id` names it); written soon, in order."""

    async def flush(self) -> None:
        """Return once every row handed over so far is written."""
