"""The voicemail inbox's routes (docs/voicemail.md, docs/web.md; web/openapi.py gives their
shapes): the voicemails with their latest transcription job, one voicemail, transcribing one again,
marking one handled, and the audio of a call or voicemail.

Agents read the inbox, mark voicemails handled and listen; a supervisor asks for a new
transcription. Audio is served only from inside the store policy's recording roots (the
recordings and voicemail folders), never from any path a row names.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from callcenter.core.errors import NotFound, Refused
from callcenter.core.feature import Route
from callcenter.tickets.core import TicketCore
from callcenter.voicemail import engines
from callcenter.voicemail.engines import ENGINES
from callcenter.voicemail.whisper import languages
from callcenter.voicemail.worker import TranscriptionWorker
from callcenter.web import access
from callcenter.web.http import json_body, limit, path_id, text_field

JOB_STATES = ("queued", "running", "done", "empty", "failed")
AUDIO_HEADERS = {"Content-Type": "audio/wav", "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


class VoicemailRoutes:
    """The inbox over the store's jobs and interactions; `worker` wakes after a retranscribe."""

    def __init__(self, core: TicketCore, worker: TranscriptionWorker) -> None:
        self.core, self.worker = core, worker

    def table(self) -> list[Route]:
        return [
            Route("GET", "/api/voicemails", self.voicemails, "agent"),
            Route("GET", "/api/voicemails/{id}", self.voicemail, "agent"),
            Route("POST", "/api/voicemails/{id}/retranscribe", self.retranscribe),
            Route("POST", "/api/voicemails/{id}/handled", self.handled, "agent"),
            Route("GET", "/api/interactions/{id}/audio", self.audio, "agent"),
        ]

    async def voicemails(self, request: web.Request) -> web.Response:
        """The latest job of each voicemail, newest first; `?state=` one of JOB_STATES, `?limit=`
        (default 100). Errors: Refused `bad-request`, `bad-limit`."""
        state = request.query.get("state")
        if state is not None and state not in JOB_STATES:
            raise Refused("bad-request", "state must be queued, running, done, empty or failed")
        return web.json_response(await self.core.jobs.voicemails(state=state, limit=limit(request, 100)))

    async def voicemail(self, request: web.Request) -> web.Response:
        """One voicemail's latest job, with `jobs` (how many it had). Errors: NotFound `unknown-voicemail`."""
        vid = path_id(request.match_info["id"], "voicemail")
        rows = await self.core.jobs.voicemails(voicemail_id=vid, limit=100)
        if not rows:
            raise NotFound("unknown-voicemail", f"no voicemail #{vid}")
        return web.json_response({**rows[0], "jobs": len(rows)})

    async def retranscribe(self, request: web.Request) -> web.Response:
        """`{language?: "auto" | a Whisper code, engine?: one of ENGINES}` → `{voicemail, job,
        state: "queued"}`; the worker wakes. Errors: Refused `bad-request`, `bad-language`,
        `unknown-engine` (and vosk's model checks), NotFound `unknown-voicemail`."""
        body = await json_body(request)
        language = (text_field(body, "language", "auto") or "auto").lower()
        if language != "auto" and language not in languages():
            raise Refused("bad-language", f"{language[:20]!r} is not auto or a language code Whisper knows "
                          "(en, zh, de, ...)")
        engine = text_field(body, "engine", "") or ""
        if engine and engine not in ENGINES:
            raise Refused("unknown-engine", f"no speech engine {engine[:20]!r} (engines: {', '.join(ENGINES)})")
        if engine == "vosk":  # one language per vosk model: is there one for this language here?
            await asyncio.to_thread(engines.check, engine, None, language)
        vid = path_id(request.match_info["id"], "voicemail")
        job = await self.core.jobs.retranscribe(vid, language, engine)
        self.worker.wake()
        return web.json_response({"voicemail": vid, "job": job, "state": "queued"})

    async def handled(self, request: web.Request) -> web.Response:
        """The voicemail is handled (its ticket's call-back flag cleared) → its interaction.
        Errors: NotFound `unknown-voicemail`."""
        vid = path_id(request.match_info["id"], "voicemail")
        return web.json_response(await self.core.accounts.voicemail_handled(vid, access.principal(request).name))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        """The interaction's recording as audio/wav, when it is a file inside the recording roots.
        Errors: NotFound `unknown-interaction` (not an id), `no-audio`."""
        interaction_id = path_id(request.match_info["id"], "interaction")
        row = await self.core.accounts.interaction(interaction_id)
        real = Path(row["recording_path"]).resolve() if row and row["recording_path"] else None
        roots = self.core.store.policy.recording_roots
        if real is None or not any(real.is_relative_to(root.resolve()) for root in roots) or not real.is_file():
            raise NotFound("no-audio", f"interaction #{interaction_id} has no audio here")
        return web.FileResponse(real, headers=AUDIO_HEADERS)
