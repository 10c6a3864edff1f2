"""Voicemail transcription jobs, durable in the store (callcenter/voicemail/worker.py runs them).

A voicemail gets one job when it is written (`queue`), or a settled `empty` one when there is
nothing to hear; the worker takes the oldest due job (`take`, marked running), and settles it
(`finish`: done, empty, failed, or queued again later). A restarted controller takes up what was
left running (`recover`). Job states: queued | running | done | empty | failed.

Errors: NotFound `unknown-voicemail`.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.core.errors import NotFound
from callcenter.tickets import db
from callcenter.tickets import search
from callcenter.tickets import terms
from callcenter.tickets.inputs import is_id
from callcenter.tickets.interactions import by_call
from callcenter.tickets.rows import InteractionRow, TakenJob, VoicemailRow, interaction_row
from callcenter.tickets.schema import Interaction, Ticket, TicketChange, TranscriptionJob
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop


def new_job(voicemail: Interaction, language: str, now: float, engine: str = "") -> TranscriptionJob:
    """A queued job for `voicemail` (not added to a session)."""
    return TranscriptionJob(interaction_id=voicemail.id, path=voicemail.recording_path, language=language,
                            engine=engine, state="queued", attempts=0, next_try_at=0.0, error="", created_at=now,
                            updated_at=now)


async def queue_job(s: AsyncSession, call_id: str, language: str, now: float) -> int | None:
    """In transaction `s`: a job for the call's voicemail (one open job per voicemail): its id, or
    None if there is no voicemail for that call."""
    vm = await by_call(s, "voicemail", call_id)
    if vm is None:
        return None
    existing = (await s.execute(select(TranscriptionJob).where(
        TranscriptionJob.interaction_id == vm.id, TranscriptionJob.state.in_(("queued", "running")))
    )).scalars().first()
    if existing is not None:
        return existing.id
    job = new_job(vm, language, now)
    s.add(job)
    await s.flush()
    return job.id


async def mark_empty(s: AsyncSession, call_id: str, reason: str, now: float) -> None:
    """In transaction `s`: the call's voicemail is empty (`reason`), with a settled `empty` job."""
    vm = await by_call(s, "voicemail", call_id)
    if vm is None:
        return
    vm.recording_problem = f"empty voicemail: {reason}"[:200]
    if (await s.execute(select(TranscriptionJob.id).where(TranscriptionJob.interaction_id == vm.id)
                        .limit(1))).first() is None:
        job = new_job(vm, "auto", now)
        job.state, job.error = "empty", reason[:500]
        s.add(job)


async def _flag_callback(s: AsyncSession, ticket_id: int | None, now: float, why: str) -> None:
    """The voicemail's ticket is flagged to call back (once), `why` in its history."""
    ticket = await s.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is not None and not ticket.callback_requested:
        ticket.callback_requested, ticket.updated_at = True, now
        s.add(TicketChange(ticket_id=ticket.id, at=now, actor="system", field="callback_requested", old="", new=why))


