"""The real app of `app.build` for unit tests of the HTTP side: a fake AMI, a real SQLite store
(migrated), web logins synced, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from callcenter import app as app_mod
from callcenter.ami.testing import FakeAmi
from callcenter.config import parse_config
from callcenter.core.credentials import Credentials
from callcenter.tickets import TicketCore
from callcenter.tickets import db
from callcenter.web.server import make_app
from callcenter.workspace.routes import sync_logins


@contextlib.asynccontextmanager
async def running_app(config_text: str, folder: Path
                      ) -> AsyncIterator[tuple[TestClient, Credentials, app_mod.Callcenter]]:
    """(the HTTP client, the generated credentials, the running parts) of `config_text`."""
    config = parse_config(config_text, file="test.yaml", env={})
    creds = Credentials.load_or_create(folder, config.agents)
    url = f"sqlite+aiosqlite:///{folder / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    parts = app_mod.build(config, ami=FakeAmi([]), store=store)
    assert parts.accounts is not None
    await sync_logins(parts.accounts, config, creds)
    running = asyncio.create_task(parts.run())  # the bus, the keepers, the chat desk
    client = TestClient(TestServer(make_app(parts, creds.api_token, sms_token=lambda: creds.twilio_auth_token),
                                   host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, creds, parts
    finally:
        await client.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await store.close()
