"""The REST API described for people and tools (OpenAPI 3.1), served at /api/openapi.json.

Every route of api.py is here; a unit test checks that the two agree. Errors are always
`{"error_id", "message", "details"}` with the status api.py maps the id to.
"""

from __future__ import annotations

from typing import Any

from callcenter.calls.openapi import CALL_CONTROL_PATHS
from callcenter.web.openapi_parts import ERROR as _ERROR, LIST as _LIST, OBJ as _OBJ, ok as _ok, op as _op

PAUSE_BODY = {"type": "object", "required": ["reason"], "properties": {
    "reason": {"type": "string", "minLength": 1, "maxLength": 255,
               "description": "Why (kept with the pause, survives restarts). No control characters "
                              "(CR, LF, NUL, ...): refused with 400 `invalid-text`."},
    "queue": {"type": "string", "description": "Pause in this queue only (default: all the agent's queues)."}}}

_Q_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
_IDENTITIES = {"type": "array", "maxItems": 50, "items": {"type": "object", "required": ["kind", "value"], "properties": {
    "kind": {"enum": ["phone", "email", "chat", "account"]},
    "value": {"type": "string", "description": "Any common format: `+1 415-555-2671`, `(415) 555-2671` (the "
                                               "store's default region), `Ann@Example.com`."}}}}
_TAGS = {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 40}}
CUSTOMER_FILE = ("`{customer, identities, open_tickets, timeline}`: the customer, every identity (phones in E.164, "
                 "`valid: false` for a number kept raw), tickets not closed, and the newest interactions first "
                 "(`limit`, default 50). Times are epoch seconds, durations seconds.")
TICKET_BODY = {"type": "object", "properties": {
    "status": {"enum": ["new", "open", "pending", "resolved", "closed"],
               "description": "new → open → pending → resolved → closed; pending ↔ open; resolved → open; closed is "
                              "final. Anything else: 422 `invalid-transition`."},
    "priority": {"enum": ["low", "normal", "high", "urgent"]}, "assignee": {"type": "string", "maxLength": 200},
    "note": {"type": "string", "maxLength": 10000, "description": "An internal note (kept in the history)."},
    "add_tags": _TAGS, "remove_tags": _TAGS,
    "version": {"type": "integer", "description": "The version you read: 409 `ticket-conflict` if the row changed "
                                                  "since (calls that touch the ticket change it too)."},
    "edits": {"type": "integer", "description": "The `edits` you read: 409 `ticket-conflict` only if a person "
                                                "edited the ticket since (what the pages send)."},
    "actor": {"type": "string", "description": "Who makes the change (default `api`); kept in the history."}}}

INBOX_ITEM = ("An item: `{ticket, kind (ticket | chat), chat, channel, subject, customer {id, name, tags}, queue, "
              "status, priority, assignee, waiting_since, sla {state ('' | at_risk | breached), first_response_due, "
              "resolution_due}, score, offered_to, offer_expires, preview}` (times: epoch seconds). `score` is the "
              "urgency (docs/inbox.md): channel, priority, VIP tag, SLA, age.")
_Q_TEXT = {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
           "description": "search: a ticket number (`#123`), a phone in any format, an email, a name, words of "
                          "messages and voicemail transcripts (English and Chinese)."}
