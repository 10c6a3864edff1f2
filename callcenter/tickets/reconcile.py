"""Nothing missing after an outage: calls that ended while the controller was down (or killed)
are written from Asterisk's own call records (CDR, `log/cdr-custom/cdr.json`).

After every resync (`PictureRebuilt`: the controller started, or AMI came back) the reconciler
reads what Asterisk appended to the CDR file since its last look (at first, the file's last
FIRST_READ bytes), rebuilds the ended calls (calls/cdr.py), leaves out calls still live, and
writes each one the store lacks or has only in part, marked `reconciled`. A call is written once
whatever replays (one interaction per Linkedid).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Callable, Collection

from callcenter.calls import recording
from callcenter.calls.cdr import CdrRow, calls_from_cdr, parse_line
from callcenter.core.events import CallRecord
from callcenter.tickets.call_batch import ended_values, identified_in, record_counts
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)

FIRST_READ = 20 * 1024 * 1024  # bytes of the CDR file read at the first look


class CdrReconciler:
    """`path`: Asterisk's CDR file; `agents()`: the agents' names (their legs are not callers);
    `live()`: the ids of calls the controller follows now (never written from the CDR);
    `topic_of(did)` and `recording_of(record)` as the call writer's (tickets/calls.py)."""

    def __init__(self, core: TicketCore, path: Path, agents: Callable[[], Collection[str]],
                 live: Callable[[], Collection[str]], topic_of: Callable[[str], str],
                 recording_of: Callable[[CallRecord], Path | None]) -> None:
        self.core, self.path, self.agents, self.live = core, path, agents, live
        self.topic_of, self.recording_of = topic_of, recording_of
        self._where: tuple[int, int] | None = None  # (inode, offset) read up to

    def _read_new(self) -> list[CdrRow]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self._where is None or self._where[0] != st.st_ino or self._where[1] > st.st_size:
            start = max(0, st.st_size - FIRST_READ)  # first look, or the file was rotated
        else:
            start = self._where[1]
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(st.st_size - start)
        end = data.rfind(b"\n") + 1  # a line Asterisk is still writing waits for the next look
        self._where = (st.st_ino, start + end)
        rows = [parse_line(line) for line in data[:end].decode("utf-8", "replace").splitlines()]
        return [r for r in rows if r is not None]

    async def run_once(self) -> dict[str, int]:
        """Returns {"added": n, "completed": n} for this look. A write that fails leaves the read
        position where it was: the next look reads those rows again (each call is written once:
        `reconcile` knows what the store has). Errors: the store's."""
        before = self._where
        rows = await asyncio.to_thread(self._read_new)
        live = set(self.live())
        counts = {"added": 0, "completed": 0}
        identified = identified_in(self.core.store.policy.default_region)
        try:
            for record in calls_from_cdr(rows, self.agents()):
                if record.call_id in live or record.direction != "inbound" or \
                        not record_counts(record, identified(record.caller_id)):
                    continue  # a short call (tickets/call_batch.py: the rules) opens nothing
                result = await self.reconcile(record)
                if result in counts:
                    counts[result] += 1
        except BaseException:
            self._where = before
            raise
        if counts["added"] or counts["completed"]:
            log.info("reconciled from Asterisk's CDR: %d calls added, %d completed", counts["added"],
                     counts["completed"])
        return counts

    async def reconcile(self, record: CallRecord) -> str:
        """Write a call the controller did not see end (rebuilt from Asterisk's CDR): `added` if the
        store had nothing, `completed` if it had the call's first steps, `known` if it had it all."""
        existing = await self.core.calls.get(record.call_id)
        if existing is not None and existing["step"] == "ended":
            return "known"
        values = {**ended_values(record), "reconciled": True}
        path = self.recording_of(record)
        if path is not None:
            values.update(await asyncio.to_thread(recording.facts, path, 0.0))
        await self.core.calls.step(record.call_id, step="ended", caller_id=record.caller_id,
                                   caller_name=record.caller_name, did=record.did, topic=self.topic_of(record.did),
                                   direction="inbound", started_at=record.started_at, values=values)
        return "completed" if existing is not None else "added"
