"""What every feature is built from: `Deps`, made once by `app.build()`.

Other features' parts a feature needs are named arguments of its constructor (e.g. chat gets
routing's click-to-call); what happened elsewhere reaches it as events on the bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from callcenter.ami.port import AmiPort
from callcenter.config import Config
from callcenter.core.bus import Bus
from callcenter.tickets.core import TicketCore


@dataclass(frozen=True)
class Deps:
    config: Callable[[], Config]  # the configuration in force (a live reload changes what it returns)
    clock: Callable[[], float]  # epoch seconds
    bus: Bus
    ami: AmiPort
    tickets: TicketCore | None  # the ticket store; None: a controller without one (unit tests of the call path)
