"""The private PostgreSQL server of the tests (tests/conftest.py's pg_url): reachable with the URL it gives."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PG_PORT = int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 432


def test_url_shape(pg_url: str) -> None:
    url = urlsplit(pg_url)
    assert url.scheme == "postgresql+asyncpg"
    assert (url.username, url.hostname, url.port, url.path) == ("callcenter", "127.0.0.1", PG_PORT, "/callcenter")
    assert url.password and len(url.password) >= 24


async def test_asyncpg_roundtrip(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        version = await conn.fetchval("select version()")
        assert version.startswith("PostgreSQL ")
        assert await conn.fetchval("select current_user") == "callcenter"
        assert await conn.fetchval("select current_database()") == "callcenter"
        assert await conn.fetchval("show fsync") == "off"
        await conn.execute("create table pgcluster_smoke (id serial primary key, name text not null)")
        try:
            await conn.executemany("insert into pgcluster_smoke (name) values ($1)", [("alpha",), ("beta",)])
            rows = await conn.fetch("select id, name from pgcluster_smoke order by id")
            assert [(r["id"], r["name"]) for r in rows] == [(1, "alpha"), (2, "beta")]
        finally:
            await conn.execute("drop table pgcluster_smoke")
    finally:
        await conn.close()


async def test_sqlalchemy_url(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 40 + 2"))).scalar_one() == 42
    finally:
        await engine.dispose()


async def test_wrong_password_refused(pg_url: str) -> None:
    url = urlsplit(pg_url)
    try:
        await asyncpg.connect(host="127.0.0.1", port=url.port, user="callcenter", password="wrong", database="callcenter")
    except asyncpg.InvalidPasswordError:
        return
    raise AssertionError("a wrong password was accepted")
