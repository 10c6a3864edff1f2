"""The ticket store: one customer, one file (SQLAlchemy 2 async; SQLite or PostgreSQL).

`schema.py` the tables, `migrations/` their Alembic history, `db.py` engines and migrations,
`identity.py` phone/email normalization (pure), `rules.py` ticket rules (pure), `store.py` the
operations, `calls.py` the bus subscriber that writes calls. Nothing outside this package imports
SQLAlchemy or phonenumbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.tickets.rules import SlaTarget
from callcenter.tickets.store import Store, StorePolicy

if TYPE_CHECKING:
    from callcenter.tickets.settings import StoreSettings

__all__ = ["Store", "StorePolicy", "policy"]


def policy(settings: "StoreSettings", recording_roots: tuple[Path, ...] = ()) -> StorePolicy:
    """The store's policy from callcenter.yaml's `store:` section; `recording_roots`: the folders
    retention may delete recordings from."""
    return StorePolicy(default_region=settings.default_region, reopen_days=settings.reopen_days,
                       sla={k: SlaTarget(v.first_response, v.resolution) for k, v in settings.sla.items()},
                       retention_days=dict(settings.retention_days), recording_roots=recording_roots)
