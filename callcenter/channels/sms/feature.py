"""SMS's wiring: the provider, its signed webhooks (inbound messages, delivery reports), replies on
tickets, the missed-call text after a call the caller gave up on."""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from callcenter.channels.email.intake import MailIntake
from callcenter.channels.sms import routes as sms_routes
from callcenter.channels.sms.missed_call import missed_call_sms
from callcenter.channels.sms.provider import SmsProvider, provider_for
from callcenter.core import events as ev
from callcenter.core.feature import Feature, Route, StaticFolder
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore
from callcenter.web.http import json_body
from callcenter.web.legacy import routes_of

log = logging.getLogger(__name__)


class SmsFeature(Feature):
    name = "sms"

    def __init__(self, deps: Deps, core: TicketCore, *, auth_token: Callable[[], str],
                 provider: SmsProvider | None = None,
                 intake: Callable[[], MailIntake | None] = lambda: None) -> None:
        """`auth_token()`: the provider's secret (webhook signatures, sending); `provider`: where
        texts go (default: from `sms.provider`)."""
        self.deps, self.core, self.auth_token, self.intake = deps, core, auth_token, intake
        self.provider = provider or provider_for(deps.config().sms, auth_token())
        deps.bus.subscribe_queued("missed-call sms", self._call_stored, ev.CallStored, on_full="wait", maxsize=10_000)

    async def _call_stored(self, event: ev.CallStored) -> None:
        try:
            await missed_call_sms(event.record, event.interaction, config=self.deps.config,  # type: ignore[arg-type]
                                  messages=self.core.messages, provider=lambda: self.provider)
        except Exception:  # noqa: BLE001 - a follow-up that fails is logged; the call is stored
            log.exception("call %s: the missed-call SMS failed", event.record.call_id)

    def routes(self) -> Sequence[Route | StaticFolder]:
        return routes_of(lambda app: sms_routes.add_routes(
            app, messages=self.core.messages, provider=self.provider, config=self.deps.config, token=self.auth_token,
            publish=self.deps.bus.publish, json_body=json_body, clock=self.deps.clock, intake=self.intake))