INBOX_PATHS: dict[str, Any] = {
    "/api/inbox": {"get": {**_op(
        "The pending work of the caller (an agent) or of an agent (`agent`, supervisors)",
        "`{calls, items, offers}`: live calls first (app_queue routes them), then the items most urgent first. "
        "`view=mine`: their tickets (new, open, pending) and live chats; `queues` (default): what nobody has in "
        "their queues (work items and waiting chats); `search`: `q` over what they may see. " + INBOX_ITEM +
        " `offers`: the items offered to them now, each with `expires`. 403 `not-your-queue` for a queue they are not in.",
        _ok("the inbox"), errors=("400", "401", "403", "404")),
        "parameters": [{"name": "view", "in": "query", "schema": {"enum": ["mine", "queues", "search"]}}, _Q_TEXT,
                       {"name": "status", "in": "query", "schema": {"enum": ["new", "open", "pending", "resolved",
                                                                             "closed"]}},
                       {"name": "channel", "in": "query", "schema": {"enum": ["voice", "voicemail", "chat", "sms",
                                                                              "email"]}},
                       {"name": "queue", "in": "query", "schema": {"type": "string"}},
                       {"name": "sla", "in": "query", "schema": {"enum": ["at_risk", "breached"]}},
                       {"name": "agent", "in": "query", "schema": {"type": "string"},
                        "description": "Supervisors: that agent's view."}]}},
    "/api/inbox/next": {"post": _op(
        "Take the next item (pull)", "The most urgent item of the caller's queues not offered to someone else, "
        "accepted for them: `{item}`. 404 `no-work` when nothing waits.", _ok("`{item}`"),
        errors=("401", "403", "404"))},
    "/api/inbox/{id}/accept": {"post": _op(
        "Accept an item", "The ticket is assigned to the caller and opened (in its history): `{ticket}`. 403 "
        "`not-your-queue` (not one of their queues), `offered-to-another` (offered to another agent right now); "
        "409 `already-taken` (another agent has it: of two accepting at once, one wins).", _ok("`{ticket}`"),
        errors=("401", "403", "404", "409"), params=("id",))},
    "/api/inbox/{id}/decline": {"post": _op(
        "Decline an item offered to you (or hand back one you accepted and did not answer)",
        "It is offered to the next agent; it is not offered to you again. 403 `offered-to-another`.",
        _ok("`{ticket, declined}`"), errors=("401", "403", "404", "409"), params=("id",))},
    "/api/inbox/{id}/assign": {"post": _op(
        "Give an item to an agent (supervisors)", "`agent` \"\" puts it back in its queue (offered again); in the "
        "ticket's history.", _ok("`{ticket}`"), errors=("400", "401", "403", "404", "409"), params=("id",),
        body={"type": "object", "required": ["agent"], "properties": {"agent": {"type": "string"}}})},
}

