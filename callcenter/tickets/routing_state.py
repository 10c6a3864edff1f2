"""The routing state kept in the store: queue callback requests (routing/callbacks.py) and named
documents (the routing state's JSON text, routing/queues.py). Their owners keep them in memory
and hand each changed row to a Keeper (keeper.py), which writes it here in order.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select

from callcenter.tickets.schema import CallbackRequestRow, Document
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop


@on_store_loop
class RoutingState:
    """Callback requests and named documents of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def save_callback(self, row: Mapping[str, Any]) -> None:
        """Insert or update one callback request (the fields of routing.callbacks.CallbackRequest;
        others are ignored)."""
        fields = {c.key for c in CallbackRequestRow.__table__.columns}
        values = {k: v for k, v in row.items() if k in fields}
        values["last_error"] = str(values.get("last_error", ""))[:300]
        async with self.store.writing() as s:
            existing = await s.get(CallbackRequestRow, values["id"])
            if existing is None:
                s.add(CallbackRequestRow(**values))
            else:
                for key, value in values.items():
                    setattr(existing, key, value)
            self.store.writes += 1

    async def callback_requests(self) -> list[dict[str, Any]]:
        """Every callback request (the fields of CallbackRequest), oldest place first."""
        async with self.store.session() as s:
            rows = (await s.execute(select(CallbackRequestRow).order_by(CallbackRequestRow.joined_at))).scalars()
            return [{c.key: getattr(r, c.key) for c in CallbackRequestRow.__table__.columns} for r in rows]

    async def save_document(self, row: Mapping[str, Any]) -> None:
        """Keep a named text (`{"id": name, "body": text}`, what a routing Keeper hands over)."""
        async with self.store.writing() as s:
            existing = await s.get(Document, row["id"])
            if existing is None:
                s.add(Document(name=row["id"], body=row["body"], updated_at=self.store.clock()))
            else:
                existing.body, existing.updated_at = row["body"], self.store.clock()
            self.store.writes += 1

    async def document(self, name: str) -> str | None:
        """The text kept as `name`, or None."""
        async with self.store.session() as s:
            found = await s.get(Document, name)
            return None if found is None else found.body
