"""Email over HTTP (docs/email.md): the quarantine (supervisors: the wallboard shows it), and an
email's HTML view.

- `GET /api/email/quarantine`: `{problem, messages}`: why the receiver is not running ("" when it
  is), and the mail kept aside, newest first (MailIntake.quarantine: each with its `id`).
- `POST /api/email/quarantine/{id}/release`: the message through the intake again →
  `{id, released: true, interaction, ticket, new}`. Errors: NotFound `unknown-quarantined`,
  RuleBroken `still-quarantined` (422; it stays; `details.reason` says why), Conflict
  `quarantine-busy`, Unavailable `email-off`.
- `DELETE /api/email/quarantine/{id}` → `{id, deleted: true}`. Errors: NotFound
  `unknown-quarantined`, Conflict `quarantine-busy`, Unavailable `email-off`.
- `GET /api/interactions/{id}/html` (agents): a message's sanitized HTML (parse.safe_html) as a
  document of its own that can do nothing. Errors: NotFound `unknown-interaction` (no such
  interaction, or its mail had no HTML part).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from callcenter.channels.email.intake import MailIntake
from callcenter.core.errors import NotFound, RuleBroken, Unavailable
from callcenter.core.feature import Route
from callcenter.web import access
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
        return [Route("GET", "/api/email/quarantine", self.quarantine, "supervisor"),
                Route("POST", "/api/email/quarantine/{id}/release", self.release, "supervisor"),
                Route("DELETE", "/api/email/quarantine/{id}", self.delete, "supervisor"),
                Route("GET", "/api/interactions/{id}/html", self.html_view, "agent")]

    def _receiving(self) -> MailIntake:
        if self.intake is None:
            raise Unavailable("email-off", f"{NOT_RUNNING} (email.enabled is off): nothing to release or delete")
        return self.intake

    async def quarantine(self, request: web.Request) -> web.Response:
        if self.intake is None:
            return web.json_response({"problem": NOT_RUNNING, "messages": []})
        return web.json_response({"problem": self.intake.problem,
                                  "messages": await asyncio.to_thread(self.intake.quarantine)})

    async def release(self, request: web.Request) -> web.Response:
        intake = self._receiving()
        message_id = request.match_info["id"]
        result = await intake.release(message_id, actor=access.principal(request).name)
        if not result["released"]:
            raise RuleBroken("still-quarantined", f"message {message_id} still cannot be taken: {result['reason']}",
                             {"id": message_id, "reason": result["reason"]})
        return web.json_response(result)

    async def delete(self, request: web.Request) -> web.Response:
        intake = self._receiving()
        return web.json_response(await intake.delete(request.match_info["id"], actor=access.principal(request).name))

    async def html_view(self, request: web.Request) -> web.StreamResponse:
        interaction = path_id(request.match_info["id"], "interaction")
        path = self.intake.html_path(interaction) if self.intake is not None else None
        if path is None or not path.is_file():
            raise NotFound("unknown-interaction", f"interaction #{interaction} has no HTML view")
        return web.FileResponse(path, headers=HTML_VIEW_HEADERS)