STORE_PATHS: dict[str, Any] = {
    "/api/customers": {
        "get": {**_op("Find a customer (the screen-pop file), or list customers",
                      CUSTOMER_FILE + " Without `q`: customers with their identities, latest activity first.",
                      _ok("the customer's file, or a list"), errors=("400", "401", "404")),
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"},
                                "description": "A phone number or email in any common format, or `#ID`."}, _Q_LIMIT]},
        "post": _op("Create a customer", "201 with the file. 409 `identity-taken` if an identity belongs to "
                    "another customer (merge instead).", _ok("the customer's file"), errors=("400", "401", "409"),
                    body={"type": "object", "properties": {"name": {"type": "string", "maxLength": 200},
                                                           "identities": _IDENTITIES}})},
    "/api/customers/{id}": {
        "get": {**_op("A customer's file", CUSTOMER_FILE, _ok("the customer's file"), errors=("401", "404"),
                      params=("id",))},
        "patch": _op("Rename, tag (e.g. `vip`, which IVR flows can branch on), add identities", "",
                     _ok("the customer's file"), errors=("400", "401", "404", "409"), params=("id",),
                     body={"type": "object", "properties": {"name": {"type": "string"}, "add_tags": _TAGS,
                                                            "remove_tags": _TAGS, "identities": _IDENTITIES}})},
    "/api/customers/{id}/merge": {"post": _op(
        "Merge another customer into this one", "Identities, tickets and interactions of `source` move here; "
        "audited; undo with /api/merges/{id}/undo. Never automatic.", _ok("`{merge_id, target, source, moved}`"),
        errors=("400", "401", "404", "409"), params=("id",),
        body={"type": "object", "required": ["source"], "properties": {"source": {"type": "integer"},
                                                                       "actor": {"type": "string"}}})},
    "/api/merges/{id}/undo": {"post": _op("Undo a merge", "What moved moves back.", _ok("`{merge_id, restored}`"),
                                          errors=("401", "404", "409"), params=("id",),
                                          body={"type": "object", "properties": {"actor": {"type": "string"}}})},
    "/api/tickets": {"get": {**_op("Tickets, newest activity first", "", _ok("tickets", _LIST), errors=("400", "401")),
                             "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                            for n in ("status", "customer", "assignee")] + [_Q_LIMIT]}},
    "/api/tickets/{id}": {
        "get": _op("A ticket with its history and interactions", "History: `{at, actor, field, old, new}`.",
                   _ok("ticket"), errors=("401", "404"), params=("id",)),
        "patch": _op("Change a ticket", "Each change is written to the history.", _ok("ticket"),
                     errors=("400", "401", "404", "409", "422"), params=("id",), body=TICKET_BODY)},
    "/api/voicemails": {"get": {**_op(
        "Voicemails and their transcription", "Newest first: caller, time, seconds, state (queued | running | done "
        "| empty | failed, with the reason), attempts, the text and its language.", _ok("voicemails", _LIST),
        errors=("400", "401")), "parameters": [{"name": "state", "in": "query", "schema": {"type": "string"}},
                                              _Q_LIMIT]}},
    "/api/voicemails/{id}": {"get": _op("One voicemail", "With the transcript: words with start/end seconds and "
                                        "confidence, language, engine, model, audio and processing seconds.",
                                        _ok("voicemail"), errors=("401", "404"), params=("id",))},
    "/api/voicemails/{id}/retranscribe": {"post": _op(
        "Transcribe a voicemail again", "A new job (e.g. with another language or engine).",
        _ok("`{voicemail, job, state}`"), errors=("400", "401", "404"), params=("id",),
        body={"type": "object", "properties": {
            "language": {"type": "string", "description": "auto, en, zh, ..."},
            "engine": {"type": "string", "enum": ["faster-whisper", "vosk"],
                       "description": "default: speech.engine; vosk takes an installed model of the language"}}})},
    "/api/retention/apply": {"post": _op(
        "Purge what is older than store.retention_days", "Recordings (files), transcripts, message bodies; the "
        "contact itself stays, marked `purged_at`.", _ok("what was (or would be) removed"), errors=("400", "401"),
        body={"type": "object", "properties": {"dry_run": {"type": "boolean"}}})},
}

_CSRF = ("From a page: the session cookie `cc_session` and the header `X-CSRF-Token` (403 `csrf` without it); "
         "roles in docs/web.md (403 `forbidden`).")
WEB_PATHS: dict[str, Any] = {
    "/api/login": {"post": {**_op(
        "Log in (the pages)", "Sets the session cookie `cc_session` (HttpOnly, SameSite=Strict). 401 `bad-login` for a "
        "wrong name or password alike; 5 failures per name or address in 5 minutes: 429 `too-many-attempts` with "
        "Retry-After.", _ok("`{name, role, csrf_token, agent}`"), errors=("400", "401", "429"),
        body={"type": "object", "required": ["name", "password"], "properties": {
            "name": {"type": "string"}, "password": {"type": "string"}}}), "security": []}},
    "/api/logout": {"post": _op("Log out", "Ends the session.", _ok("`{logged_out}`"))},
    "/api/session": {"get": _op("Who is logged in", "With the CSRF token the page sends on changes.",
                                _ok("`{name, role, csrf_token, agent}`"))},
    "/api/users": {"get": _op("Web users (admins)", "Agents (one per agent of callcenter.yaml), supervisors, admins.",
                              _ok("users", _LIST), errors=("401", "403")),
                   "post": _op("Add a web user (admins)", "201 with a generated `password`, shown once.",
                               _ok("`{name, role, password}`"), errors=("400", "401", "403", "409"),
                               body={"type": "object", "required": ["name", "role"], "properties": {
                                   "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"},
                                   "role": {"enum": ["agent", "supervisor", "admin"]}}})},
    "/api/users/{name}": {
        "patch": _op("Change a user's role, or give a new password (admins)", "`new_password: true` answers with a "
                     "generated `password`, shown once; the user's sessions end.", _ok("the user"),
                     errors=("400", "401", "403", "404"), params=("name",),
                     body={"type": "object", "properties": {"role": {"enum": ["agent", "supervisor", "admin"]},
                                                            "new_password": {"type": "boolean"}}}),
        "delete": _op("Remove a user (admins)", "Their sessions end.", _ok("`{removed}`"),
                      errors=("401", "403", "404"), params=("name",))},
    "/api/ws": {"get": _op("Live updates (WebSocket)", "A snapshot first, then agent / queue / pop / call / voicemail "
                           "/ callbacks / wallboard messages (docs/web.md). Close code 4000: fell behind, reconnect.",
                           _ok("101 Switching Protocols"))},
    "/api/calls/{call_id}/wrapup": {"post": _op(
        "Set a call's wrap-up code", f"One of `web.wrapup_codes`; an agent only on their own calls. {_CSRF}",
        _ok("the call's interaction"), errors=("400", "401", "403", "404"), params=("call_id",),
        body={"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})},
    "/api/originate": {"post": _op(
        "Click-to-call", "The agent's phone rings first; when answered, the customer is called through the trunk "
        "(showing the hotline's number), and the call goes on `ticket_id`. With the API token, name the `agent`.",
        _ok("`{call_id, agent, number, ticket_id}`"), errors=("400", "401", "403", "404", "503"),
        body={"type": "object", "required": ["number"], "properties": {
            "number": {"type": "string", "description": "3-20 digits, an optional leading +"},
            "ticket_id": {"type": "integer"}, "agent": {"type": "string"}}})},
    "/api/voicemails/{id}/handled": {"post": _op(
        "Mark a voicemail handled", "Clears its ticket's call-back flag (in the ticket's history).",
        _ok("the voicemail's interaction"), errors=("401", "403", "404"), params=("id",))},
    "/api/interactions/{id}/audio": {"get": _op(
        "The audio of a call recording or a voicemail", "audio/wav; only files in Asterisk's recordings and voicemail "
        "folders. 404 `no-audio` otherwise.", {"description": "audio/wav", "content": {"audio/wav": {}}},
        errors=("401", "404"), params=("id",))},
    "/api/wallboard": {"get": _op(
        "The wallboard (supervisors)", "Per queue: waiting, longest wait, service level against its target, ASA, "
        "abandon rate, agents by state; per agent: state and seconds in it, calls, talk and pause seconds; contacts "
        "per channel today; the store's call log backlog.",
        _ok("`{generated_at, queues, agents, today, store}` (`store`: the call log's `backlog`, `backlog_peak`, "
            "`backlog_dropped`, in events; null without a store)"), errors=("401", "403"))},
    "/api/wallboard.csv": {"get": _op("Today's wallboard as CSV (supervisors)", "Queues, then agents, then channels.",
                                      {"description": "text/csv", "content": {"text/csv": {}}},
                                      errors=("401", "403"))},
}

_TWIML = {"description": "empty TwiML", "content": {"text/xml": {}}}
_FORM = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
SMS_PATHS: dict[str, Any] = {
    "/webhooks/sms/twilio": {"post": {
        "summary": "Inbound SMS (Twilio's webhook)", "security": [],
        "description": "Form fields From, To, Body, MessageSid. `X-Twilio-Signature` must be base64 HMAC-SHA1 of "
                       "`sms.public_url` + path + the parameters sorted by name, keyed with the auth token "
                       "(`twilio_auth_token` in secrets.yaml, or $CALLCENTER_TWILIO_AUTH_TOKEN): else 403 and "
                       "nothing stored. Written once per MessageSid; STOP/START set the number's opt-out.",
        "requestBody": _FORM, "responses": {"200": _TWIML, "400": _ERROR, "403": {"description": "bad signature"}}}},
    "/webhooks/sms/twilio/status": {"post": {
        "summary": "SMS delivery report (Twilio's status callback)", "security": [],
        "description": "MessageSid, MessageStatus; signed as the inbound webhook.", "requestBody": _FORM,
        "responses": {"200": _TWIML, "403": {"description": "bad signature"}}}},
    "/api/email/quarantine": {"get": _op(
        "Mail kept aside (supervisors)", "Messages the receiver could not put on a ticket, newest first: `id` (e.g. "
        "`20261207-223507-0123456789ab`), the .eml `file`, the `reason` (unreadable MIME, no sender, an undecodable "
        "part, our own address, ...), `at`, `peer`, `mail_from`, `bytes`; after a release that failed again also "
        "`released_at`, `released_by`. `problem`: why the receiver is not running, if it is not.",
        _ok("`{problem, messages}`"), errors=("401", "403"))},
    "/api/email/quarantine/{id}/release": {"post": _op(
        "Take a quarantined message again (supervisors)", "Through the same intake as new mail (after a fix, or "
        "because a person accepts it: mail from `email.from_address` is then taken). Stored: it leaves the "
        "quarantine and lands on its ticket (`new: false` when it was there already). Still unreadable: 422 "
        "`still-quarantined`, it stays with the new reason (`details.reason`). 404 `unknown-quarantined` for an id "
        "not of the list's shape or not there; 409 `quarantine-busy` while the same message is being released; "
        "503 `email-off` with `email.enabled: false`. " + _CSRF,
        _ok("`{id, released: true, interaction, ticket, new}`"), errors=("401", "403", "404", "409", "422", "503"),
        params=("id",))},
    "/api/email/quarantine/{id}": {"delete": _op(
        "Delete a quarantined message for good (supervisors)", "Its .eml and its note. 404 `unknown-quarantined`, "
        "409 `quarantine-busy` (being released), 503 `email-off`. " + _CSRF,
        _ok("`{id, deleted: true}`"), errors=("401", "403", "404", "409", "503"), params=("id",))},
    "/api/interactions/{id}/html": {"get": _op(
        "An email's HTML, made safe", "The HTML part of an inbound email, sanitized (no script, style element, form, "
        "frame or remote image; links http(s)/mailto only) and served with `Content-Security-Policy: sandbox; "
        "default-src 'none'`. The text of the message (the interaction's `body`) is what the workspace shows; this "
        "is the view apart. 404 `unknown-interaction` when the mail had no HTML part.",
        {"description": "text/html"}, errors=("401", "404"), params=("id",))},
    "/api/tickets/{id}/reply": {"post": _op(
        "Reply on a ticket by SMS or email", "SMS: to the customer's first phone (or `to`), through `sms.provider` "
        "(dev: kept on the ticket, nothing sent); 409 `opted-out` after the number sent STOP; 400 `too-long` over 10 "
        "segments (GSM-7 153 / UCS-2 67 characters each). Email: to the thread's sender through `email.relay_host` "
        "(none: kept on the ticket), with Message-ID, In-Reply-To, References and `[#id]` in the subject; 502 "
        "`mail-send-failed` when the relay refuses it.", _ok("the message's interaction, with `segments`"),
        errors=("400", "401", "403", "404", "409", "502"), params=("id",),
        body={"type": "object", "required": ["channel", "text"], "properties": {
            "channel": {"enum": ["sms", "email"]}, "text": {"type": "string"}, "to": {"type": "string"}}})},
}

_CHAT_ID = ("id",)
_TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 20000}}}
CHAT = ("a chat: `{id, state (waiting|active|ended), queue, agent, agent_name, visitor (8 characters of the visitor's "
        "id), customer_id, ticket_id, started_at, assigned_at, contact {name, email, phone} as the visitor gave it, "
        "verified [\"phone:+1...\", ...], visitor_online}`")
