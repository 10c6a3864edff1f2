"""Alembic's environment for the store: async engines (aiosqlite, asyncpg), URL from the caller
(`callcenter.tickets.db.upgrade`), never from a file."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

from callcenter.tickets.db import create_engine
from callcenter.tickets.schema import Base

config = context.config
target_metadata = Base.metadata


def _migrate(connection: Any) -> None:
    # render_as_batch: SQLite alters tables by copying them (ALTER COLUMN is not supported there).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    engine = create_engine(config.attributes["url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run `callcenter db upgrade`")
asyncio.run(_run())
