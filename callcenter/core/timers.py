"""Waking when the pure core says (aioquic's `get_timer()`): a change, or the next due time."""

from __future__ import annotations

import asyncio
from typing import Callable

MARGIN = 0.02  # seconds after the due time: the core's `now >= due` holds when we look


async def wait_for_change_or(change: asyncio.Event, wakeup: float | None, clock: Callable[[], float]) -> None:
    """Wait until `change` is set or the epoch time `wakeup` comes (None: no due time), then clear
    `change`. Used by the wrap-up timer, the callback dialer and the SIP guard."""
    timeout = None if wakeup is None else max(0.0, wakeup - clock()) + MARGIN
    try:
        async with asyncio.timeout(timeout):
            await change.wait()
    except TimeoutError:
        pass
    change.clear()