MESSAGE = ("a message: `{id, chat, from (visitor|agent|system), name, agent, text, at (epoch seconds), attachments "
           "[{name, type, bytes, key, url}]}`")
CHAT_PATHS: dict[str, Any] = {
    "/chat/ws": {"get": {
        "summary": "The chat widget's WebSocket (visitors; public)", "security": [],
        "description": "JSON frames. The visitor sends `{type: hello, visitor: TOKEN|\"\", queue}` first (10 s), "
                       "then `message {text}`, `typing`, `contact {name, email, phone}`, `end`. The server sends "
                       "`welcome {visitor: TOKEN, online, chat, history, limits}` (keep TOKEN: the same browser gets "
                       "its history back), `message {message}`, `chat {chat: {id, state, agent, position}}`, "
                       "`typing {from: agent}`, `contact {ok}`, `error {error_id, message}` (`rate-limited`: 20 "
                       "messages a minute per visitor; `too-long`: over `chat.max_text`). A browser's Origin must "
                       "be this server or in `chat.allowed_origins` (else 403 `origin`); 30 connections a minute "
                       "and as many open per address (`chat.connections_per_address`, 30; else 429).",
        "responses": {"101": {"description": "switching to WebSocket"}, "403": _ERROR, "429": _ERROR}}},
    "/chat/widget.js": {"get": {"summary": "The embeddable chat widget (public)", "security": [],
                                "description": "`<script src=\"http://HOST:PORT/chat/widget.js\" data-queue=\"support\" "
                                               "data-lang=\"en|zh-CN\" async></script>` on any allowed site.",
                                "responses": {"200": {"description": "JavaScript"}}}},
    "/chat/demo.html": {"get": {"summary": "A page with the widget on it (public)", "security": [],
                                "description": "To try the widget.", "responses": {"200": {"description": "HTML"}}}},
    "/chat/upload": {
        "post": {"summary": "A visitor's attachment (public)", "security": [],
                 "description": "multipart/form-data field `file`, header `X-Chat-Visitor: TOKEN` (a visitor with "
                                "the chat open). PNG, JPEG, GIF, WebP or PDF told by the file's bytes (else 415 "
                                "`bad-type`), at most `chat.max_attachment_bytes` (else 413 `too-large`); 10 per "
                                "visitor in 10 minutes. 201 `{message}`.",
                 "responses": {"201": _ok(MESSAGE), "400": _ERROR, "403": _ERROR, "413": _ERROR, "415": _ERROR,
                               "429": _ERROR}},
        "options": {"summary": "CORS preflight", "security": [], "description": "For `chat.allowed_origins`.",
                    "responses": {"204": {"description": "allowed"}, "403": {"description": "not allowed"}}}},
    "/chat/offline": {
        "post": {"summary": "The leave-a-message form (public)", "security": [],
                 "description": "`{visitor?, queue?, name?, email?, phone?, text}`: email or phone needed (400 "
                                "`no-address`). A ticket of the customer the email (else phone) names; 201 "
                                "`{ticket}`. 5 per address in 10 minutes.",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}},
                 "responses": {"201": _ok("`{ticket}`"), "400": _ERROR, "403": _ERROR, "429": _ERROR}},
        "options": {"summary": "CORS preflight", "security": [], "description": "For `chat.allowed_origins`.",
                    "responses": {"204": {"description": "allowed"}, "403": {"description": "not allowed"}}}},
    "/api/chats": {"get": _op("Live chats", "An agent's own chats; a supervisor's: all waiting and active ones. Each "
                              "is " + CHAT + " with `messages` (oldest first).", _ok("`{chats}`"))},
    "/api/chats/canned": {"get": _op("Canned replies", "`chat.canned_replies` as `{replies: [{key, text}]}`.",
                                     _ok("`{replies}`"))},
    "/api/chats/{id}/messages": {"post": _op(
        "Answer in a chat", "The chat's agent (or a supervisor): 403 `not-yours` otherwise; 409 `chat-ended`. The "
        "ticket's first response is stamped. Returns (201) " + MESSAGE + ".", _ok(MESSAGE),
        errors=("400", "401", "403", "404", "409"), params=_CHAT_ID, body=_TEXT)},
    "/api/chats/{id}/typing": {"post": _op("Tell the visitor the agent is typing", "204; at most every 2 s.",
                                           {"description": "told"}, errors=("401", "403", "404"), params=_CHAT_ID)},
    "/api/chats/{id}/transfer": {"post": _op(
        "Pass a chat on", "`{agent}` (who must have a page open and room: 409 `agent-busy`) or `{queue}` (it waits "
        "there again). The visitor is told.", _ok(CHAT), errors=("400", "401", "403", "404", "409"), params=_CHAT_ID,
        body={"type": "object", "properties": {"agent": {"type": "string"}, "queue": {"type": "string"}}})},
    "/api/chats/{id}/end": {"post": _op("End a chat", "The visitor is told; their next message starts a new chat.",
                                        _ok(CHAT), errors=("401", "403", "404"), params=_CHAT_ID)},
    "/api/chats/{id}/verify": {"post": _op(
        "Verify the visitor's email or phone", "`{kind: email|phone, value}`: the identity joins the chat's customer; "
        "if it is another customer's, the chat's customer is merged into theirs (reversible: `customer unmerge`) and "
        "the chat moves onto their open ticket on the chat's topic.", _ok(CHAT),
        errors=("400", "401", "403", "404", "409"), params=_CHAT_ID,
        body={"type": "object", "required": ["kind", "value"], "properties": {
            "kind": {"enum": ["email", "phone"]}, "value": {"type": "string"}}})},
    "/api/chats/{id}/call": {"post": _op(
        "Chat → call", "`{number?}` (default: the verified phone, else the one the visitor gave): the agent's phone "
        "rings, then the number through the trunk, on the chat's ticket (as POST /api/originate). 409 `no-number`, "
        "`no-trunk`, `phone-not-registered`.", _ok("`{call_id, chat}`"), errors=("400", "401", "403", "404", "409"),
        params=_CHAT_ID, body={"type": "object", "properties": {"number": {"type": "string"}}})},
    "/api/chat-files/{key}": {"get": _op(
        "A chat attachment", "As a download (`Content-Disposition: attachment`), for logged-in users.",
        {"description": "the file"}, errors=("401", "404"), params=("key",))},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "callcenter controller API", "version": "0.1.0",
             "description": "The controller's live state and commands (the CLI uses the same API). Every "
                            "request but /api/health, /api/openapi.json and /api/login needs `Authorization: Bearer "
                            "<token>` (`api_token` in the runtime folder's secrets.yaml) or, from the pages, a "
                            "session cookie with its CSRF token (docs/web.md). Times are epoch seconds, durations "
                            "seconds. Errors: JSON `{error_id, message, details}`."},
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        "responses": {"Error": _ok("An error with a stable id (e.g. unknown-queue 404, invalid-text 400, "
                                   "unauthorized 401, ami-disconnected 503)",
                                   {"type": "object", "required": ["error_id", "message"],
                                    "properties": {"error_id": {"type": "string"}, "message": {"type": "string"},
                                                   "details": {"type": "object"}}})},
    },
    "security": [{"token": []}],
    "paths": {
        "/api/health": {"get": {**_op("Liveness", "Always answers while the controller runs; no token needed.",
                                      _ok("`{ok, ami}`"), errors=()), "security": []}},
        "/api/openapi.json": {"get": {**_op("This description", "No token needed.", _ok("OpenAPI 3.1"),
                                            errors=()), "security": []}},
        "/api/status": {"get": _op(
            "System status", "Asterisk version/uptime, AMI connection, the resync after the last (re)connect "
            "(`resync.state`: waiting-for-boot | running | retrying | done; `last_duration` s), calls, event "
            "counts, per-subscriber errors and drops (`subscribers`), the last refused config reload "
            "(`config.error`), queues, flows, `transcription` (voicemail jobs by state, a problem with the speech model), "
            "`store` (its URL, writes, `problem`; the call log: `backlog` events not yet written, `backlog_peak`, "
            "`backlog_dropped` (not held: written from Asterisk's CDR), `batches`, `events_written`, `refused` "
            "{since, error} while the database refuses or does not answer; `known_phones` and `caller_lookups` "
            "{answered_at_once, looked_up} of the IVR's caller lookup).",
            _ok("status"))},
        "/api/calls": {"get": {**_op("Active and recent calls", "Call records by Linkedid: caller, DID, times, "
                                     "queue, agent, Q.850 hangup cause, IVR path and variables.",
                                     _ok("`{active: [...], recent: [...]}`")),
                               "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer",
                                                                                         "default": 50}}]}},
        "/api/calls/{call_id}": {"get": _op("One call record", "`call_id` is the Linkedid.", _ok("call"),
                                            errors=("401", "404"), params=("call_id",))},
        "/api/calls/{call_id}/recording": {"post": _op(
            "Pause or resume a live call's recording", "For card numbers: the recording is muted (silence) while "
            "paused. 409 `not-recorded` unless the call was answered in a queue with `record: true`.",
            _ok("`{call_id, recording: paused | recording}`"), errors=("400", "401", "404", "409"),
            params=("call_id",), body={"type": "object", "required": ["action"],
                                       "properties": {"action": {"enum": ["pause", "resume"]}}})},
        **CALL_CONTROL_PATHS,
        "/api/queues": {"get": _op("Queues with live numbers", "Waiting callers, longest wait, offered, answered, "
                                   "abandoned, overflowed, service level, ASA, AHT, members with state.",
                                   _ok("queues", _LIST))},
        "/api/queues/{name}": {"get": _op("One queue", "", _ok("queue"), errors=("401", "404"), params=("name",))},
        "/api/queues/{name}/members": {"post": _op(
            "Add an agent to a queue (or change its penalty)", "Kept in the store and restored after restarts.",
            _ok("the queue"), errors=("400", "401", "404"), params=("name",),
            body={"type": "object", "required": ["agent"], "properties": {
                "agent": {"type": "string"}, "penalty": {"type": "integer", "minimum": 0, "maximum": 100}}})},
        "/api/queues/{name}/members/{agent}": {"delete": _op("Remove an agent from a queue", "", _ok("the queue"),
                                                             errors=("401", "404", "409"), params=("name", "agent"))},
        "/api/agents": {"get": _op("Agents", "State: logged_out | unreachable | ringing | on_call | wrapup | paused "
                                   "| ready (from the phone's registrations and device state, and the queues); "
                                   "calls, talk and pause time by reason.", _ok("agents", _LIST))},
        "/api/agents/{name}": {"get": _op("One agent", "", _ok("agent"), errors=("401", "404"), params=("name",))},
        "/api/agents/{name}/pause": {"post": _op("Pause an agent with a reason", "", _ok("the agent"),
                                                 errors=("400", "401", "404", "409"), params=("name",),
                                                 body=PAUSE_BODY)},
        "/api/agents/{name}/unpause": {"post": _op("Unpause an agent", "", _ok("the agent"), errors=("401", "404"),
                                                   params=("name",))},
        "/api/agents/{name}/phone": {"post": _op(
            "Choose the phone an agent's calls ring", "`desk` (the SIP phone, endpoint `<agent>`) or `browser` (the "
            "agent page's softphone, endpoint `<agent>-webrtc`; docs/softphone.md). Queue offers, click-to-call and the "
            "agent's presence follow the chosen phone; kept across restarts. An agent may choose only their own "
            "(403); 400 `bad-phone`, 404 `unknown-agent`.", _ok("`{agent, phone}`"),
            errors=("400", "401", "403", "404"), params=("name",),
            body={"type": "object", "required": ["phone"], "properties": {
                "phone": {"type": "string", "enum": ["desk", "browser"]}}})},
        "/api/softphone": {"get": _op(
            "The logged-in agent's browser softphone settings", "`{agent, phone, ws_url, uri, username, password, "
            "display_name, ice_servers}`: what the page registers with (SIP over WebSocket to Asterisk). The agent's "
            "own only: 400 `not-an-agent` for anyone else (the API token too); 409 `softphone-off` when `sip.ws_port` "
            "is 0. Not cached (Cache-Control: no-store).", _ok("the settings"), errors=("400", "401", "409"))},
        "/api/flows": {"get": _op("IVR flows running", "Version, names, errors of a refused reload.", _ok("flows"))},
        "/api/flows/reload": {"post": _op("Reload the IVR flows now", "422 with the errors when refused (the "
                                          "running version stays).", _ok("flows"), errors=("401", "422"))},
        "/api/config/reload": {"post": _op("Apply an edited callcenter.yaml now", "422 with `error_id` and the "
                                           "located error when refused (nothing changes).", _ok("what changed"),
                                           errors=("401", "422"))},
        "/api/callbacks": {"get": _op("Queue callback requests", "pending | dialing | connected | failed, attempts.",
                                      _ok("requests", _LIST))},
        **STORE_PATHS,
        **INBOX_PATHS,
        **WEB_PATHS,
        **SMS_PATHS,
        **CHAT_PATHS,
    },
}
