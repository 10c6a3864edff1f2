"""The OpenAPI description names every route the API serves, with the same methods."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter import app as app_mod
from callcenter.config import parse_config
from callcenter.tickets.core import TicketCore
from callcenter.tickets import db
from callcenter.web.openapi import SPEC
from callcenter.ami.testing import FakeAmi
from tests.support.config import CONFIG


async def test_every_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    store = TicketCore.build(url)
    await store.open()
    web_app = app_mod.build(config, ami=FakeAmi([]), tickets=store).web
    await store.close()
    served = {(r.method.lower(), r.resource.canonical) for r in web_app.router.routes()  # type: ignore[union-attr]
              if r.method != "HEAD" and r.resource.canonical.startswith(("/api/", "/webhooks/", "/chat/"))}  # type: ignore[union-attr]
    assert {"/", "/login", "/wallboard"} <= {r.resource.canonical for r in web_app.router.routes()}  # type: ignore[union-attr]
    described = {(method, path) for path, ops in SPEC["paths"].items() for method in ops}
    assert served == described
    assert SPEC["openapi"].startswith("3.1")
