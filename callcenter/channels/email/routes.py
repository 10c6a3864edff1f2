"""Email over HTTP (docs/email.md): what an admin reads of the quarantine, and an email's HTML view.

- `GET /api/email/quarantine` (admins): `{problem, messages}`: why the receiver is not running
  ("" when it is), and the mail kept aside, newest first (MailIntake.quarantine).
- `GET /api/interactions/{id}/html` (agents): a message's sanitized HTML (parse.safe_html) as a
  document of its own that can do nothing. Errors: NotFound `unknown-interaction` (no such
  interaction, or its mail had no HTML part).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from callcenter.channels.email.intake import MailIntake
from callcenter.core.errors import NotFound
from callcenter.core.feature import Route
from callcenter.web.http import path_id

# The HTML view's own headers (web/server.py keeps a response's own over the pages'): no script
# runs (sandbox), nothing loads from elsewhere (default-src 'none'; images inline only), never framed.
HTML_VIEW_HEADERS = {
    "Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "Referrer-Policy": "no-referrer"}
NOT_RUNNING = "the email receiver is not running"


class EmailRoutes:
    """The routes of `intake` (None: email.enabled is off, nothing was received)."""

    def __init__(self, intake: MailIntake | None) -> None:
        self.intake = intake

    def table(self) -> list[Route]:
        return [Route("GET", "/api/email/quarantine", self.quarantine, "admin"),
                Route("GET", "/api/interactions/{id}/html", self.html_view, "agent")]

    async def quarantine(self, request: web.Request) -> web.Response:
        if self.intake is None:
            return web.json_response({"problem": NOT_RUNNING, "messages": []})
        return web.json_response({"problem": self.intake.problem,
                                  "messages": await asyncio.to_thread(self.intake.quarantine)})

    async def html_view(self, request: web.Request) -> web.StreamResponse:
        interaction = path_id(request.match_info["id"], "interaction")
        path = self.intake.html_path(interaction) if self.intake is not None else None
        if path is None or not path.is_file():
            raise NotFound("unknown-interaction", f"interaction #{interaction} has no HTML view")
        return web.FileResponse(path, headers=HTML_VIEW_HEADERS)
