"""The transcription worker: durable voicemail jobs (in the store) run in a pool of processes.

The event loop never transcribes: each job runs in a child process that loaded the engine once
(`workers` processes, default 1 on 2 cores), so a slow model never stalls the calls and a crash
of a child (out of memory, a native error) never takes the controller down: the pool is built
again and the job retried. The children run at a lower CPU priority (speech.nice, default NICE)
and with no more threads than there are cores (engines.cpu_threads), so transcription takes the
CPU that voice (the controller, Asterisk) leaves. Jobs survive controller restarts (`running` ones
are queued again at start). A file that cannot be read fails at once with the reason; other errors are retried with
backoff (RETRY_SECONDS) up to `attempts` times, then the job is `failed`, visibly. A message with no
speech (empty text) is `empty`. Each transcript goes on the voicemail's interaction, its ticket is
flagged to call back, and `VoicemailTranscribed` is published.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Awaitable, Callable

from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError
from callcenter.voicemail import audio
from callcenter.voicemail import engines
from callcenter.voicemail.engine import SpeechError
from callcenter.tickets.core import TicketCore
from callcenter.tickets.rows import TakenJob
from callcenter.core.timers import wait_for_change_or

log = logging.getLogger(__name__)

RETRY_SECONDS = (5.0, 30.0, 120.0)

# Niceness added to the transcription children by default (speech.nice; Linux: nice(2), inherited by
# the threads they start after it: CTranslate2's and onnxruntime's). The controller and Asterisk run
# at 0: at +10 the scheduler's weight of a child's thread is 110 against 1024 for theirs
# (sched/core.c sched_prio_to_weight), so while the calls need a core, transcription gets about a
# tenth of it and a busy voice path barely notices it; when they are idle it still gets all of it.
# Not +19: a backup or a build at the lowest priority should not stall the voicemails.
NICE = 10


def job_deadline(audio_seconds: float) -> float:
    """Seconds a transcription may take before its process is taken for hung: a model load, and
    three times real time (the default measures RTF ~0.4 here)."""
    return 60.0 + 3.0 * audio_seconds
FINAL = ("unreadable-audio", "no-model", "unknown-engine", "bad-language")  # retrying cannot help

_engines: dict[tuple[str, str], Any] = {}  # in each child process: (engine, model folder) → engine, loaded once
_threads = 2
_beam_size = 1


def _start_child(engine_name: str, model: str, threads: int, beam_size: int = 1, nice: int = NICE) -> None:
    global _threads, _beam_size
    _die_with_parent()
    lower_priority(nice)  # before the engine starts its threads: they inherit it
    _threads, _beam_size = threads, beam_size
    _engine(engine_name, model)  # the configured engine is loaded before the first job


def lower_priority(nice: int) -> int:
    """Add `nice` to this process's niceness (relative to the controller's, at most 19), for every
    thread it has (Linux: niceness is per thread, and a spawned child already has some before its
    initializer runs, e.g. OpenBLAS's, started when numpy is imported); threads started later
    inherit it. Returns the new niceness."""
    target = os.nice(nice)  # this thread
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # not Linux: os.nice is the process's
        return target
    for tid in map(int, tasks):
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
        except OSError:  # the thread has ended
            pass
    return target


def _engine(name: str, model: str) -> Any:
    if (name, model) not in _engines:
        from callcenter.voicemail.engines import engine
        _engines[name, model] = engine(name, Path(model), _threads, beam_size=_beam_size)
    return _engines[name, model]


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL when the controller dies (even by SIGKILL), never orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


def _transcribe(engine_name: str, model: str, path: str, language: str, max_seconds: float) -> dict[str, Any]:
    """In a child: the transcript as a dict; SpeechError passes back as (error_id, message)."""
    try:
        return {"ok": True, **_engine(engine_name, model).transcribe(Path(path), language, max_seconds).as_dict()}
    except CallcenterError as exc:
        return {"ok": False, "error_id": exc.error_id, "message": str(exc)}


class TranscriptionWorker:
    def __init__(self, store: TicketCore, publish: Callable[[Any], Awaitable[None]], clock: Callable[[], float], *,
                 engine: str = "faster-whisper", model: Path | None = None, threads: int = 0, workers: int = 1,
                 attempts: int = 3, max_seconds: float = 600.0, beam_size: int = 1, nice: int = NICE) -> None:
        """`threads`: per transcription, 0 for the cores shared among the `workers` (cpu_threads);
        `nice`: added to the children's niceness (their CPU priority below the controller's)."""
        self.store, self.publish, self.clock = store, publish, clock
        self.engine, self.model, self.workers, self.attempts = engine, model, workers, attempts
        self.threads = engines.cpu_threads(threads, workers)
        if threads > self.threads:
            log.warning("speech.threads %d x speech.workers %d is more than the %d cores: %d thread(s) per "
                        "transcription", threads, workers, engines.cores(), self.threads)
        self.max_seconds, self.beam_size, self.nice = max_seconds, beam_size, nice
        self._wake = asyncio.Event()
        self._pool: ProcessPoolExecutor | None = None
        self.done = self.failed = self.crashes = 0

    def wake(self) -> None:
        self._wake.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: a clean child (no copy of the controller's sockets, threads or event loop).
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_child,
                                   initargs=(self.engine, str(engines.model_for(self.engine, self.model)),
                                             self.threads, self.beam_size, self.nice))

    async def run(self) -> None:
        """Until cancelled. A store that fails for a while (locked, restarting) is waited out with
        backoff: the worker never ends the controller (docs/design.md#11)."""
        backoff = 1.0
        recovered = False
        try:
            while True:
                try:
                    if not recovered:
                        counts = await self.store.jobs.recover()
                        recovered = True
                        if any(counts.values()):
                            log.info("transcription: %d jobs queued again, %d voicemails without a job given one",
                                     counts["requeued"], counts["created"])
                    job = await self.store.jobs.take()
                    if job is None:
                        await wait_for_change_or(self._wake, await self.store.jobs.next_due_at(), self.clock)
                    else:
                        await self._run_job(job)
                    backoff = 1.0
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - logged, waited out, tried again
                    log.exception("transcription worker: error; trying again in %g s", backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(60.0, backoff * 2)
        finally:
            self._stop_pool()

    def _stop_pool(self) -> None:
        """Stop the children now, a transcription in progress too (its job stays `running` and is
        queued again at the next start): a stopping controller never waits minutes for one."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):  # no public handle on the children
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def _run_job(self, job: TakenJob) -> None:
        loop = asyncio.get_running_loop()
        deadline = 0.0
        try:
            # The model is checked here first: a missing or altered model fails the job with that
            # reason, instead of a child that dies while loading it.
            name = job["engine"] or self.engine
            model = await asyncio.to_thread(engines.check, name, self.model if name == self.engine else None,
                                            job["language"])
            seconds = await asyncio.to_thread(audio.check_wav, Path(job["path"]))
            if self._pool is None:
                self._pool = self._new_pool()
            deadline = job_deadline(min(seconds, self.max_seconds))
            result = await asyncio.wait_for(loop.run_in_executor(self._pool, _transcribe, name, str(model), job["path"],
                                                                 job["language"], self.max_seconds), deadline)
        except SpeechError as exc:
            result = {"ok": False, "error_id": exc.error_id, "message": str(exc)}
        except TimeoutError:  # a hung process (stopped, stuck in native code): killed, the job retried
            self.crashes += 1
            self._stop_pool()
            result = {"ok": False, "error_id": "transcription-timeout",
                      "message": f"no transcript within {deadline:.0f} s: the process was stopped"}
        except BrokenProcessPool as exc:  # the child died (killed, out of memory): a new pool, a retry
            self.crashes += 1
            self._stop_pool()
            result = {"ok": False, "error_id": "worker-crashed", "message": f"the transcription process died ({exc})"}
        except Exception as exc:  # noqa: BLE001 - e.g. the engine failed to load in the child
            result = {"ok": False, "error_id": "transcription-failed", "message": f"{type(exc).__name__}: {exc}"}
        if result.pop("ok"):
            state = "done" if result["text"].strip() else "empty"
            vm = await self.store.jobs.finish(job["id"], state=state, transcript=result)
            self.done += 1
            log.info("voicemail #%s transcribed (%s, %.1f s of audio in %.1f s): %r", vm["id"], result["language"],
                     result["duration"], result["seconds"], result["text"][:80])
            await self.publish(ev.VoicemailTranscribed(vm["call_id"], vm["id"], vm["ticket_id"], vm["customer_id"],
                                                       result["text"], result["language"], state == "empty",
                                                       self.clock()))
            return
        reason = f"{result['error_id']}: {result['message']}"
        final = result["error_id"] in FINAL or job["attempts"] >= self.attempts
        if final:
            self.failed += 1
            log.error("voicemail #%s: transcription failed after %d attempt(s): %s", job["interaction_id"],
                      job["attempts"], reason)
            await self.store.jobs.finish(job["id"], state="failed", error=reason)
        else:
            delay = RETRY_SECONDS[min(job["attempts"] - 1, len(RETRY_SECONDS) - 1)]
            log.warning("voicemail #%s: %s; retrying in %g s", job["interaction_id"], reason, delay)
            await self.store.jobs.finish(job["id"], state="queued", error=reason,
                                         retry_at=self.clock() + delay)
