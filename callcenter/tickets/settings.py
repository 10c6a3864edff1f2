"""Settings of the ticket store (`store:`): the database, how contacts join tickets, SLA targets
and retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from callcenter.core.config import Locator

PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("voice", "voicemail", "chat", "sms", "email")
RETENTION_KINDS = ("recordings", "transcripts", "bodies")


@dataclass(frozen=True)
class SlaSettings:
    """Minutes from a ticket's creation to its first response and to its resolution."""

    first_response: int
    resolution: int


@dataclass(frozen=True)
class StoreSettings:
    """The ticket store (callcenter/tickets/). `url` empty: a SQLite file in the runtime folder;
    CALLCENTER_STORE_URL overrides it (`postgresql+asyncpg://user:pw@127.0.0.1/db`)."""

    url: str = ""
    default_region: str = "US"  # ISO 3166 region for caller IDs written without a country code
    reopen_days: int = 7  # a contact joins the customer's ticket on the same topic touched this recently
    sla: Mapping[str, SlaSettings] = field(default_factory=dict)  # "normal" or "voicemail/normal" → targets
    retention_days: Mapping[str, int] = field(default_factory=dict)  # recordings | transcripts | bodies (0: keep)
    # A call that never reached a queue, an agent or a voicemail opens no ticket and makes no customer:
    # `file` keeps a known customer's on their file (no ticket), `none` does not store it.
    short_calls: str = "file"
    # Call events held in memory while the store is behind (a burst of callers, a slow database);
    # past this many the newest are not held (counted in `status`) and Asterisk's CDR fills them in.
    backlog: int = 200_000


def check(store: StoreSettings, loc: Locator) -> None:
    from callcenter.tickets import db, identity  # SQLAlchemy and phonenumbers: only when a config is checked
    if store.url:
        try:
            db.parse_url(store.url, key="")
        except db.StoreError as exc:
            raise loc.error(("store", "url"), f"{exc.message} (set in the file or CALLCENTER_STORE_URL)",
                            exc.error_id) from None
    if not identity.known_region(store.default_region):
        raise loc.error(("store", "default_region"), f"'{store.default_region}' is not an ISO 3166 region code "
                        "known to phonenumbers (e.g. US, GB, CN, DE)", "bad-value")
    loc.check_range(("store", "reopen_days"), store.reopen_days, 0, 3650)
    for key, target in store.sla.items():
        channel, _, priority = key.rpartition("/")
        if priority not in PRIORITIES or channel and channel not in CHANNELS:
            raise loc.error(("store", "sla", key), f"'{key}' must be a priority ({', '.join(PRIORITIES)}) or "
                            f"channel/priority (channels: {', '.join(CHANNELS)})", "bad-value")
        for name, value in (("first_response", target.first_response), ("resolution", target.resolution)):
            if not 1 <= value <= 525_600:
                raise loc.error(("store", "sla", key, name), f"{name} {value} must be 1 to 525600 minutes",
                                "bad-value")
    if store.short_calls not in ("file", "none"):
        raise loc.error(("store", "short_calls"), f"short_calls '{store.short_calls}' must be file or none", "bad-value")
    loc.check_range(("store", "backlog"), store.backlog, 1_000, 1_000_000)
    for key, days in store.retention_days.items():
        if key not in RETENTION_KINDS:
            raise loc.error(("store", "retention_days", key), f"unknown data type '{key}' (one of: "
                            f"{', '.join(RETENTION_KINDS)})", "unknown-key")
        if not 0 <= days <= 36500:
            raise loc.error(("store", "retention_days", key), f"{days} days must be 0 (keep) to 36500", "bad-value")
