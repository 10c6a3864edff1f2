"""The agent workspace's and the wallboard's routes (docs/web.md; web/openapi.py gives their
shapes): the pages and their static files, logins and sessions, users, the WebSocket, wrap-up
codes, the wallboard and its CSV.

Pages and static files are public (they hold no data; the page asks /api/session and goes to the
login when it gets 401). Everything under /api/ passes web/server.py's middleware first
(web/access.py): the login is public; the session, the logout, the WebSocket and wrap-up need an
agent (wrap-up only on their own calls); the wallboard a supervisor; users an admin
(docs/web.md, "Logins and roles").
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from callcenter.calls.service import Calls
from callcenter.config import Config
from callcenter.core.errors import Refused, Unauthorized
from callcenter.core.feature import Route, StaticFolder
from callcenter.softphone.service import with_softphone
from callcenter.tickets.accounts import Accounts
from callcenter.web import access
from callcenter.web.http import json_body
from callcenter.web.roles import ROLES
from callcenter.web.server import PAGE_HEADERS, json_error
from callcenter.web.throttle import LoginThrottle
from callcenter.workspace import passwords
from callcenter.workspace.live import LiveHub
from callcenter.workspace.wallboard import to_csv

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HASHING = ThreadPoolExecutor(1, thread_name_prefix="argon2")  # logins wait for each other, nothing else does


def _page(name: str, headers: dict[str, str] | None = None) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers=headers or PAGE_HEADERS)


def _role_of(body: dict[str, Any]) -> str:
    """The body's `role`, one of web/roles.py's ROLES. Errors: Refused `bad-request`."""
    role = body.get("role")
    if role not in ROLES:
        raise Refused("bad-request", f"role must be one of {', '.join(ROLES)}")
    return str(role)


class PageRoutes:
    """The pages (`/`, `/login`, `/wallboard`, `/static/`), logins and sessions, and the users
    (admins). `live` closes the pages of a session that logs out and of a user who changes."""

    def __init__(self, accounts: Accounts, live: LiveHub, config: Callable[[], Config],
                 clock: Callable[[], float] = time.time) -> None:
        self.accounts, self.live, self.config, self.clock = accounts, live, config, clock
        self.throttle = LoginThrottle()

    def table(self) -> list[Route | StaticFolder]:
        return [
            Route("GET", "/", self.agent_page, "public"),
            Route("GET", "/login", self.login_page, "public"),
            Route("GET", "/wallboard", self.wallboard_page, "public"),
            StaticFolder("/static/", STATIC),
            Route("POST", "/api/login", self.login, "public"),
            Route("POST", "/api/logout", self.logout, "agent"),
            Route("GET", "/api/session", self.session, "agent"),
            Route("GET", "/api/users", self.users, "admin"),
            Route("POST", "/api/users", self.add_user, "admin"),
            Route("PATCH", "/api/users/{name}", self.change_user, "admin"),
            Route("DELETE", "/api/users/{name}", self.remove_user, "admin"),
        ]

    # -- pages --------------------------------------------------------------------------------

    async def agent_page(self, request: web.Request) -> web.StreamResponse:
        # The page's softphone connects to Asterisk's WebSocket, another origin (docs/softphone.md).
        csp = with_softphone(PAGE_HEADERS["Content-Security-Policy"], self.config().sip.softphone_url)
        return _page("agent.html", {**PAGE_HEADERS, "Content-Security-Policy": csp})

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        return _page("login.html")

    async def wallboard_page(self, request: web.Request) -> web.StreamResponse:
        return _page("wallboard.html")

    # -- logins -------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        """`{name, password}` → `{name, role, csrf_token, agent}` and the session cookie. Errors:
        Refused `bad-request`, Unauthorized `bad-login` (the same for an unknown name), 429
        `too-many-attempts` with Retry-After (seconds) after 5 failures per name or address."""
        body = await json_body(request)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise Refused("bad-request", "name and password must be strings")
        now = self.clock()
        keys = [f"name:{name.lower()[:64]}", f"addr:{request.remote or '-'}"]
        wait = self.throttle.retry_after(keys, now)
        if wait == 0:
            self.throttle.failed(keys, now)  # counted before the check: a burst in parallel is counted whole
        if wait > 0:
            seconds = int(wait) + 1
            return json_error(429, "too-many-attempts", f"too many failed logins: try again in {seconds} s",
                              {"retry_after": seconds}, headers={"Retry-After": str(seconds)})
        user = await self.accounts.user(name)
        # The same work and the same answer for an unknown name as for a wrong password; hashing on
        # a pool of its own, so a burst of logins never delays the API's other threads.
        good = await asyncio.get_running_loop().run_in_executor(
            HASHING, passwords.verify, user["password_hash"] if user else passwords.DUMMY_HASH, password)
        if user is None or user["disabled"] or not good:
            log.warning("web login refused for %r from %s", name[:64], request.remote)
            raise Unauthorized("bad-login", "wrong name or password")
        self.throttle.succeeded(keys)
        token, csrf = await self.accounts.new_session(user["name"])
        response = web.json_response({"name": user["name"], "role": user["role"], "csrf_token": csrf,
                                      "agent": user["name"] if user["name"] in self.config().agents else None})
        response.set_cookie(access.COOKIE, token, httponly=True, samesite="Strict", path="/",
                            max_age=self.config().web.session_idle_minutes * 60, secure=request.secure)
        log.info("web login: %s (%s) from %s", user["name"], user["role"], request.remote)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """The session ends and its open pages close."""
        token = request.cookies.get(access.COOKIE, "")
        if token:
            await self.accounts.end_session(token)
            await self.live.close_session(token)
        response = web.json_response({"logged_out": True})
        response.del_cookie(access.COOKIE, path="/")
        return response

    async def session(self, request: web.Request) -> web.Response:
        me = access.principal(request)
        return web.json_response({"name": me.name, "role": me.role, "csrf_token": me.csrf_token, "agent": me.agent})

    # -- users (admins) -----------------------------------------------------------------------

    async def users(self, request: web.Request) -> web.Response:
        return web.json_response(await self.accounts.users())

    async def add_user(self, request: web.Request) -> web.Response:
        """`{name, role}` → the user and its generated password (shown once), 201."""
        body = await json_body(request)
        password = passwords.generate()
        user = await self.accounts.add_user(str(body.get("name", ""))[:100], _role_of(body),
                                            await asyncio.to_thread(passwords.hash_password, password))
        return web.json_response({**user, "password": password}, status=201)

    async def change_user(self, request: web.Request) -> web.Response:
        """`{role?, new_password?: true}` → the user (and its new password); their pages close."""
        body = await json_body(request)
        name = request.match_info["name"]
        out: dict[str, Any] = {}
        password_hash = None
        if body.get("new_password") is True:
            out["password"] = passwords.generate()
            password_hash = await asyncio.to_thread(passwords.hash_password, out["password"])
        user = await self.accounts.set_user(name, role=_role_of(body) if "role" in body else None,
                                            password_hash=password_hash)
        await self.live.close_user(name)  # a new password or role: the open pages log in again
        return web.json_response({**user, **out})

    async def remove_user(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.accounts.remove_user(name)
        await self.live.close_user(name)
        return web.json_response({"removed": name})


class LiveRoutes:
    """The workspace at work: the pages' WebSocket, wrap-up codes, the wallboard and its CSV."""

    def __init__(self, accounts: Accounts, live: LiveHub, calls: Calls, config: Callable[[], Config],
                 clock: Callable[[], float] = time.time) -> None:
        self.accounts, self.live, self.calls, self.config, self.clock = accounts, live, calls, config, clock

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/ws", self.ws, "agent"),
            Route("POST", "/api/calls/{call_id}/wrapup", self.wrapup, "agent"),
            Route("GET", "/api/wallboard", self.wallboard),
            Route("GET", "/api/wallboard.csv", self.wallboard_csv),
        ]

    async def ws(self, request: web.Request) -> web.StreamResponse:
        """The page's live updates (docs/web.md, "Live updates"). Errors: Limited `too-many-pages`."""
        return await self.live.handle(request, access.principal(request), request.cookies.get(access.COOKIE, ""))

    async def wrapup(self, request: web.Request) -> web.Response:
        """`{code}` (one of web.wrapup_codes) on the caller's own call → its interaction. Errors:
        Refused `bad-request`, `forbidden` (another agent's call), NotFound `unknown-call`."""
        body = await json_body(request)
        code = body.get("code")
        codes = self.config().web.wrapup_codes
        if code not in codes:
            raise Refused("bad-request", f"code must be one of web.wrapup_codes: {', '.join(codes)}")
        call_id = request.match_info["call_id"]
        access.own_agent(request, await self.calls.agent_of(call_id), "set the wrap-up of a call")
        return web.json_response(await self.accounts.wrapup(call_id, str(code), access.principal(request).name))

    async def wallboard(self, request: web.Request) -> web.Response:
        return web.json_response(await self.live.wallboard())

    async def wallboard_csv(self, request: web.Request) -> web.Response:
        """The wallboard as CSV (workspace/wallboard.py), named after today's local date."""
        day = time.strftime("%Y-%m-%d", time.localtime(self.clock()))
        return web.Response(text=to_csv(await self.live.wallboard()), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="callcenter-{day}.csv"'})
