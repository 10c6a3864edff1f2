"""Login throttling (pure): at most `limit` failures per key (a name, an address) in `window`
seconds; then the key waits until its oldest failure leaves the window."""

from __future__ import annotations

from collections import deque


class LoginThrottle:
    """`limit` per name (`name:...` keys); addresses (`addr:...`) get `address_limit`: one person's
    typos behind a shared address must not lock everyone else out. A caller counts an attempt as
    failed *before* checking it (`failed`), and takes it back on success: parallel attempts are
    all counted."""

    def __init__(self, limit: int = 5, window: float = 300.0, max_keys: int = 100_000, address_limit: int = 30) -> None:
        self.limit, self.window, self.max_keys, self.address_limit = limit, window, max_keys, address_limit
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds to wait before trying again (0: go ahead)."""
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= (self.address_limit if key.startswith("addr:") else self.limit):
                wait = max(wait, failures[0] + self.window - now)
        return wait

    def failed(self, keys: list[str], now: float) -> None:
        if len(self._failures) >= self.max_keys:  # a flood of names: forget the oldest entries
            for key in list(self._failures)[: self.max_keys // 10]:
                del self._failures[key]
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, keys: list[str]) -> None:
        """A right password: the name's failures are forgotten; the address loses only this
        attempt's count."""
        for key in keys:
            if key.startswith("addr:"):
                failures = self._failures.get(key)
                if failures:
                    failures.pop()
            else:
                self._failures.pop(key, None)


class RateLimit:
    """At most `limit` hits per key in `window` seconds (public endpoints: per address, per
    visitor). Pure: the caller gives the time."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> bool:
        """Count a hit; False (not counted) when the key is over its limit."""
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:  # a flood of keys: forget the oldest
                for old in list(self._hits)[: self.max_keys // 10]:
                    del self._hits[old]
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True
