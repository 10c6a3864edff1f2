"""The ticket store's wiring: the call writer (every call step onto its customer's ticket, in
order), the CDR reconciliation after each resync, the SLA pass (every SLA_PASS_SECONDS: at risk,
breached, escalation), `/api/customers`, `/api/tickets`, merges and retention (tickets/routes.py;
docs/tickets.md); the `store` part of the status."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from callcenter.calls.recording import Recordings
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core import events as ev
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.tickets import calls as call_writing
from callcenter.tickets import db
from callcenter.tickets import terms
from callcenter.tickets.calls import CallLog
from callcenter.tickets.core import TicketCore
from callcenter.tickets.reconcile import CdrReconciler
from callcenter.tickets.routes import CustomerRoutes, TicketRoutes
from callcenter.tickets.sla import SlaPolicy
from callcenter.tickets.store import StorePolicy, sla_policy

log = logging.getLogger(__name__)
SLA_PASS_SECONDS = 30.0  # how often open tickets' SLA states are looked at (targets are minutes)


class TicketsFeature(Feature):
    name = "tickets"

    def __init__(self, deps: Deps, core: TicketCore, *, recordings: Recordings, tracker: CallTracker,
                 cdr_file: Path | None = None) -> None:
        """`cdr_file`: Asterisk's CDR file, read after each resync for calls that ended unseen."""
        self.core, self.deps = core, deps

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
        return [(self.log.run(), "call log"), (self.core.phones.run(), "known phone numbers"),
                (sla_passes(self.core, self.deps.clock, self.deps.bus.publish), "SLA escalation")]

    async def apply_config(self) -> None:
        """New calendars, targets and rules: the due times of the tickets not done are computed
        again with them (else a ticket due at night by a 24/7 target would be measured against an
        office calendar: at risk at once)."""
        store = self.core.store
        policy = sla_of(self.deps.config())
        if policy == store.policy.sla:
            return
        store.policy = dataclasses.replace(store.policy, sla=policy)
        changed = await self.core.tickets.reschedule()
        log.info("SLA policy changed: due times of %d open tickets computed again", changed)

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


def sla_of(config: Config) -> SlaPolicy:
    """The SLA policy of `config`: its `sla:` section, `calendars:` and each queue's calendar."""
    return sla_policy(config.sla, config.calendars, {name: q.calendar for name, q in config.queues.items()})


async def sla_passes(core: TicketCore, clock: Callable[[], float], publish: Callable[[Any], Awaitable[None]],
                     interval: float = SLA_PASS_SECONDS) -> None:
    """Every `interval` seconds, until cancelled: the store's SLA pass (Tickets.escalate). A ticket
    escalated with `notify` is published as a WorkChanged of reason `sla_at_risk` or `sla_breached`
    (the inbox tells supervisors); one reassigned without it as `unassigned` (naming the agent it
    was taken from), so routing offers it again at once. A pass that fails is logged and the next
    one tries again."""
    while True:
        await asyncio.sleep(interval)
        now = clock()
        try:
            escalated = await core.tickets.escalate(now)
        except Exception:  # noqa: BLE001 - the store is away or a bug: the next pass tries again
            log.exception("SLA pass failed; trying again in %.0f s", interval)
            continue
        for e in escalated:
            if e.notify:
                await publish(ev.WorkChanged(e.ticket_id, e.queue, reason=f"sla_{e.state}", agent="", at=now))
            elif e.reassigned_from:
                await publish(ev.WorkChanged(e.ticket_id, e.queue, reason="unassigned", agent=e.reassigned_from,
                                             at=now))
