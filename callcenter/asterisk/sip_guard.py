"""SIP brute force: count Asterisk's security events per source address, ban repeat offenders.

Asterisk reports every failed SIP authentication (`ChallengeResponseFailed`, `InvalidPassword`)
and every request for an endpoint that does not exist (`InvalidAccountID`) as an AMI security
event with the source (`RemoteAddress: IPV4/UDP/203.0.113.9/5060`). `Guard` is pure: it counts
failures per address in a sliding window and decides a ban after `threshold` of them; bans
end after `ban_seconds`. The I/O side (`Bouncer`) renders the banned addresses into PJSIP's own
ACL (`type = acl` in pjsip.conf, res_pjsip_acl) and reloads PJSIP, so Asterisk itself refuses
the source's requests. Exempt addresses (default: loopback 127.0.0.1 and ::1, so the demo and
the tests keep working) are counted but never banned.

What a real trunk deployment adds (docs/security.md): TLS for SIP and SRTP for media, a firewall that only
lets the carrier's and the agents' networks reach the SIP port, and this ban as a second line.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from callcenter.ami.events import SecurityFailure
from callcenter.asterisk.settings import SecuritySettings
from callcenter.core.timers import wait_for_change_or

log = logging.getLogger(__name__)


@dataclass
class Guard:
    """Failures per source address in a window; bans after `threshold`. Pure: events and `now` in."""

    settings: SecuritySettings
    failures: dict[str, collections.deque[float]] = field(default_factory=dict)
    totals: collections.Counter[str] = field(default_factory=collections.Counter)
    banned: dict[str, float] = field(default_factory=dict)  # address → ban end (epoch seconds)

    def exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.settings.exempt)

    def failed(self, address: str, now: float) -> bool:
        """One failure from `address`; True if that starts a ban."""
        self.totals[address] += 1
        window = self.failures.setdefault(address, collections.deque())
        window.append(now)
        while window and window[0] < now - self.settings.ban_window:
            window.popleft()
        if (self.settings.ban_threshold and len(window) >= self.settings.ban_threshold
                and address not in self.banned and not self.exempt(address)):
            self.banned[address] = now + self.settings.ban_seconds
            window.clear()
            return True
        return False

    def expire(self, now: float) -> list[str]:
        """Bans that ended by `now` (removed)."""
        ended = [a for a, until in self.banned.items() if until <= now]
        for address in ended:
            del self.banned[address]
        return ended

    def next_wakeup(self) -> float | None:
        return min(self.banned.values(), default=None)

    def describe(self, now: float) -> dict[str, Any]:
        return {"failures": dict(self.totals.most_common(20)),
                "banned": {a: round(until - now, 1) for a, until in sorted(self.banned.items())},
                "threshold": self.settings.ban_threshold, "window_seconds": self.settings.ban_window,
                "ban_seconds": self.settings.ban_seconds}


class Bouncer:
    """Feeds the Guard from the bus and makes Asterisk refuse banned addresses (`apply_bans`)."""

    def __init__(self, guard: Guard, apply_bans: Callable[[list[str]], Awaitable[None]],
                 clock: Callable[[], float]) -> None:
        self.guard, self.apply_bans, self.clock = guard, apply_bans, clock
        self._changed = asyncio.Event()

    def on_event(self, event: Any) -> None:
        """Inline subscriber: count; a new ban wakes the task that applies it."""
        if isinstance(event, SecurityFailure) and event.address:
            if self.guard.failed(event.address, self.clock()):
                log.warning("SIP: %d failures from %s within %g s (%s, last: %s): banned for %g s",
                            self.guard.settings.ban_threshold, event.address, self.guard.settings.ban_window,
                            event.kind, event.account, self.guard.settings.ban_seconds)
                self._changed.set()

    async def run(self) -> None:
        applied: list[str] = []
        while True:
            await wait_for_change_or(self._changed, self.guard.next_wakeup(), self.clock)
            for address in self.guard.expire(self.clock()):
                log.info("SIP: ban of %s ended", address)
            banned = sorted(self.guard.banned)
            if banned != applied:
                try:
                    await self.apply_bans(banned)
                    applied = banned
                except Exception:  # noqa: BLE001 - tried again at the next change or in a second
                    log.exception("could not apply the SIP bans %s; retrying", banned)
                    await asyncio.sleep(1.0)
                    self._changed.set()
