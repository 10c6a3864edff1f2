"""Voicemail's wiring: the transcription worker (speech to text in child processes, each job in the
store), woken when a voicemail is queued or transcribed again; the inbox's routes
(voicemail/routes.py: `/api/voicemails`, audio of interactions; docs/voicemail.md); the
`transcription` part of the status."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError
from callcenter.core.feature import Feature, Route, Task
from callcenter.deps import Deps
from callcenter.tickets.core import TicketCore
from callcenter.voicemail import engines
from callcenter.voicemail.routes import VoicemailRoutes
from callcenter.voicemail.worker import TranscriptionWorker


class VoicemailFeature(Feature):
    name = "voicemail"

    def __init__(self, deps: Deps, core: TicketCore) -> None:
        config = deps.config()
        self.config, self.core = deps.config, core
        speech = config.speech
        self.worker = TranscriptionWorker(core, deps.bus.publish, deps.clock, engine=speech.engine,
                                          model=config.speech_model, threads=speech.threads, workers=speech.workers,
                                          attempts=speech.attempts, max_seconds=speech.max_seconds,
                                          beam_size=speech.beam_size, nice=speech.nice)
        deps.bus.subscribe("transcription", self._queued, ev.TranscriptionQueued)

    def _queued(self, event: ev.TranscriptionQueued) -> None:
        self.worker.wake()

    def routes(self) -> list[Route]:
        return VoicemailRoutes(self.core, self.worker).table()

    def tasks(self) -> list[Task]:
        return [(self.worker.run(), "transcription")]

    async def describe(self) -> dict[str, Any]:
        """Jobs by state, and what is wrong with the configured model (read from files: no model
        library is imported)."""
        config = self.config()
        try:
            await asyncio.to_thread(engines.check, config.speech.engine, config.speech_model, config.speech.language)
            problem = ""
        except CallcenterError as exc:
            problem = f"{exc.error_id}: {exc}"
        try:
            jobs = await self.core.jobs.counts()
        except CallcenterError:
            jobs = {}
        return {"transcription": {"engine": config.speech.engine, "problem": problem, "jobs": jobs}}