@on_store_loop
class TranscriptionJobs:
    """The transcription jobs of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def queue(self, call_id: str, language: str = "auto") -> int | None:
        """A job for the call's voicemail (idempotent: one open job per voicemail). Returns its id,
        or None if the store has no voicemail for that call."""
        async with self.store.writing() as s:
            job = await queue_job(s, call_id, language, self.store.clock())
            self.store.writes += 1
            return job

    async def empty_voicemail(self, call_id: str, reason: str) -> None:
        """The call's voicemail is empty (`reason`: too short, no sound): recorded as such, with a
        settled `empty` job (listed, never transcribed, its ticket not flagged to call back).
        Idempotent."""
        async with self.store.writing() as s:
            await mark_empty(s, call_id, reason, self.store.clock())
            self.store.writes += 1

    async def retranscribe(self, interaction_id: int, language: str = "auto", engine: str = "") -> int:
        """Queue a voicemail again (another engine or language, or after a failure; `engine` ""
        is the configured one). Returns the job's id. Errors: NotFound `unknown-voicemail`."""
        now = self.store.clock()
        async with self.store.writing() as s:
            vm = await s.get(Interaction, interaction_id) if is_id(interaction_id) else None
            if vm is None or vm.channel != "voicemail":
                raise NotFound("unknown-voicemail", f"no voicemail #{interaction_id}")
            waiting = (await s.execute(select(TranscriptionJob).where(
                TranscriptionJob.interaction_id == vm.id, TranscriptionJob.state == "queued"))).scalars().first()
            if waiting is not None:  # asked again before it ran: one job, with what was asked last
                waiting.language, waiting.engine, waiting.updated_at = language, engine, now
                return waiting.id
            # One running already: this is a new job after it (never dropped).
            job = new_job(vm, language, now, engine)
            s.add(job)
            await s.flush()
            self.store.writes += 1
            return job.id

    async def recover(self) -> dict[str, int]:
        """At start: jobs left `running` by a dead worker are queued again; voicemails that never got
        a job (a crash between the two writes) get one. Returns {"requeued": n, "created": n}."""
        now = self.store.clock()
        async with self.store.writing() as s:
            running = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.state == "running"))).scalars().all()
            for job in running:
                job.state, job.updated_at = "queued", now
            requeued = len(running)
            orphans = (await s.execute(select(Interaction).where(
                Interaction.channel == "voicemail", Interaction.recording_path != "",
                ~select(TranscriptionJob.id).where(TranscriptionJob.interaction_id == Interaction.id).exists())
            )).scalars().all()
            for vm in orphans:
                s.add(new_job(vm, "auto", now))
            return {"requeued": int(requeued or 0), "created": len(orphans)}

    async def take(self) -> TakenJob | None:
        """The oldest due queued job, marked running (attempts + 1); None if nothing is due."""
        now = self.store.clock()
        async with self.store.writing() as s:
            job = (await s.execute(select(TranscriptionJob).where(
                TranscriptionJob.state == "queued", TranscriptionJob.next_try_at <= now)
                .order_by(TranscriptionJob.id).limit(1))).scalars().first()
            if job is None:
                return None
            job.state, job.attempts, job.updated_at = "running", job.attempts + 1, now
            return {"id": job.id, "interaction_id": job.interaction_id, "path": job.path, "language": job.language,
                    "engine": job.engine, "attempts": job.attempts}

    async def counts(self) -> dict[str, int]:
        """Jobs by state (queued, running, done, empty, failed): what `status` shows."""
        async with self.store.session() as s:
            rows = (await s.execute(select(TranscriptionJob.state, func.count()).group_by(TranscriptionJob.state))).all()
        return {"queued": 0, "running": 0, "done": 0, "empty": 0, "failed": 0, **{k: int(n) for k, n in rows}}

    async def next_due_at(self) -> float | None:
        """When the next queued job is due (epoch seconds; None: nothing queued)."""
        async with self.store.session() as s:
            due: float | None = (await s.execute(select(func.min(TranscriptionJob.next_try_at)).where(
                TranscriptionJob.state == "queued"))).scalar_one_or_none()
            return due

    async def finish(self, job_id: int, *, state: str, transcript: Mapping[str, Any] | None = None, error: str = "",
                     retry_at: float | None = None) -> InteractionRow:
        """Settle a job: `done` (the text goes on the voicemail, its ticket is flagged to call back),
        `empty` (no speech: said on the voicemail), `failed` (with the reason), or `queued` again at
        `retry_at` (epoch seconds). `transcript`: the engine's (its `text`, language, words...).
        Returns the voicemail interaction."""
        words = terms.doc_terms("", str(transcript.get("text", ""))) if state == "done" and transcript else []
        return await db.retried(lambda: self._finish(job_id, state, transcript, words, error, retry_at))

    async def _finish(self, job_id: int, state: str, transcript: Mapping[str, Any] | None, words: list[str], error: str,
                      retry_at: float | None) -> InteractionRow:
        now = self.store.clock()
        async with self.store.writing() as s:
            job = await s.get(TranscriptionJob, job_id)
            assert job is not None
            vm = await s.get(Interaction, job.interaction_id)
            assert vm is not None
            job.state, job.error, job.updated_at = state, error[:500], now
            if retry_at is not None:
                job.next_try_at = retry_at
            if state == "done" and transcript is not None:
                vm.body, vm.transcript = str(transcript.get("text", "")), dict(transcript)
                # Transcribed again (another engine or language): the new text replaces the old one's words.
                await search.index(s, self.store, [search.Doc(vm.id, vm.ticket_id, words)], replace=True)
                await _flag_callback(s, vm.ticket_id, now, f"voicemail #{vm.id} transcribed")
            elif state == "empty":
                vm.recording_problem = "empty voicemail: no speech"
                vm.transcript = dict(transcript or {})
                job.error = "no speech found"
            elif state == "failed":
                if not vm.body:  # a failed re-run keeps the text an earlier run gave
                    vm.recording_problem = f"transcription failed: {error}"[:200]
                # A message nobody can read is still a message: a person must listen to it.
                await _flag_callback(s, vm.ticket_id, now, f"voicemail #{vm.id} not transcribed: listen to it")
            await s.flush()
            self.store.writes += 1
            return interaction_row(vm)

    async def voicemails(self, *, state: str | None = None, limit: int = 100,
                         voicemail_id: int | None = None) -> list[VoicemailRow]:
        """Voicemails with their jobs, newest job first: caller, time, seconds, job state, the text
        (`voicemail_id`: one voicemail's jobs, with its full transcript)."""
        async with self.store.session() as s:
            query = (select(TranscriptionJob, Interaction).join(Interaction,
                                                                 Interaction.id == TranscriptionJob.interaction_id)
                     .order_by(TranscriptionJob.id.desc()).limit(limit))
            if voicemail_id is not None:
                query = query.where(TranscriptionJob.interaction_id == voicemail_id)
            else:  # one row per voicemail (its latest job), newest voicemail first
                latest = select(func.max(TranscriptionJob.id)).group_by(TranscriptionJob.interaction_id)
                query = query.where(TranscriptionJob.id.in_(latest)).order_by(None).order_by(
                    TranscriptionJob.interaction_id.desc())
            if state is not None:
                query = query.where(TranscriptionJob.state == state)
            out: list[VoicemailRow] = []
            for job, vm in (await s.execute(query)).all():
                row: VoicemailRow = {
                    "voicemail": vm.id, "job": job.id, "state": job.state, "attempts": job.attempts,
                    "error": job.error, "caller": vm.address, "call_id": vm.call_id, "ticket": vm.ticket_id,
                    "customer": vm.customer_id, "started_at": vm.started_at, "seconds": vm.recording_seconds,
                    "text": vm.body, "language": (vm.transcript or {}).get("language", ""),
                    "path": vm.recording_path, "handled_at": vm.handled_at, "handled_by": vm.handled_by}
                if voicemail_id is not None:
                    row["transcript"] = dict(vm.transcript or {})
                out.append(row)
            return out
