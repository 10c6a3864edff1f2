"""Who is asking, and may they (docs/web.md, "Logins and roles").

Two ways in: the CLI's `Authorization: Bearer <api_token>` (an admin, no cookie, so no CSRF token
needed) and a browser's session cookie `cc_session` (the user's role; every state change must carry
`X-CSRF-Token`, and a WebSocket's Origin must be this server's). Routes are agent-level, supervisor-
level (the default) or admin-level; handlers check ownership on top (an agent's own presence, calls,
tickets). Errors: `unauthorized` (401), `csrf` and `forbidden` (403).
"""

from __future__ import annotations

import hmac
from typing import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from callcenter.core.feature import Access
from callcenter.web.roles import Principal, Role
from callcenter.core.errors import Forbidden, Unauthorized

COOKIE = "cc_session"
PRINCIPAL = web.RequestKey("principal", Principal)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Who may use each route: (method, path pattern) → access, from the features' routes (core/feature.py
# Route.access); a route not listed needs a supervisor.
Policy = Mapping[tuple[str, str], Access]

SessionLookup = Callable[[str], Awaitable["dict[str, str] | None"]]


class NotAllowed(Forbidden):
    """A logged-in person whose role (or whose ticket, or whose call) does not allow this."""

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


def needed(request: web.Request, policy: Policy) -> Access:
    """Who may use the route this request matched (a supervisor for anything not in `policy`)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return policy.get((request.method, canonical), "supervisor")


def same_origin(request: web.Request) -> bool:
    """The request's Origin (when a browser sent one) is this server."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme in ("http", "https")


async def who(request: web.Request, needed_access: Role, token: str, session: SessionLookup,
              agents: Callable[[], frozenset[str]]) -> Principal:
    """The principal of a request to a route that needs `needed_access` (at least that role).
    Errors: `unauthorized`, `csrf`, `forbidden`."""
    given = request.headers.get("Authorization", "")
    if given:
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("unauthorized", "wrong API token (Authorization: Bearer <token>; the token is in "
                                  "the runtime folder's secrets.yaml)")
        return Principal("api", "admin", None, "token")
    cookie = request.cookies.get(COOKIE, "")
    user = await session(cookie) if cookie else None
    if user is None:
        raise Unauthorized("unauthorized", "log in first (POST /api/login), or give the API token "
                              "(Authorization: Bearer <token>, in the runtime folder's secrets.yaml)")
    principal = Principal(user["name"], user["role"],  # type: ignore[arg-type]
                          user["name"] if user["name"] in agents() else None, "session", user["csrf_token"])
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent or not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()) or \
                not same_origin(request):
            raise Forbidden("csrf", "a change from the page needs its X-CSRF-Token header (from /api/session), "
                                  "sent from this server's own pages (Origin)")
    elif request.path == "/api/ws" and not same_origin(request):
        raise Forbidden("csrf", "a WebSocket from another site")
    if not principal.may(needed_access):
        raise NotAllowed(f"{principal.name} ({principal.role}) may not {request.method} {request.path[:80]}")
    return principal


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def own_ticket(request: web.Request, assignee: str, wanted: str | None = None) -> None:
    """An agent works tickets assigned to them or to nobody, and assigns them only to themselves;
    supervisors and admins any. Errors: `forbidden`."""
    p = principal(request)
    if p.may("supervisor"):
        return
    if assignee not in ("", p.name) or wanted not in (None, "", p.name):
        raise NotAllowed(f"{p.name} may change only tickets assigned to them or to nobody, and assign them only "
                        "to themselves")


def own_agent(request: web.Request, agent: str | None, what: str) -> None:
    """An agent acts only on their own (presence, calls); supervisors and admins on anyone's.
    Errors: `forbidden`."""
    p = principal(request)
    if p.may("supervisor") or (agent is not None and p.is_agent(agent)):
        return
    raise NotAllowed(f"{p.name} may not {what} of {agent or 'another agent'}")
