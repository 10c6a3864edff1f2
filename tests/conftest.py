"""Fixtures for every test folder: a private PostgreSQL server (tests/support/pgcluster.py), started on first use."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgcluster import PgCluster, PgClusterError

# The real system (Asterisk + controller, started once per session) and its SIP phones.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """postgresql+asyncpg://callcenter:PASSWORD@127.0.0.1:PORT/callcenter: an empty database of a session-wide cluster."""
    port = int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 432  # beside the ports of tests/support/system.py
    cluster = PgCluster(tmp_path_factory.mktemp("postgres"), port)
    failure = ""
    try:
        url = cluster.start()
    except PgClusterError as e:
        failure = str(e)
    if failure:
        pytest.fail(failure, pytrace=False)  # a failure, never a skip: the tests need the database
    try:
        yield url
    finally:
        cluster.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store database: a SQLite file, or a fresh database on the test cluster."""
    from callcenter.tickets import db

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    else:
        import asyncpg  # only to create the database; the store itself goes through SQLAlchemy
        base = request.getfixturevalue("pg_url")
        name = f"store_{os.getpid()}_{next(_databases)}"

        async def create() -> None:
            conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
        asyncio.run(create())
        url = base.rsplit("/", 1)[0] + f"/{name}"
    db.upgrade(url)
    return url
