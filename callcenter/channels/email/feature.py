"""Email's wiring: the SMTP receiver and an IMAP mailbox polled into one intake (stored on tickets,
or quarantined with a reason), answers on tickets (service.py), the quarantine list and the HTML
view (routes.py); the `email` part of the status.

With `email.enabled` off nothing is received (no receiver, no poller, no status part); answers
still go out through the relay, and the quarantine list says the receiver is not running."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from callcenter.channels.email.imap import ImapPoller
from callcenter.channels.email.intake import MailIntake, serve
from callcenter.channels.email.routes import EmailRoutes
from callcenter.channels.email.service import EmailService
from callcenter.channels.email.settings import EmailSettings
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)


class EmailFeature(Feature):
    name = "email"

    def __init__(self, deps: Deps, core: TicketCore, *, imap_password: Callable[[], str] = lambda: "") -> None:
        config = deps.config()
        self.config = deps.config
        self.receiving = config.email.enabled
        self.service = EmailService(core.messages, self._settings)
        self.intake = MailIntake(core.messages, config.runtime_dir, deps.bus.publish, topic=config.email.topic,
                                 max_attachment_bytes=config.email.max_attachment_bytes, settings=self._settings,
                                 queue=lambda: deps.config().work_queue(deps.config().email.queue))
        self.imap = ImapPoller(self._settings, imap_password, self.intake.take) \
            if self.receiving and config.email.imap_host else None
        self.smtp: asyncio.AbstractServer | None = None

    def _settings(self) -> EmailSettings:
        return self.config().email

    def routes(self) -> list[Route]:
        return EmailRoutes(self.intake if self.receiving else None).table()

    async def start(self) -> None:
        if not self.receiving:
            return
        email = self.config().email
        try:
            self.smtp = await serve(self.intake, email.smtp_bind, email.smtp_port, email.max_bytes)
        except OSError as exc:  # calls matter more than mail: the controller runs on, and says so
            self.intake.problem = f"cannot listen on {email.smtp_bind}:{email.smtp_port}: {exc.strerror or exc}"
            log.error("email: %s; no email until this is fixed (email.smtp_port)", self.intake.problem)

    def tasks(self) -> list[Task]:
        return [(self.imap.run(), "imap poller")] if self.imap is not None else []

    async def describe(self) -> dict[str, Any]:
        if not self.receiving:
            return {}
        email = self.config().email
        return {"email": {"smtp": f"{email.smtp_bind}:{email.smtp_port}", "problem": self.intake.problem,
                          "received": self.intake.received, "quarantined": self.intake.quarantined,
                          "imap": self.imap.describe() if self.imap is not None else None}}

    async def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            await self.smtp.wait_closed()
