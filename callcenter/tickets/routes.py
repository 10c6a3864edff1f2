"""REST routes of the ticket store: customers, merges, tickets, retention, voicemails
(web/openapi.py says their shapes). Bodies are JSON objects; a wrong type is a 400 `bad-request`,
never a repr stored. The actor of a change is the body's `actor` (default `api`)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from aiohttp import web

from callcenter.core.errors import NotFound, Refused
from callcenter.voicemail import engines
from callcenter.voicemail.engines import ENGINES
from callcenter.voicemail.whisper import languages
from callcenter.tickets.core import TicketCore
from callcenter.tickets.inputs import is_id
from callcenter.web import access

JsonBody = Callable[[web.Request], Awaitable[dict[str, Any]]]
Need = Callable[[], TicketCore]  # the store, or NotFound `no-store`


def path_id(value: str, what: str) -> int:
    """A path id (`12` or `#12`) as an integer. Errors: NotFound `unknown-<what>` for anything else."""
    text = value.removeprefix("#")
    if not (text.isascii() and text.isdigit()) or not is_id(int(text)):
        raise NotFound(f"unknown-{what}", f"no {what} #{value.removeprefix('#')[:20]}")
    return int(text)


def _str(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise Refused("bad-request", f"{key} must be a string, not {type(value).__name__}")
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 50:
        raise Refused("bad-request", f"{key} must be a list of at most 50 strings")
    return value


def _identities(body: dict[str, Any]) -> list[tuple[str, str]]:
    value = body.get("identities", [])
    if not isinstance(value, list) or len(value) > 50 or not all(
            isinstance(i, dict) and isinstance(i.get("kind"), str) and isinstance(i.get("value"), str) for i in value):
        raise Refused("bad-request", 'identities must be a list of {"kind": ..., "value": ...} (at most 50)')
    return [(i["kind"], i["value"]) for i in value]


def add_routes(app: web.Application, store: TicketCore | None, json_body: JsonBody,
               on_voicemail: Callable[[], None] | None = None) -> None:
    """The store's routes on `app`. `on_voicemail`: wakes the transcription worker after a
    retranscribe. Without a store, each route answers NotFound `no-store`."""
    def need() -> TicketCore:
        if store is None:
            raise NotFound("no-store", "this controller runs without a store")
        return store

    _voicemail_routes(app, need, json_body, on_voicemail)
    _customer_routes(app, need, json_body)
    _ticket_routes(app, need, json_body)


def _voicemail_routes(app: web.Application, need: Need, json_body: JsonBody,
                      on_voicemail: Callable[[], None] | None) -> None:
    """GET /api/voicemails (the latest job of each), GET /api/voicemails/{id} (its jobs),
    POST /api/voicemails/{id}/retranscribe."""
    async def voicemails(request: web.Request) -> web.Response:
        state = request.query.get("state")
        if state is not None and state not in ("queued", "running", "done", "empty", "failed"):
            raise Refused("bad-request", "state must be queued, running, done, empty or failed")
        return web.json_response(await need().jobs.voicemails(state=state, limit=_limit(request, 100)))

    async def voicemail(request: web.Request) -> web.Response:
        vid = path_id(request.match_info["id"], "voicemail")
        rows = await need().jobs.voicemails(voicemail_id=vid, limit=100)
        if not rows:
            raise NotFound("unknown-voicemail", f"no voicemail #{vid}")
        return web.json_response({**rows[0], "jobs": len(rows)})

    async def retranscribe(request: web.Request) -> web.Response:
        body = await json_body(request)
        language = (_str(body, "language", "auto") or "auto").lower()
        if language != "auto" and language not in languages():
            raise Refused("bad-language", f"{language[:20]!r} is not auto or a language code Whisper knows "
                          "(en, zh, de, ...)")
        engine = _str(body, "engine", "") or ""
        if engine and engine not in ENGINES:
            raise Refused("unknown-engine", f"no speech engine {engine[:20]!r} (engines: {', '.join(ENGINES)})")
        if engine == "vosk":  # one language per vosk model: is there one for this language here?
            await asyncio.to_thread(engines.check, engine, None, language)
        job = await need().jobs.retranscribe(path_id(request.match_info["id"], "voicemail"), language, engine)
        if on_voicemail is not None:
            on_voicemail()
        return web.json_response({"voicemail": int(request.match_info["id"]), "job": job, "state": "queued"})

    app.router.add_get("/api/voicemails", voicemails)
    app.router.add_get("/api/voicemails/{id}", voicemail)
    app.router.add_post("/api/voicemails/{id}/retranscribe", retranscribe)


def _customer_routes(app: web.Application, need: Need, json_body: JsonBody) -> None:
    """/api/customers (find, list, create), /api/customers/{id} (file, update, merge), and
    /api/merges/{id}/undo."""
    async def find_customers(request: web.Request) -> web.Response:
        q = request.query.get("q", "")
        if not q:  # no search: the list, latest activity first
            return web.json_response(await need().customers.recent(_limit(request, 100)))
        found = await need().customers.screen_pop(q, _limit(request))
        if found is None:
            raise NotFound("unknown-customer", f"no customer {q!r}")
        return web.json_response(found)

    async def customer(request: web.Request) -> web.Response:
        return web.json_response(await need().customers.file(path_id(request.match_info["id"], "customer"),
                                                             _limit(request)))

    async def create_customer(request: web.Request) -> web.Response:
        body = await json_body(request)
        created = await need().customers.create(_str(body, "name", "") or "", _identities(body),
                                                _str(body, "actor", "api") or "api")
        return web.json_response(await need().customers.file(created["id"]), status=201)

    async def update_customer(request: web.Request) -> web.Response:
        body = await json_body(request)
        cid = path_id(request.match_info["id"], "customer")
        await need().customers.update(cid, name=_str(body, "name"), add_tags=_strings(body, "add_tags"),
                                      remove_tags=_strings(body, "remove_tags"), add_identities=_identities(body))
        return web.json_response(await need().customers.file(cid))

    async def merge(request: web.Request) -> web.Response:
        body = await json_body(request)
        source = body.get("source")
        if not isinstance(source, int) or isinstance(source, bool):
            raise Refused("bad-request", "source must be a customer id (an integer)")
        return web.json_response(await need().customers.merge(path_id(request.match_info["id"], "customer"), source,
                                                              _str(body, "actor", "api") or "api"))

    async def unmerge(request: web.Request) -> web.Response:
        body = await json_body(request)
        return web.json_response(await need().customers.unmerge(path_id(request.match_info["id"], "merge"),
                                                                _str(body, "actor", "api") or "api"))

    app.router.add_get("/api/customers", find_customers)
    app.router.add_post("/api/customers", create_customer)
    app.router.add_get("/api/customers/{id}", customer)
    app.router.add_patch("/api/customers/{id}", update_customer)
    app.router.add_post("/api/customers/{id}/merge", merge)
    app.router.add_post("/api/merges/{id}/undo", unmerge)


def _ticket_routes(app: web.Application, need: Need, json_body: JsonBody) -> None:
    """/api/tickets (list), /api/tickets/{id} (read, update), /api/retention/apply."""
    async def tickets(request: web.Request) -> web.Response:
        q = request.query
        customer_id = None
        if "customer" in q:
            found = await need().customers.find(q["customer"])
            if found is None:
                raise NotFound("unknown-customer", f"no customer {q['customer']!r}")
            customer_id = found["id"]
        return web.json_response(await need().tickets.recent(status=q.get("status"), customer_id=customer_id,
                                                             assignee=q.get("assignee"), limit=_limit(request, 100)))

    async def ticket(request: web.Request) -> web.Response:
        return web.json_response(await need().tickets.get(path_id(request.match_info["id"], "ticket")))

    async def update_ticket(request: web.Request) -> web.Response:
        body = await json_body(request)
        version, edits = body.get("version"), body.get("edits")
        for key, value in (("version", version), ("edits", edits)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise Refused("bad-request", f"{key} must be an integer")
        tid = path_id(request.match_info["id"], "ticket")
        me = request.get(access.PRINCIPAL)
        actor = _str(body, "actor", "api") or "api"
        if me is not None and me.via == "session":  # a person at the page: they are the actor
            actor = me.name
            if not me.may("supervisor"):
                access.own_ticket(request, (await need().tickets.get(tid))["assignee"], _str(body, "assignee"))
        await need().tickets.update(tid, actor, status=_str(body, "status"),
                                    priority=_str(body, "priority"), assignee=_str(body, "assignee"),
                                    note=_str(body, "note"), add_tags=_strings(body, "add_tags"),
                                    remove_tags=_strings(body, "remove_tags"), expected_version=version,
                                    expected_edits=edits)
        return web.json_response(await need().tickets.get(tid))

    async def retention(request: web.Request) -> web.Response:
        body = await json_body(request)
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise Refused("bad-request", "dry_run must be true or false")
        return web.json_response(await need().retention.apply(dry_run=dry_run))

    app.router.add_get("/api/tickets", tickets)
    app.router.add_get("/api/tickets/{id}", ticket)
    app.router.add_patch("/api/tickets/{id}", update_ticket)
    app.router.add_post("/api/retention/apply", retention)


def _limit(request: web.Request, default: int = 50) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise Refused("bad-limit", "limit must be 1 to 1000")
    return int(raw)
