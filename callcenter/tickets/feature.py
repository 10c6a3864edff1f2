"""The ticket store's wiring: the call writer (every call step onto its customer's ticket, in
order), the CDR reconciliation after each resync, `/api/customers`, `/api/tickets`, merges and
retention; the `store` part of the status."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from callcenter.calls.recording import Recordings
from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route, StaticFolder
from callcenter.deps import Deps
from callcenter.tickets import calls as call_writing
from callcenter.tickets import db
from callcenter.tickets import routes as ticket_routes
from callcenter.tickets.calls import CallWriter
from callcenter.tickets.core import TicketCore
from callcenter.tickets.reconcile import CdrReconciler
from callcenter.tickets.store import StorePolicy
from callcenter.web.http import json_body
from callcenter.web.legacy import routes_of

log = logging.getLogger(__name__)

# "wait": the store never loses a step; its queue is deep enough for bursts of calls.
WRITER_QUEUE = 10_000


class TicketsFeature(Feature):
    name = "tickets"

    def __init__(self, deps: Deps, core: TicketCore, *, recordings: Recordings, tracker: CallTracker,
                 cdr_file: Path | None = None, on_voicemail: Callable[[], None] | None = None) -> None:
        """`cdr_file`: Asterisk's CDR file, read after each resync for calls that ended unseen;
        `on_voicemail()`: a voicemail was queued again for transcription (the worker wakes)."""
        self.core, self.on_voicemail = core, on_voicemail

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

    def routes(self) -> Sequence[Route | StaticFolder]:
        return routes_of(lambda app: ticket_routes.add_routes(app, self.core, json_body, self.on_voicemail))

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
