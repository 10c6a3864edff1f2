"""A reply on a ticket, by whichever channel it names: `POST /api/tickets/{id}/reply {channel, text,
to?}` (the ticket's reply box on the agent page; `callcenter sms send`). This route reads the
request and checks who may answer; the channel's service does the rest (docs/sms.md, "Replies";
docs/email.md, "Answers").

Agents may use it, on tickets assigned to them or to nobody (as for editing a ticket); supervisors
and admins on any. Errors: Refused `bad-request` (an unknown channel, an empty text, a `to` that
is not a string), NotFound `unknown-ticket`, Forbidden `forbidden`, then the channel's own.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from aiohttp import web

from callcenter.core.errors import Refused
from callcenter.core.feature import Feature, Route
from callcenter.tickets.tickets import Tickets
from callcenter.web import access
from callcenter.web.http import json_body, path_id


class Replier(Protocol):
    """A channel's "answer on this ticket": the stored interaction (a JSON object). `to`: an
    address other than the one the channel would choose (None: the channel's choice)."""

    async def __call__(self, ticket_id: int, text: str, *, to: str | None, actor: str) -> Mapping[str, Any]: ...


class ReplyRoutes:
    """The reply route over `repliers` (channel name → its service's reply); `tickets` tells whose
    a ticket is."""

    def __init__(self, repliers: Mapping[str, Replier], tickets: Tickets) -> None:
        self.repliers, self.tickets = repliers, tickets

    def table(self) -> list[Route]:
        return [Route("POST", "/api/tickets/{id}/reply", self.reply, "agent")]

    async def reply(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        channel, text, to = body.get("channel"), body.get("text"), body.get("to")
        if not isinstance(channel, str) or channel not in self.repliers:
            names = " or ".join(f'"{name}"' for name in self.repliers)
            raise Refused("bad-request", f"channel must be {names} (chat replies come later)")
        if not isinstance(text, str) or not text.strip() or (to is not None and not isinstance(to, str)):
            raise Refused("bad-request", "text must be a non-empty string, and to an address")
        ticket_id = path_id(request.match_info["id"], "ticket")
        me = access.principal(request)
        if not me.may("supervisor"):  # only then is whose it is worth a read of the ticket
            access.own_ticket(request, (await self.tickets.get(ticket_id))["assignee"])
        return web.json_response(await self.repliers[channel](ticket_id, text, to=to, actor=me.name))


class RepliesFeature(Feature):
    """The reply route's wiring: `repliers` maps a channel ("sms", "email") to its service's reply."""

    name = "replies"

    def __init__(self, repliers: Mapping[str, Replier], tickets: Tickets) -> None:
        self.repliers, self.tickets = repliers, tickets

    def routes(self) -> list[Route]:
        return ReplyRoutes(self.repliers, self.tickets).table()
