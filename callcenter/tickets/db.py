"""The store's database: the engine for `store.url`, sessions, and Alembic migrations.

SQLite (aiosqlite, the default: a file in the runtime folder, WAL so the API reads while the call
writer writes) and PostgreSQL (asyncpg) are the two supported backends; the URL decides. This is
the only module that creates engines; `callcenter/tickets/` is the only package that imports
SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from sqlalchemy import event, insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm.exc import StaleDataError

from callcenter.core.errors import Unavailable

log = logging.getLogger(__name__)

DRIVERS = {"sqlite+aiosqlite": "SQLite", "postgresql+asyncpg": "PostgreSQL"}
MIGRATIONS = Path(__file__).parent / "migrations"
ATTEMPTS = 8  # a write that lost a race is tried this many times in all (about 2 s at most)
T = TypeVar("T")


class StoreError(Unavailable):
    """A store that cannot be used: `bad-store-url`, `store-unavailable`, `store-not-migrated`.
    Only these: what the store refuses or does not find is an error of its kind (NotFound
    `unknown-ticket`, Conflict `ticket-conflict`, ...), never a StoreError."""


async def retried(write: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run `write` (one whole transaction) again, after a short random wait, when it lost a race:
    a ticket row whose version moved between its read and its UPDATE (another call step, message
    or edit committed meanwhile: StaleDataError), or a unique row another writer made first
    (IntegrityError: the retry finds it). The failed try was rolled back whole, so trying again
    writes nothing twice. After `attempts` the last error goes up. (On SQLite, Store.writing
    leaves only the unique-row race; on PostgreSQL both happen.)"""
    for attempt in range(attempts):
        try:
            return await write()
        except (IntegrityError, StaleDataError):
            if attempt == attempts - 1:
                raise
            # Spread out and growing (≤ 0.5 s each): many writers on one ticket do not collide again.
            await asyncio.sleep(random.uniform(0.005, min(0.5, 0.02 * 2 ** attempt)))
    raise AssertionError("unreachable")


async def insert_returning_ids(s: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` (column → value) of ORM class `model` in one statement (SQLAlchemy's
    "insertmanyvalues"); their new ids, in the order of `rows`."""
    if not rows:
        return []
    result = await s.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
    return [row[0] for row in result]


def default_url(runtime_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{runtime_dir / 'callcenter.db'}"


def parse_url(url: str, key: str = "store.url (or CALLCENTER_STORE_URL)") -> URL:
    """The URL if it names a supported backend. Errors: StoreError `bad-store-url` naming `key`
    (empty: the caller names it)."""
    key = f"{key}: " if key else ""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError("bad-store-url", f"{key}{url!r} is not a database URL ({exc})") from None
    if parsed.drivername not in DRIVERS:
        known = ", ".join(f"{d}://..." for d in DRIVERS)
        raise StoreError("bad-store-url", f"{key}driver {parsed.drivername!r} is not supported (use {known})")
    if parsed.drivername.startswith("sqlite") and (not parsed.database or parsed.database == ":memory:"
                                                   or parsed.database.startswith("file:")):
        raise StoreError("bad-store-url", f"{key}a SQLite URL needs a file (sqlite+aiosqlite:///path/callcenter.db): "
                         "the store must outlive the controller")
    return parsed


def anchored(url: str, base: Path) -> str:
    """A SQLite URL with a relative file made absolute against `base` (the config file's folder);
    other URLs as they are."""
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and not Path(parsed.database).is_absolute():
        return parsed.set(database=str((base / parsed.database).resolve())).render_as_string(hide_password=False)
    return url


def describe(url: str) -> str:
    """The URL with its password hidden, for logs and `status`."""
    return parse_url(url).render_as_string(hide_password=True)


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`. SQLite gets WAL, foreign keys and a busy timeout on every connection.
    Errors: StoreError `bad-store-url`."""
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        assert parsed.database
        folder = Path(parsed.database).parent
        if not folder.is_dir():  # never invent folders from a URL: a typo would go unnoticed
            raise StoreError("store-unavailable", f"store.url (or CALLCENTER_STORE_URL): the folder {folder} of "
                             f"{describe(url)} does not exist")
        engine = create_async_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL survives a crash
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
        return engine
    return create_async_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True)


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (Alembic). Blocking: call it in a thread from
    async code. Errors: StoreError `bad-store-url`, `store-unavailable` (cannot connect)."""
    from alembic import command
    parse_url(url)
    try:
        command.upgrade(_alembic_config(url), revision)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - refused connection, bad password, a file that is no database
        raise unavailable(url, exc) from None


def unavailable(url: str, exc: BaseException) -> StoreError:
    """`store-unavailable` in one line, naming the key and the URL (password hidden)."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    first = (str(cause).strip().splitlines() or [""])[0][:300]
    return StoreError("store-unavailable", f"store.url (or CALLCENTER_STORE_URL) {describe(url)}: cannot use the "
                      f"database: {type(cause).__name__}: {first}")


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated). Errors: SQLAlchemy's on no connection."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` (`base`: no tables). Blocking, like upgrade."""
    from alembic import command
    parse_url(url)
    command.downgrade(_alembic_config(url), revision)


def head() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory
    rev = ScriptDirectory.from_config(_alembic_config("")).get_current_head()
    assert rev is not None
    return rev
