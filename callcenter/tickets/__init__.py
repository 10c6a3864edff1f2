"""The ticket store: one customer, one file (SQLAlchemy 2 async; SQLite or PostgreSQL).

`TicketCore` (core.py) is what the rest of the controller holds: the store and one object per
aggregate. `schema.py` the tables, `migrations/` their Alembic history, `db.py` engines and
migrations, `store.py` the database and its unit of work, `rows.py` the rows returned,
`inputs.py` the checks of outside input, `identity.py` phone/email normalization (pure),
`rules.py` ticket rules (pure). The aggregates: `customers.py` (and merges), `tickets.py`,
`interactions.py` (calls), `jobs.py` (voicemail transcription), `retention.py`,
`routing_state.py`, `messages.py` (SMS, email), `chats.py`, `accounts.py` (web users). `calls.py`
is the bus subscriber that writes calls, `reconcile.py` the CDR reconciliation, `routes.py` and
`cli.py` the REST API and the CLI. Nothing outside this package imports SQLAlchemy or
phonenumbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.tickets.core import TicketCore
from callcenter.tickets.rules import SlaTarget
from callcenter.tickets.store import Store, StorePolicy

if TYPE_CHECKING:
    from callcenter.tickets.settings import StoreSettings

__all__ = ["Store", "StorePolicy", "TicketCore", "policy"]


def policy(settings: "StoreSettings", recording_roots: tuple[Path, ...] = ()) -> StorePolicy:
    """The store's policy from callcenter.yaml's `store:` section; `recording_roots`: the folders
    retention may delete recordings from."""
    return StorePolicy(default_region=settings.default_region, reopen_days=settings.reopen_days,
                       sla={k: SlaTarget(v.first_response, v.resolution) for k, v in settings.sla.items()},
                       retention_days=dict(settings.retention_days), recording_roots=recording_roots)
