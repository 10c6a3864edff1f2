"""The ticket store's wiring: the call writer (every call step onto its customer's ticket, in
order), the CDR reconciliation after each resync, `/api/customers`, `/api/tickets`, merges and
retention (tickets/routes.py; docs/tickets.md); the `store` part of the status."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from callcenter.calls.recording import Recordings
from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route
from callcenter.deps import Deps
from callcenter.tickets import calls as call_writing
from callcenter.tickets import db
from callcenter.tickets.calls import CallWriter
from callcenter.tickets.core import TicketCore
from callcenter.tickets.reconcile import CdrReconciler
from callcenter.tickets.routes import CustomerRoutes, TicketRoutes
from callcenter.tickets.store import StorePolicy

log = logging.getLogger(__name__)

# "wait": the store never loses a step; its queue is deep enough for bursts of calls.
WRITER_QUEUE = 10_000


class TicketsFeature(Feature):
    name = "tickets"

    def __init__(self, deps: Deps, core: TicketCore, *, recordings: Recordings, tracker: CallTracker,
                 cdr_file: Path | None = None) -> None:
        """`cdr_file`: Asterisk's CDR file, read after each resync for calls that ended unseen."""
        self.core = core

        def topic_of(did: str) -> str:
            return call_writing.topic(deps.config().dids, did)

        reconciler = None
        if cdr_file is not None:
            # The controller's own calls (live, or seen to their end) are the writer's; the CDR
            # fills in only what it did not see.
            reconciler = CdrReconciler(core, cdr_file, agents=lambda: list(deps.config().agents),
                                       live=lambda: {c.call_id for c in tracker.active() + tracker.recent()},
                                       topic_of=topic_of, recording_of=recordings.path_of)
        self.writer = CallWriter(core, topic_of, publish=deps.bus.publish, recording_of=recordings.path_of,
                                 transcription_language=lambda: deps.config().speech.language,
                                 after_resync=reconciler.run_once if reconciler is not None else None)
        deps.bus.subscribe_queued("store", self.writer.on_event, *call_writing.EVENTS, on_full="wait",
                                  maxsize=WRITER_QUEUE)

    def routes(self) -> list[Route]:
        return [*CustomerRoutes(self.core).table(), *TicketRoutes(self.core).table()]

    async def describe(self) -> dict[str, Any]:
        return {"store": self.core.describe()}


async def open_core(url: str, policy: StorePolicy) -> TicketCore:
    """The store at `url`, migrated to this code's schema (Alembic; idempotent) and opened.
    Errors: StoreError `bad-store-url`, `store-unavailable`, `store-not-migrated`."""
    await asyncio.to_thread(db.upgrade, url)
    core = TicketCore.build(url, policy)
    try:
        await core.open()
    except BaseException:
        await core.close()
        raise
    log.info("store: %s", db.describe(url))
    return core
