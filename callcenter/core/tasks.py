"""Long-running work that must outlive its own bugs (docs/design.md#11: a Python bug never drops a
call): `guarded()` restarts a watcher that failed, with backoff, instead of ending the app."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


async def guarded(work: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `work()`; if it fails, log it and start it again after 1 s, 2 s, ... 30 s."""
    backoff = 1.0
    while True:
        try:
            await work()
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the crash policy: log, wait, go on
            log.exception("%s failed; restarting it in %g s", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)
