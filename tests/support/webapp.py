"""The real app of `app.build` for unit tests of the HTTP side: a fake AMI, a real SQLite store
(migrated), web logins synced, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from callcenter import app as app_mod
from callcenter.ami.testing import FakeAmi
from callcenter.channels.sms.provider import SmsProvider
from callcenter.config import parse_config
from callcenter.core.credentials import Credentials
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db


@contextlib.asynccontextmanager
async def running_app(config_text: str, folder: Path, sms_provider: SmsProvider | None = None, *,
                      store_url: str | None = None, store_thread: bool = False
                      ) -> AsyncIterator[tuple[TestClient, Credentials, app_mod.App]]:
    """(the HTTP client, the generated credentials, the running app) of `config_text`. Its SMTP
    receiver listens on a free port of its own (the tests send mail through `app.feature(EmailFeature).intake`).
    `store_url`: another database than SQLite in `folder`; `store_thread`: the store on its own
    thread, as `callcenter run` has it (benches)."""
    config = parse_config(config_text, file="test.yaml", env={})
    config = dataclasses.replace(config, email=dataclasses.replace(config.email, smtp_port=0))
    creds = Credentials.load_or_create(folder, config.agents)
    url = store_url or f"sqlite+aiosqlite:///{folder / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    if store_thread:
        store.store.start_thread()
    await store.open()
    app = app_mod.build(config, ami=FakeAmi([]), tickets=store, credentials=creds, sms_provider=sms_provider)
    await app.start()  # logins synced, chats loaded
    running = asyncio.create_task(app.run())  # the bus, the keepers, the chat desk
    client = TestClient(TestServer(app.web, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, creds, app
    finally:
        await client.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.stop()
        await store.close()
