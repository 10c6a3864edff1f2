"""Fixtures for every test folder: a private PostgreSQL server (tests/support/pgcluster.py), started on first use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.pgcluster import PgCluster, PgClusterError


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
