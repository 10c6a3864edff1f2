"""The browser softphone's wiring: its routes (`/api/softphone`, `/api/agents/{name}/phone`) and
the phone choice kept in routing's state (docs/softphone.md)."""

from __future__ import annotations

from typing import Callable

from callcenter.core.feature import Feature, Route
from callcenter.deps import Deps
from callcenter.routing.presence import Presence
from callcenter.routing.queues import QueueControl
from callcenter.softphone.routes import SoftphoneRoutes
from callcenter.softphone.service import Softphone


class SoftphoneFeature(Feature):
    name = "softphone"

    def __init__(self, deps: Deps, *, queues: QueueControl, presence: Presence,
                 sip_password: Callable[[str], str]) -> None:
        self.softphone = Softphone(deps.config, queues, presence, deps.bus.publish, deps.clock, sip_password)

    def routes(self) -> list[Route]:
        return SoftphoneRoutes(self.softphone).table()
