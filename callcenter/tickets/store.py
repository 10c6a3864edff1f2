"""The ticket store's database and its unit of work: one `Store` per URL (SQLite or PostgreSQL).

`Store.writing()` is the one way to write: one transaction, committed at its end, taken so that
nothing it read changes before it commits (see there). `Store.session()` reads. The aggregates
(customers.py, tickets.py, interactions.py, jobs.py, retention.py, routing_state.py, messages.py,
chats.py, accounts.py) each run their operations through one Store; core.py puts them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callcenter.ivr.schedule import Schedule
from callcenter.tickets import db
from callcenter.tickets.rows import StoreDescription
from callcenter.tickets.rules import SlaTarget
from callcenter.tickets.runner import StoreRunner
from callcenter.tickets.sla import Escalation, SlaPolicy
from callcenter.tickets.settings import SlaSettings, StoreSettings


@dataclass(frozen=True)
class StorePolicy:
    """What the config says about the store (config.StoreSettings, resolved), and about SLAs
    (`sla`: targets, at-risk share, each queue's calendar, escalation; replaced at a live reload)."""

    default_region: str = "US"
    reopen_days: int = 7
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    retention_days: Mapping[str, int] = field(default_factory=dict)  # recordings | transcripts | bodies → days
    # The only folders retention may delete files from (Asterisk's recordings and voicemail): a
    # path in the database is never trusted to name a file to delete.
    recording_roots: tuple[Path, ...] = ()


class Store:
    """The ticket store at one URL: its engine, its sessions, its policy and clock (epoch
    seconds), and `writes`, the transactions committed (status, benches). `open()` checks it is
    reachable and migrated."""

    def __init__(self, url: str, policy: StorePolicy = StorePolicy(), clock: Callable[[], float] = time.time) -> None:
        self.url, self.policy, self.clock = url, policy, clock
        self.engine: AsyncEngine = db.create_engine(url)
        self._sessions = db.sessions(self.engine)
        self.sqlite = db.parse_url(url).drivername.startswith("sqlite")  # else PostgreSQL
        self._writer = asyncio.Lock()  # SQLite: one write transaction at a time (Store.writing)
        self.writes = 0
        # The store's own thread and loop (tickets/runner.py), once `start_thread()` ran; until then
        # every operation runs on its caller's loop.
        self.runner = StoreRunner()

    def start_thread(self) -> None:
        """Run every operation of this store on a thread and event loop of its own from now on
        (before its first use: the engine's connections belong to the loop that opens them)."""
        self.runner.start()

    async def open(self) -> None:
        """Errors: StoreError `store-unavailable` (cannot connect), `store-not-migrated`."""
        if self.runner.elsewhere():
            return await self.runner.run(self.open())
        try:
            revision = await db.current(self.engine)
        except Exception as exc:  # noqa: BLE001 - any driver error means the same to the user
            raise db.unavailable(self.url, exc) from None
        if revision != db.head():
            raise db.StoreError("store-not-migrated", f"the store {db.describe(self.url)} is at revision "
                                f"{revision or 'none'}, this code needs {db.head()}: run `callcenter db upgrade`")

    async def close(self) -> None:
        """Close the engine's connections and stop the store's thread (the Store is not used after)."""
        if self.runner.elsewhere():
            await self.runner.run(self.engine.dispose())
            await asyncio.to_thread(self.runner.stop)
            return
        await self.engine.dispose()

    def describe(self) -> StoreDescription:
        """For `status`: the URL (password hidden), transactions written, and a problem seen
        from outside the database (a SQLite file deleted under the running controller)."""
        parsed = db.parse_url(self.url)
        problem = ""
        if parsed.drivername.startswith("sqlite") and parsed.database and not Path(parsed.database).exists():
            problem = f"the database file {parsed.database} is gone: writes go nowhere; restore it and restart"
        return {"url": db.describe(self.url), "writes": self.writes, "problem": problem}

    def session(self) -> AsyncSession:
        """A session for reading (each statement sees what is committed)."""
        return self._sessions()

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed at the end (rolled back on an error).
        SQLite: the database's write lock is taken first (BEGIN IMMEDIATE), so nothing the
        transaction reads changes before it commits: no ticket version race, no second ticket for
        one customer. (pysqlite would begin at the first INSERT/UPDATE, after the reads; SQLite
        has one writer at a time anyway.) PostgreSQL: rows that must not move are read FOR UPDATE."""
        if not self.sqlite:
            async with self.session() as s, s.begin():
                yield s
            return
        # This process's writers queue here, handed the lock in turn the moment it is free; only
        # another process (the CLI) meets SQLite's busy handler, which polls with sleeps of up to
        # 100 ms (measured: p95 of SMS → ticket 244 ms without this queue).
        async with self._writer, self.session() as s, s.begin():
            await s.execute(text("BEGIN IMMEDIATE"))
            yield s


def policy(settings: StoreSettings, recording_roots: tuple[Path, ...] = (), sla: SlaPolicy = SlaPolicy()
           ) -> StorePolicy:
    """The store's policy from callcenter.yaml's `store:` section; `recording_roots`: the folders
    retention may delete recordings from; `sla`: the SLA policy (`sla_policy()`)."""
    return StorePolicy(default_region=settings.default_region, reopen_days=settings.reopen_days, sla=sla,
                       retention_days=dict(settings.retention_days), recording_roots=recording_roots)


def sla_policy(settings: SlaSettings, calendars: Mapping[str, Schedule],
               queue_calendars: Mapping[str, str]) -> SlaPolicy:
    """The SLA policy from the `sla:` section, the `calendars:` (name → Schedule) and each queue's
    calendar (`queue_calendars`: queue → calendar name, "" none: 24/7). A name not in `calendars`
    (a config not checked) counts 24/7."""
    return SlaPolicy(
        targets={k: SlaTarget(v.first_response, v.resolution) for k, v in settings.targets.items()},
        at_risk_percent=settings.at_risk_percent,
        hours={queue: calendars[name] for queue, name in queue_calendars.items() if name in calendars},
        escalation=tuple(Escalation(r.when, frozenset(r.channels), frozenset(r.priorities), r.notify,
                                    r.raise_priority, r.reassign) for r in settings.escalation))
