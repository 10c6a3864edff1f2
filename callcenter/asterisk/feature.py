"""Our Asterisk's wiring inside the controller: liveness (the heartbeat the dialplan trusts, the
resync after every (re)connect) and the SIP guard (bans of brute-force sources); the `asterisk`,
`ami`, `resync` and `security` parts of the status."""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from callcenter.ami import actions
from callcenter.ami.events import SecurityFailure
from callcenter.asterisk import liveness as liveness_mod
from callcenter.asterisk.liveness import Liveness
from callcenter.asterisk.sip_guard import Bouncer, Guard
from callcenter.calls.tracker import CallTracker
from callcenter.core.errors import CallcenterError
from callcenter.core.feature import Feature, Task
from callcenter.deps import Deps
from callcenter.ivr.sessions import IvrSessions
from callcenter.routing.dialer import CallbackDialer
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl

BanApplier = Callable[[list[str]], Awaitable[None]]


async def _no_bans(banned: list[str]) -> None:
    """Without an Asterisk of our own to configure (unit tests), bans are only counted."""


class AsteriskFeature(Feature):
    name = "asterisk"

    def __init__(self, deps: Deps, tracker: CallTracker, presence: Presence, queues: QueueControl,
                 sessions: IvrSessions, dialer: CallbackDialer, apply_bans: BanApplier | None = None) -> None:
        """`apply_bans(addresses)` makes Asterisk refuse SIP from banned addresses (`run()` renders
        them into pjsip.conf and reloads PJSIP)."""
        self.ami, self.clock = deps.ami, deps.clock
        self.liveness = Liveness(deps.ami, deps.bus, tracker, presence, queues, sessions, dialer,
                                 agents=lambda: list(deps.config().agents), clock=deps.clock)
        self.guard = Guard(deps.config().security)
        self.bouncer = Bouncer(self.guard, apply_bans or _no_bans, deps.clock)
        deps.bus.subscribe("liveness", self.liveness.on_event, *liveness_mod.EVENTS)
        deps.bus.subscribe("sip guard", self.bouncer.on_event, SecurityFailure)

    def tasks(self) -> list[Task]:
        return [(self.liveness.run(), "liveness"), (self.bouncer.run(), "sip guard")]

    async def asterisk_info(self) -> dict[str, Any]:
        """Version and uptime from Asterisk itself. Errors: AMI errors, ValueError (a date it did not send)."""
        settings = await self.ami.send(actions.core_settings())
        status = await self.ami.send(actions.core_status())
        started = time.mktime(time.strptime(f"{status.get('CoreStartupDate')} {status.get('CoreStartupTime')}",
                                            "%Y-%m-%d %H:%M:%S"))
        return {"version": settings.get("AsteriskVersion"), "started_at": started,
                "uptime_seconds": max(0, int(self.clock() - started)),
                "current_calls": int(status.get("CoreCurrentCalls", "0") or 0)}

    async def describe(self) -> dict[str, Any]:
        asterisk: dict[str, Any] = {"reachable": False}
        if self.ami.state == "connected":
            try:
                asterisk = {"reachable": True, **await self.asterisk_info()}
            except (CallcenterError, ValueError) as exc:
                asterisk = {"reachable": False, "error": str(exc)}
        resync = self.liveness.describe()
        return {"asterisk": asterisk,
                "ami": {"state": self.ami.state, "connected": self.ami.state == "connected",
                        "connected_since": self.ami.connected_since, "last_error": self.ami.last_error,
                        "resyncs": resync["resyncs"], "last_resync_at": resync["last_resync_at"]},
                "resync": resync, "security": self.guard.describe(self.clock())}

    async def stop(self) -> None:
        await self.liveness.clear_heartbeat()
