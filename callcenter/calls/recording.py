"""Recordings of queue calls: where Asterisk writes them, pausing them, and what a file holds.

A queue with `record: true` has app_queue start MixMonitor when an agent answers (queues.conf
`monitor-format = wav`); the file is `<spool>/monitor/<Uniqueid>.wav`, the Uniqueid of the channel
in the queue: the caller's, which is the call's Linkedid. Pausing (e.g. while a card number is
read out) mutes both directions with AMI `MixMonitorMute`: the file keeps its length, with silence
for the paused part, so times in the recording stay true.
"""

from __future__ import annotations

import hashlib
import time
import wave
from pathlib import Path
from typing import Any, Callable

from callcenter.ami import actions
from callcenter.ami.port import AmiPort
from callcenter.calls.tracker import CallTracker
from callcenter.core.events import CallRecord
from callcenter.config import Config
from callcenter.core.errors import Conflict, UnknownCall


class Recordings:
    """`folder` is the host path MixMonitor writes to (None: no Asterisk of our own, no files)."""

    def __init__(self, ami: AmiPort, tracker: CallTracker, config: Callable[[], Config], folder: Path | None) -> None:
        self.ami, self.tracker, self.config, self.folder = ami, tracker, config, folder

    def path_of(self, record: CallRecord) -> Path | None:
        """The file of a call that was answered in a recorded queue, else None."""
        queue = self.config().queues.get(record.queue or "")
        if self.folder is None or queue is None or not queue.record or record.agent_answered_at is None:
            return None
        return self.folder / f"{record.call_id}.wav"

    async def set_paused(self, call_id: str, paused: bool) -> dict[str, Any]:
        """Pause (mute) or resume a live call's recording. Errors: `unknown-call` (not live),
        `not-recorded` (not connected in a queue with `record: true`), AMI errors."""
        call = self.tracker.get(call_id)
        if call is None or call.state == "ended":
            raise UnknownCall(call_id)
        if self.path_of(call) is None or call.call_id not in call.channels:
            raise Conflict("not-recorded", f"call {call_id} is not being recorded (only calls answered in a "
                                  "queue with `record: true` are)", {"call_id": call_id})
        await self.ami.send(actions.mixmonitor_mute(call.channels[call.call_id], paused))
        self.tracker.note(call_id, "recording:paused" if paused else "recording:resumed")
        return {"call_id": call_id, "recording": "paused" if paused else "recording"}


def facts(path: Path, wait: float = 2.0) -> dict[str, Any]:
    """What the store keeps of a recording: `recording_path`, `recording_seconds` (from the WAV
    header), `recording_bytes`, `recording_sha256`, and `recording_problem` ("" when fine; "missing",
    "empty", "not a WAV file: ..."). Waits up to `wait` seconds for a file Asterisk is still closing.
    Blocking: run it in a thread."""
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    out: dict[str, Any] = {"recording_path": str(path), "recording_seconds": None, "recording_bytes": None,
                           "recording_sha256": "", "recording_problem": ""}
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        out["recording_problem"] = "missing: Asterisk wrote no file"
        return out
    out["recording_bytes"] = size
    with path.open("rb") as f:
        out["recording_sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
    if size <= 44:  # a WAV header alone
        out["recording_problem"] = "empty: no audio recorded"
        return out
    try:
        with wave.open(str(path), "rb") as w:
            out["recording_seconds"] = round(w.getnframes() / w.getframerate(), 2)
    except (wave.Error, EOFError) as exc:
        out["recording_problem"] = f"not a WAV file: {exc}"
    return out
