"""Ordered, retried writes of small state rows (callback requests, the routing state) into the store.

The owner changes its state in memory at once (in stream order, from inline subscribers too) and
hands each changed row to `put()`; one task writes them in that order, retrying with backoff
while the database refuses. `flush()` waits until everything handed so far is written: the
callback dialer awaits it before sending an Originate, so `dialing` is durable first.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between tries; then every 5 s until it is written


class Keeper:
    def __init__(self, name: str, write: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.name, self.write = name, write
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def put(self, row: dict[str, Any]) -> None:
        self._queue.put_nowait(dict(row))

    async def flush(self) -> None:
        await self._queue.join()

    async def run(self) -> None:
        while True:
            row = await self._queue.get()
            try:
                for attempt in itertools.count():
                    try:
                        await self.write(row)
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - kept until it is written
                        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                        log.warning("%s: cannot write %s (%s: %s); retrying in %g s", self.name, row.get("id"),
                                    type(exc).__name__, exc, delay)
                        await asyncio.sleep(delay)
            finally:
                self._queue.task_done()
