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

from callcenter.calls.cdr import CdrRow, calls_from_cdr, parse_line
from callcenter.tickets import calls as store_calls

log = logging.getLogger(__name__)

FIRST_READ = 20 * 1024 * 1024  # bytes of the CDR file read at the first look


class CdrReconciler:
    def __init__(self, writer: store_calls.CallWriter, path: Path, agents: Callable[[], Collection[str]],
                 live: Callable[[], Collection[str]]) -> None:
        self.writer, self.path, self.agents, self.live = writer, path, agents, live
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
        """Returns {"added": n, "completed": n} for this look."""
        rows = await asyncio.to_thread(self._read_new)
        live = set(self.live())
        counts = {"added": 0, "completed": 0}
        for record in calls_from_cdr(rows, self.agents()):
            if record.call_id in live or record.direction != "inbound":
                continue
            result = await store_calls.reconcile(self.writer, record)
            if result in counts:
                counts[result] += 1
        if counts["added"] or counts["completed"]:
            log.info("reconciled from Asterisk's CDR: %d calls added, %d completed", counts["added"],
                     counts["completed"])
        return counts
