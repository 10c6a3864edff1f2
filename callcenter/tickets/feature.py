"""The ticket store's wiring: the call writer (every call step onto its customer's ticket, in
order), the CDR reconciliation after each resync, `/api/customers`, `/api/tickets`, merges and
retention (tickets/routes.py; docs/tickets.md); the `store` part of the status."""

from __future__ import annotations

import asyncio
import time
import logging
from pathlib import Path
from typing import Any

from callcenter.calls.recording import Recordings
from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.tickets import calls as call_writing
from callcenter.tickets import db
from callcenter.tickets import terms
from callcenter.tickets.calls import CallLog
from callcenter.tickets.core import TicketCore
from callcenter.tickets.reconcile import CdrReconciler
from callcenter.tickets.routes import CustomerRoutes, TicketRoutes
from callcenter.tickets.store import StorePolicy

log = logging.getLogger(__name__)


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
            # The controller's own calls (live, or seen to their end and written) are the log's; the
            # CDR fills in only what it did not see or could not write.
            reconciler = CdrReconciler(core, cdr_file, agents=lambda: list(deps.config().agents),
                                       live=lambda: {c.call_id for c in tracker.active()} |
                                       ({c.call_id for c in tracker.recent()} - self.log.unwritten),
                                       topic_of=topic_of, recording_of=recordings.path_of)

        def settings() -> tuple[str, int, str]:
            config = deps.config()
            return config.store.short_calls, config.store.backlog, config.speech.language

        self.log = CallLog(core, topic_of, settings=settings, publish=deps.bus.publish, recording_of=recordings.path_of,
                           reconcile=reconciler.run_once if reconciler is not None else None)
        # Inline: holding an event costs an append; the pump and the IVR never wait on the store.
        deps.bus.subscribe("store", self.log.on_event, *call_writing.EVENTS)

    async def start(self) -> None:
        await self.core.phones.refresh()  # the IVR's caller lookup knows the store's numbers from the first call
        # jieba's dictionary (about 1 s to load) before the first message is indexed: in a thread,
        # so neither this loop nor the store's waits for it.
        await asyncio.to_thread(terms.initialize)

    def tasks(self) -> list[Task]:
        return [(self.log.run(), "call log"), (self.core.phones.run(), "known phone numbers")]

    def routes(self) -> list[Route]:
        return [*CustomerRoutes(self.core).table(), *TicketRoutes(self.core).table()]

    async def describe(self) -> dict[str, Any]:
        store: dict[str, Any] = {**self.core.describe(), **self.log.describe(), **self.core.phones.describe()}
        refused = store["refused"]
        if refused is not None:  # the call log waits on the database: say so where status shows problems
            waiting = f"call events wait since {time.strftime('%H:%M:%S', time.localtime(refused['since']))}"
            store["problem"] = "; ".join(p for p in (store.get("problem"), f"{refused['error']} ({waiting})") if p)
        return {"store": store}


async def open_core(url: str, policy: StorePolicy) -> TicketCore:
    """The store at `url`, migrated to this code's schema (Alembic; idempotent), opened, on its own
    thread.
    Errors: StoreError `bad-store-url`, `store-unavailable`, `store-not-migrated`."""
    await asyncio.to_thread(db.upgrade, url)
    core = TicketCore.build(url, policy)
    core.store.start_thread()  # the store's work off the controller's loop (tickets/runner.py)
    try:
        await core.open()
    except BaseException:
        await core.close()
        raise
    log.info("store: %s", db.describe(url))
    return core
