"""Retention: recordings (files), voicemail transcripts and message bodies are purged when older
than the store's `retention_days` for their type (0: kept for ever). The interaction stays (the
contact happened), marked `purged_at`. A file is deleted only inside the policy's
`recording_roots`: a path in the database is never trusted to name a file to delete.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import func, select, update

from callcenter.tickets import search
from callcenter.tickets.rows import RetentionReport
from callcenter.tickets.schema import Interaction
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

DAY = 86400  # seconds
TEXTS = (("transcripts", ("voicemail",)), ("bodies", ("chat", "sms", "email")))  # text kind → its channels


def deletable(path: str, roots: tuple[Path, ...]) -> bool:
    """Is `path` a file inside one of `roots` (resolved: no `..` or link leads out)?"""
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(real.is_relative_to(root.resolve()) and real != root.resolve() for root in roots)


@on_store_loop
class Retention:
    """Retention of one store, per its policy."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def apply(self, *, dry_run: bool = False) -> RetentionReport:
        """Purge recordings (files), transcripts and message bodies older than `retention_days`
        per type (0: keep); the interaction stays (the contact happened), marked `purged_at`.
        Only files inside `recording_roots` are deleted; others are listed as `refused`.
        Returns what was (or, `dry_run`, would be) removed."""
        now = self.store.clock()
        out: RetentionReport = {"dry_run": dry_run, "recordings": [], "refused": [], "bodies": 0, "transcripts": 0}
        days = self.store.policy.retention_days
        async with self.store.writing() as s:
            if days.get("recordings", 0) > 0:
                cutoff = now - days["recordings"] * DAY
                rows = (await s.execute(select(Interaction).where(Interaction.recording_path != "",
                                                                  Interaction.started_at < cutoff))).scalars().all()
                for row in rows:
                    if not deletable(row.recording_path, self.store.policy.recording_roots):
                        out["refused"].append({"interaction": row.id, "path": row.recording_path,
                                               "why": "outside the recordings folders: not deleted"})
                        continue
                    out["recordings"].append({"interaction": row.id, "path": row.recording_path})
                    if not dry_run:
                        try:
                            os.unlink(row.recording_path)
                        except FileNotFoundError:
                            pass
                        row.recording_path, row.purged_at = "", now
                        row.recording_problem = "purged by retention"
            for kind, channels in TEXTS:
                if days.get(kind, 0) <= 0:
                    continue
                cutoff = now - days[kind] * DAY
                where = (Interaction.channel.in_(channels), Interaction.body != "", Interaction.started_at < cutoff)
                count = int((await s.execute(select(func.count()).select_from(Interaction).where(*where))).scalar_one())
                if kind == "transcripts":
                    out["transcripts"] = count
                else:
                    out["bodies"] = count
                if not dry_run:
                    # Purged text is found no more (its subject's words go with it: they were one entry).
                    await search.unindex(s, select(Interaction.id).where(*where))
                    await s.execute(update(Interaction).where(*where).values(body="", purged_at=now)
                                    .execution_options(synchronize_session=False))
            if dry_run:
                await s.rollback()
        return out
