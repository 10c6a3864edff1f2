"""SMS's wiring: the provider, the service (inbound messages, delivery reports, replies, the
missed-call text after a call the caller gave up on, subscribed to CallStored) and its signed
webhooks (docs/sms.md)."""

from __future__ import annotations

import logging
from typing import Callable

from callcenter.channels.sms.provider import SmsProvider, provider_for
from callcenter.channels.sms.routes import SmsRoutes
from callcenter.channels.sms.service import SmsService
from callcenter.core import events as ev
from callcenter.core.feature import Feature, Route
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)


class SmsFeature(Feature):
    name = "sms"

    def __init__(self, deps: Deps, core: TicketCore, *, auth_token: Callable[[], str],
                 provider: SmsProvider | None = None) -> None:
        """`auth_token()`: the provider's secret (webhook signatures, sending); `provider`: where
        texts go (default: from `sms.provider`)."""
        self.config, self.auth_token = deps.config, auth_token
        self.provider = provider or provider_for(deps.config().sms, auth_token())
        self.service = SmsService(core.messages, self.provider, deps.config, deps.bus.publish, deps.clock)
        # Queued: the provider may take seconds to answer, and the call path must not wait for it.
        deps.bus.subscribe_queued("missed-call sms", self._call_stored, ev.CallStored, on_full="wait", maxsize=10_000)

    async def _call_stored(self, event: ev.CallStored) -> None:
        try:
            await self.service.missed_call(event.record, event.interaction["ticket_id"])
        except Exception:  # noqa: BLE001 - a follow-up that fails is logged; the call is stored
            log.exception("call %s: the missed-call SMS failed", event.record.call_id)

    def routes(self) -> list[Route]:
        return SmsRoutes(self.service, self.config, self.auth_token).table()
