"""Business hours: a weekly schedule in a time zone, with holidays. Pure: `is_open(schedule, now)`.

YAML shape (inside an `hours` node):

    timezone: Europe/Paris
    weekly:
      mon-fri: "09:00-12:30, 13:30-18:00"
      sat: "10:00-13:00"
    holidays: [2026-12-25, 2027-01-01]

or `always: true` for a 24/7 line (holidays still close it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class ScheduleError(Exception):
    """A schedule that cannot be right; `key` is where, below the `hours` mapping."""

    def __init__(self, error_id: str, message: str, key: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.error_id, self.message, self.key = error_id, message, key


@dataclass(frozen=True)
class Schedule:
    timezone: str = "UTC"
    always: bool = False
    weekly: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)  # weekday → minute ranges
    holidays: frozenset[dt.date] = frozenset()

    @property
    def ever_open(self) -> bool:
        return self.always or any(self.weekly.values())


def _minutes(text: str, key: tuple[str, ...]) -> int:
    m = _TIME.match(text.strip())
    if not m or int(m[2]) > 59 or int(m[1]) > 24 or (int(m[1]) == 24 and int(m[2]) != 0):
        raise ScheduleError("bad-time", f"'{text.strip()}' is not a time of day (HH:MM, 00:00 to 24:00)", key)
    return int(m[1]) * 60 + int(m[2])


def _days(spec: str, key: tuple[str, ...]) -> list[int]:
    """'mon' → [0]; 'mon-fri' → [0..4]; 'fri-mon' wraps; 'daily' → all; full names work too."""
    spec = spec.strip().lower()
    if spec == "daily":
        return list(range(7))
    ends = []
    for word in spec.split("-", 1):
        word = word.strip()
        if word in DAYS:
            ends.append(DAYS.index(word))
        elif word in FULL_DAYS:
            ends.append(FULL_DAYS.index(word))
        else:
            raise ScheduleError("bad-day", f"'{spec}' is not a day or a range of days (mon ... sun, mon-fri, daily)",
                                key)
    a, b = ends[0], ends[-1]
    return list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))


def parse_schedule(data: Mapping[str, Any]) -> Schedule:
    """Build a Schedule from the `hours` mapping. Raises ScheduleError for impossible schedules."""
    known = {"timezone", "weekly", "holidays", "always"}
    for k in data:
        if k not in known:
            raise ScheduleError("unknown-key", f"unknown key '{k}' (known keys: {', '.join(sorted(known))})", (k,))
    tz = str(data.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("unknown-timezone", f"unknown time zone '{tz}' (e.g. Europe/Paris, America/New_York, "
                                                "UTC)", ("timezone",)) from None
    always = data.get("always", False)
    if not isinstance(always, bool):
        raise ScheduleError("wrong-type", "must be true or false", ("always",))
    weekly_raw = data.get("weekly") or {}
    if not isinstance(weekly_raw, dict):
        raise ScheduleError("wrong-type", "must be a mapping of days to hours, e.g. mon-fri: 09:00-17:00",
                            ("weekly",))
    if always and weekly_raw:
        raise ScheduleError("impossible-schedule", "'always: true' and 'weekly' hours contradict each other",
                            ("weekly",))
    weekly: dict[int, list[tuple[int, int]]] = {}
    defined: dict[int, str] = {}
    for spec, hours in weekly_raw.items():
        key = ("weekly", str(spec))
        ranges: list[tuple[int, int]] = []
        text = "" if hours in (None, "closed") else str(hours)
        for part in filter(None, (p.strip() for p in text.split(","))):
            start, sep, end = part.partition("-")
            if not sep:
                raise ScheduleError("bad-time", f"'{part}' is not a range of hours (HH:MM-HH:MM)", key)
            a, b = _minutes(start, key), _minutes(end, key)
            if b <= a:
                raise ScheduleError("impossible-schedule", f"'{part}' ends before it starts", key)
            ranges.append((a, b))
        for day in _days(str(spec), key):
            if day in defined:
                raise ScheduleError("impossible-schedule", f"{DAYS[day]} is given twice ('{defined[day]}' and "
                                                           f"'{spec}')", key)
            defined[day] = str(spec)
            weekly[day] = sorted(ranges)
    holidays = set()
    raw_holidays = data.get("holidays") or []
    if not isinstance(raw_holidays, list):
        raise ScheduleError("wrong-type", "must be a list of dates (YYYY-MM-DD)", ("holidays",))
    for i, h in enumerate(raw_holidays):
        if isinstance(h, dt.datetime):  # (a datetime is a date too) a time would never match a day
            raise ScheduleError("bad-date", f"'{h}' has a time of day; a holiday is a date (YYYY-MM-DD)",
                                ("holidays", str(i)))
        if isinstance(h, dt.date):
            holidays.add(h)
            continue
        try:
            holidays.add(dt.date.fromisoformat(str(h)))
        except ValueError:
            raise ScheduleError("bad-date", f"'{h}' is not a date (YYYY-MM-DD)", ("holidays", str(i))) from None
    return Schedule(tz, always, {d: tuple(r) for d, r in weekly.items()}, frozenset(holidays))


def is_open(schedule: Schedule, now: float) -> bool:
    """Is the line open at `now` (a Unix time), in the schedule's own time zone?"""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(schedule.timezone))
    if local.date() in schedule.holidays:
        return False
    if schedule.always:
        return True
    minute = local.hour * 60 + local.minute
    return any(a <= minute < b for a, b in schedule.weekly.get(local.weekday(), ()))
