"""The agent workspace's and the wallboard's routes (docs/web.md): the pages, logins, users, the
WebSocket, wrap-up codes, click-to-call, the voicemail inbox, audio, the wallboard and its CSV.

Pages and static files are public (they hold no data; the page asks /api/session and goes to the
login when it gets 401). Everything under /api/ passes access.who() first (api.py's middleware).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from callcenter.calls.service import Calls
from callcenter.web.server import PAGE_HEADERS

from callcenter.workspace import passwords
from callcenter.web.roles import ROLES
from callcenter.web.throttle import LoginThrottle
from callcenter.config import Config
from callcenter.core.errors import NotFound, Refused, Unauthorized
from callcenter.tickets.accounts import Accounts
from callcenter.web import access
from callcenter.workspace.live import LiveHub
from callcenter.tickets.routes import path_id
from callcenter.workspace.wallboard import to_csv

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HASHING = ThreadPoolExecutor(1, thread_name_prefix="argon2")  # logins wait for each other, nothing else does
JsonBody = Callable[[web.Request], Awaitable[dict[str, Any]]]


def add_routes(app: web.Application, *, accounts: Accounts, live: LiveHub, config: Callable[[], Config],
               json_body: JsonBody, calls: Calls, recording_roots: tuple[Path, ...],
               clock: Callable[[], float] = time.time) -> None:
    throttle = LoginThrottle()

    def idle_seconds() -> float:
        return config().web.session_idle_minutes * 60.0

    # -- pages ------------------------------------------------------------------------------

    def page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers=PAGE_HEADERS)
        return handler

    # -- logins -----------------------------------------------------------------------------

    async def login(request: web.Request) -> web.Response:
        body = await json_body(request)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise Refused("bad-request", "name and password must be strings")
        now = clock()
        keys = [f"name:{name.lower()[:64]}", f"addr:{request.remote or '-'}"]
        wait = throttle.retry_after(keys, now)
        if wait == 0:
            throttle.failed(keys, now)  # counted before the check: a burst in parallel is counted whole
        if wait > 0:
            return web.json_response({"error_id": "too-many-attempts", "message": f"too many failed logins: try "
                                      f"again in {int(wait) + 1} s", "details": {"retry_after": int(wait) + 1}},
                                     status=429, headers={"Retry-After": str(int(wait) + 1)})
        user = await accounts.user(name)
        # The same work and the same answer for an unknown name as for a wrong password; hashing on
        # a pool of its own, so a burst of logins never delays the API's other threads.
        good = await asyncio.get_running_loop().run_in_executor(
            HASHING, passwords.verify, user["password_hash"] if user else passwords.DUMMY_HASH, password)
        if user is None or user["disabled"] or not good:
            log.warning("web login refused for %r from %s", name[:64], request.remote)
            raise Unauthorized("bad-login", "wrong name or password")
        throttle.succeeded(keys)
        token, csrf = await accounts.new_session(user["name"])
        response = web.json_response({"name": user["name"], "role": user["role"], "csrf_token": csrf,
                                      "agent": user["name"] if user["name"] in config().agents else None})
        response.set_cookie(access.COOKIE, token, httponly=True, samesite="Strict", path="/",
                            max_age=int(idle_seconds()), secure=request.secure)
        log.info("web login: %s (%s) from %s", user["name"], user["role"], request.remote)
        return response

    async def logout(request: web.Request) -> web.Response:
        token = request.cookies.get(access.COOKIE, "")
        if token:
            await accounts.end_session(token)
            await live.close_session(token)
        response = web.json_response({"logged_out": True})
        response.del_cookie(access.COOKIE, path="/")
        return response

    async def session(request: web.Request) -> web.Response:
        me = access.principal(request)
        return web.json_response({"name": me.name, "role": me.role, "csrf_token": me.csrf_token, "agent": me.agent})

    # -- users (admins) ---------------------------------------------------------------------

    def role_of(body: dict[str, Any]) -> str:
        role = body.get("role")
        if role not in ROLES:
            raise Refused("bad-request", f"role must be one of {', '.join(ROLES)}")
        return str(role)

    async def users(request: web.Request) -> web.Response:
        return web.json_response(await accounts.users())

    async def add_user(request: web.Request) -> web.Response:
        body = await json_body(request)
        password = passwords.generate()
        user = await accounts.add_user(str(body.get("name", ""))[:100], role_of(body),
                                       await asyncio.to_thread(passwords.hash_password, password))
        return web.json_response({**user, "password": password}, status=201)

    async def change_user(request: web.Request) -> web.Response:
        body = await json_body(request)
        name = request.match_info["name"]
        out: dict[str, Any] = {}
        password_hash = None
        if body.get("new_password") is True:
            out["password"] = passwords.generate()
            password_hash = await asyncio.to_thread(passwords.hash_password, out["password"])
        user = await accounts.set_user(name, role=role_of(body) if "role" in body else None,
                                       password_hash=password_hash)
        await live.close_user(name)  # a new password or role: the open pages log in again
        return web.json_response({**user, **out})

    async def remove_user(request: web.Request) -> web.Response:
        await accounts.remove_user(request.match_info["name"])
        await live.close_user(request.match_info["name"])
        return web.json_response({"removed": request.match_info["name"]})

    # -- the workspace ----------------------------------------------------------------------

    async def ws(request: web.Request) -> web.StreamResponse:
        return await live.handle(request, access.principal(request), request.cookies.get(access.COOKIE, ""))

    async def wrapup(request: web.Request) -> web.Response:
        body = await json_body(request)
        code = body.get("code")
        if code not in config().web.wrapup_codes:
            raise Refused("bad-request", f"code must be one of web.wrapup_codes: {', '.join(config().web.wrapup_codes)}")
        call_id = request.match_info["call_id"]
        access.own_agent(request, await calls.agent_of(call_id), "set the wrap-up of a call")
        return web.json_response(await accounts.wrapup(call_id, str(code), access.principal(request).name))

    async def handled(request: web.Request) -> web.Response:
        vm = await accounts.voicemail_handled(path_id(request.match_info["id"], "voicemail"),
                                              access.principal(request).name)
        return web.json_response(vm)

    async def audio(request: web.Request) -> web.StreamResponse:
        interaction_id = path_id(request.match_info["id"], "interaction")
        row = await accounts.interaction(interaction_id)
        path = Path(row["recording_path"]) if row and row["recording_path"] else None
        # Only files inside the recordings / voicemail folders are served (never any path a row names).
        roots = recording_roots
        real = path.resolve() if path is not None else None
        if real is None or not any(real.is_relative_to(r.resolve()) for r in roots) or not real.is_file():
            raise NotFound("no-audio", f"interaction #{interaction_id} has no audio here")
        return web.FileResponse(real, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store",
                                               "X-Content-Type-Options": "nosniff"})

    async def board(request: web.Request) -> web.Response:
        return web.json_response(await live.wallboard())

    async def board_csv(request: web.Request) -> web.Response:
        day = time.strftime("%Y-%m-%d", time.localtime(clock()))
        return web.Response(text=to_csv(await live.wallboard()), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="callcenter-{day}.csv"'})

    app.router.add_get("/", page("agent.html"))
    app.router.add_get("/login", page("login.html"))
    app.router.add_get("/wallboard", page("wallboard.html"))
    app.router.add_static("/static/", STATIC, follow_symlinks=False, show_index=False)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/session", session)
    app.router.add_get("/api/users", users)
    app.router.add_post("/api/users", add_user)
    app.router.add_patch("/api/users/{name}", change_user)
    app.router.add_delete("/api/users/{name}", remove_user)
    app.router.add_get("/api/ws", ws)
    app.router.add_post("/api/calls/{call_id}/wrapup", wrapup)
    app.router.add_post("/api/voicemails/{id}/handled", handled)
    app.router.add_get("/api/interactions/{id}/audio", audio)
    app.router.add_get("/api/wallboard", board)
    app.router.add_get("/api/wallboard.csv", board_csv)
