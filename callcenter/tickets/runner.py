"""The ticket store's own thread: an event loop where every SQL statement and ORM object of the
store lives, so the controller's loop (AMI, every caller's IVR, the pages) never runs the store's
work (docs/design.md#14: voice first). Measured before it existed: a burst of 1,000 callers made the
store's ORM work take 42 % of a core on the loop that also answers the callers' key presses, and
425 of them missed the menu (docs/design.md#budgets).

`StoreRunner.start()` starts the thread. The aggregates' public coroutines (classes marked
`@on_store_loop`) then run there, awaited from any loop: the caller's task waits without blocking
its loop, and a cancelled wait (a lookup's timeout) cancels the work in the store's loop. Without a
started runner (unit tests, the CLI's `db upgrade`) they run where they are called.

Python's GIL is shared: the store's CPU work still competes for the interpreter, but in slices
(sys.getswitchinterval(), 5 ms), never for a whole transaction of the controller's loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any, Callable, Coroutine, Protocol, TypeVar

T = TypeVar("T")
C = TypeVar("C", bound=type)


class StoreRunner:
    """An event loop in a thread of its own (`start()`, `stop()`), and `run(coro)` to await a
    coroutine there from another loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread and its loop (returns once the loop runs)."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="ticket store", daemon=True)
        self._thread.start()
        ready.wait()

    def elsewhere(self) -> bool:
        """True when the runner's loop runs and the caller is not on it (its work must hop)."""
        if self.loop is None:
            return False
        try:
            return asyncio.get_running_loop() is not self.loop
        except RuntimeError:  # no running loop: a synchronous caller
            return True

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the store's loop. Cancelling this wait cancels it there."""
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (its tasks cancelled) and join the thread."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self.loop = self._thread = None


class _OnStore(Protocol):
    runner: StoreRunner


class _HasStore(Protocol):
    store: _OnStore


def on_store_loop(cls: C) -> C:
    """Make every public coroutine method of `cls` run on its store's runner loop when one runs
    (the instances have a `.store` with a `.runner`: the aggregates of tickets/)."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, _forwarded(method))
    return cls


def _forwarded(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def forward(self: _HasStore, *args: Any, **kwargs: Any) -> T:
        runner = self.store.runner
        if runner.elsewhere():
            return await runner.run(method(self, *args, **kwargs))
        return await method(self, *args, **kwargs)
    return forward
