"""Settings of the ticket store (`store:`): the database, how contacts join tickets and retention;
of SLAs (`sla:`: targets in business time, the at-risk share, escalation rules) and the business
calendars they are counted in (`calendars:`, named on queues as `queues.NAME.calendar`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from callcenter.core.config import Locator
from callcenter.ivr.schedule import Schedule, ScheduleError, parse_schedule

PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("voice", "voicemail", "chat", "sms", "email")
RETENTION_KINDS = ("recordings", "transcripts", "bodies")
SLA_STATES = ("at_risk", "breached")  # what an escalation rule fires on
CALENDAR_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # like a queue's name (fullmatch)


@dataclass(frozen=True)
class SlaTargetSettings:
    """Minutes of business time from a ticket's creation to its first response and to its resolution."""

    first_response: int
    resolution: int


@dataclass(frozen=True)
class EscalationSettings:
    """One escalation rule (`sla.escalation`): when a ticket's SLA state reaches `when` (at_risk |
    breached), for tickets of these `channels` and `priorities` (empty: all), tell people, raise
    its priority one step, take it from its assignee (routing offers it again)."""

    when: str
    channels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    notify: bool = True
    raise_priority: bool = False
    reassign: bool = False


@dataclass(frozen=True)
class SlaSettings:
    """SLAs (`sla:`, docs/tickets.md#sla): targets per priority or `channel/priority` in minutes of
    business time of the ticket's queue's calendar (DEFAULT_SLA fills what is not said); a target
    is at risk when less than `at_risk_percent` % of its time is left; escalation rules, in order."""

    targets: Mapping[str, SlaTargetSettings] = field(default_factory=dict)  # "normal" or "voicemail/normal"
    at_risk_percent: int = 20
    escalation: tuple[EscalationSettings, ...] = ()


@dataclass(frozen=True)
class StoreSettings:
    """The ticket store (callcenter/tickets/). `url` empty: a SQLite file in the runtime folder;
    CALLCENTER_STORE_URL overrides it (`postgresql+asyncpg://user:pw@127.0.0.1/db`)."""

    url: str = ""
    default_region: str = "US"  # ISO 3166 region for caller IDs written without a country code
    reopen_days: int = 7  # a contact joins the customer's ticket on the same topic touched this recently
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
    if store.short_calls not in ("file", "none"):
        raise loc.error(("store", "short_calls"), f"short_calls '{store.short_calls}' must be file or none", "bad-value")
    loc.check_range(("store", "backlog"), store.backlog, 1_000, 1_000_000)
    for key, days in store.retention_days.items():
        if key not in RETENTION_KINDS:
            raise loc.error(("store", "retention_days", key), f"unknown data type '{key}' (one of: "
                            f"{', '.join(RETENTION_KINDS)})", "unknown-key")
        if not 0 <= days <= 36500:
            raise loc.error(("store", "retention_days", key), f"{days} days must be 0 (keep) to 36500", "bad-value")


def refuse_moved(data: Mapping[str, Any], loc: Locator) -> None:
    """Keys that moved, named with where they went (checked on the raw file, before it is built).
    Errors: ConfigError `moved-key` (store.sla: now sla.targets)."""
    store = data.get("store")
    if isinstance(store, dict) and "sla" in store:
        raise loc.error(("store", "sla"), "store.sla moved to sla.targets (the same keys, now minutes of business "
                        "time in the queue's calendar; docs/tickets.md#sla): move the mapping there", "moved-key")


def parse_calendars(raw: Any, loc: Locator) -> dict[str, Schedule]:
    """The `calendars:` section (name → the mapping of an IVR `hours` node: timezone, weekly,
    holidays, always), each parsed by the IVR's schedule parser. Errors: ConfigError at the key:
    `wrong-type`, `bad-name`, the parser's (`unknown-timezone`, `bad-time`, `bad-day`, `bad-date`,
    `impossible-schedule`, `unknown-key`), and `impossible-schedule` for a calendar never open (an
    SLA counted in it would never come due)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise loc.error(("calendars",), f"must be a mapping of calendar names to hours, not {type(raw).__name__}",
                        "wrong-type")
    out: dict[str, Schedule] = {}
    for name, hours in raw.items():
        path = ("calendars", str(name))
        if not CALENDAR_NAME.fullmatch(str(name)):
            raise loc.error(path, f"calendar name '{name}' must be lower-case letters, digits, - or _", "bad-name")
        if not isinstance(hours, dict):
            raise loc.error(path, "must be a mapping: timezone, weekly, holidays (or always: true)", "wrong-type")
        try:
            schedule = parse_schedule(hours)
        except ScheduleError as exc:
            raise loc.error(path + exc.key, exc.message, exc.error_id) from None
        if not schedule.ever_open:
            raise loc.error(path, "this calendar is never open: an SLA counted in its hours would never come due "
                            "(give weekly hours, or always: true)", "impossible-schedule")
        out[str(name)] = schedule
    return out


def check_sla(sla: SlaSettings, calendars: Mapping[str, Schedule], queue_calendars: Mapping[str, str],
              loc: Locator) -> None:
    """The `sla:` section, and each queue's calendar (`queue_calendars`: queue → calendar name, ""
    none) among `calendars`. Errors: ConfigError `bad-value`, `unknown-calendar`."""
    for key, target in sla.targets.items():
        channel, _, priority = key.rpartition("/")
        if priority not in PRIORITIES or channel and channel not in CHANNELS:
            raise loc.error(("sla", "targets", key), f"'{key}' must be a priority ({', '.join(PRIORITIES)}) or "
                            f"channel/priority (channels: {', '.join(CHANNELS)})", "bad-value")
        for name, value in (("first_response", target.first_response), ("resolution", target.resolution)):
            if not 1 <= value <= 525_600:
                raise loc.error(("sla", "targets", key, name), f"{name} {value} must be 1 to 525600 minutes",
                                "bad-value")
        if target.first_response > target.resolution:
            raise loc.error(("sla", "targets", key, "first_response"), f"first_response {target.first_response} "
                            f"is after resolution {target.resolution}: a ticket is answered before it is resolved",
                            "bad-value")
    loc.check_range(("sla", "at_risk_percent"), sla.at_risk_percent, 1, 99, "%")
    for i, rule in enumerate(sla.escalation):
        path = ("sla", "escalation", str(i))
        if rule.when not in SLA_STATES:
            raise loc.error(path + ("when",), f"when '{rule.when}' must be one of: {', '.join(SLA_STATES)}",
                            "bad-value")
        lists: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
            ("channels", rule.channels, CHANNELS), ("priorities", rule.priorities, PRIORITIES))
        for what, given, known in lists:
            for j, item in enumerate(given):
                if item not in known:
                    raise loc.error(path + (what, str(j)), f"'{item}' is not one of: {', '.join(known)}",
                                    "bad-value")
    for queue, calendar in queue_calendars.items():
        if calendar and calendar not in calendars:
            names = ", ".join(sorted(calendars)) or "none: add a calendars: section"
            raise loc.error(("queues", queue, "calendar"), f"unknown calendar '{calendar}' (calendars: {names})",
                            "unknown-calendar")
