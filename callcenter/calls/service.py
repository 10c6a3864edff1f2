"""What the routes and the CLI ask about calls: the live ones (the tracker) and the recent ones,
whether this controller saw them or only the store has them (from before a restart).

Plain dicts shaped for JSON; times are epoch seconds."""

from __future__ import annotations

from typing import Any

from callcenter.calls.tracker import CallTracker
from callcenter.core.errors import UnknownCall
from callcenter.tickets.core import TicketCore


class Calls:
    def __init__(self, tracker: CallTracker, store: TicketCore | None) -> None:
        self.tracker, self.store = tracker, store

    async def calls(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        """Live calls, and the `limit` most recent ended ones: those this controller saw (at once,
        in memory) and those in the store (from before a restart), newest first."""
        recent = [c.as_dict() for c in self.tracker.recent()[:max(0, limit)]]
        if self.store is not None:
            seen = {c["call_id"] for c in recent} | {c.call_id for c in self.tracker.active()}
            for row in await self.store.calls.recent(limit):
                if row["call_id"] not in seen and row["record"]:
                    recent.append({**row["record"], "customer_id": row["customer_id"], "ticket_id": row["ticket_id"]})
            recent.sort(key=lambda c: c["started_at"], reverse=True)
        return {"active": [c.as_dict() for c in self.tracker.active()], "recent": recent[:max(0, limit)]}

    async def call(self, call_id: str) -> dict[str, Any]:
        """One call: live (the tracker's record, and where the store put it) or stored. Errors:
        `unknown-call`."""
        record = self.tracker.get(call_id)
        row = await self.store.calls.get(call_id) if self.store is not None else None
        if record is not None:
            return {**record.as_dict(), **({"customer_id": row["customer_id"], "ticket_id": row["ticket_id"]}
                                           if row is not None else {})}
        if row is None or not row["record"]:
            raise UnknownCall(call_id)
        return {**row["record"], "customer_id": row["customer_id"], "ticket_id": row["ticket_id"]}

    async def agent_of(self, call_id: str) -> str | None:
        """The agent who took a call (live or stored), None if nobody did. Errors: `unknown-call`."""
        record = self.tracker.get(call_id)
        if record is not None:
            return record.agent
        stored = await self.store.calls.get(call_id) if self.store is not None else None
        if stored is None:
            raise UnknownCall(call_id)
        return stored["agent"] or None
