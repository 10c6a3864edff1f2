"""SLA clocks in business hours (pure: no I/O): due times, the at-risk / breached state, escalation.

A ticket's targets (rules.SlaTarget: minutes to the first response and to the resolution, per
priority or `channel/priority`, config `sla.targets`) are minutes of **business time**: the time
its queue's calendar (config `calendars:`, the IVR's `hours` shape, ivr/schedule.py's `Schedule`)
is open. A queue without a calendar counts every minute (24/7). The clock stops while the ticket
waits on the customer (`pending`): the business seconds spent pending (`paused_seconds`) push
both due times back.

    add(start, seconds, schedule) -> float      the moment `seconds` of business time after `start`
    between(a, b, schedule) -> float            business seconds in [a, b)
    due(targets, channel, priority, created_at, schedule, paused_seconds) -> (first response, resolution)
    state(now, ...) -> "" | "at_risk" | "breached"

Times are epoch seconds (float); the calendar's weekly hours and holidays are read in its own time
zone (zoneinfo), so a 09:00-17:00 day is 8 hours on the days the clocks change too, and a day the
clocks skip or repeat an hour counts the hour as it is lived. The arithmetic walks open intervals
day by day (whole closed days cost one dictionary lookup), never minute by minute: a 7-day
target over an office calendar is a few dozen intervals, microseconds.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Iterator, Mapping
from zoneinfo import ZoneInfo

from callcenter.ivr.schedule import Schedule
from callcenter.tickets.rules import PRIORITIES, SlaTarget, sla_target

ALWAYS = Schedule(always=True)  # a queue without a calendar: every second counts
STATES = ("", "at_risk", "breached")  # from good to worst
WHEN = ("at_risk", "breached")  # the states an escalation rule fires on
# How far the arithmetic looks for open hours before it gives up (a calendar whose holidays close
# it for years): 20 years of days.
MAX_DAYS = 20 * 366
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY = 86400


class NeverOpen(ValueError):
    """A calendar with no business time ahead (never open, or closed by holidays for MAX_DAYS):
    no due time can be reached in it. The config refuses a calendar that is never open."""


# -- business time ------------------------------------------------------------------------------

def add(start: float, seconds: float, schedule: Schedule) -> float:
    """The epoch moment `seconds` of business time after `start` (the end of the last of them);
    `start` itself when `seconds` is 0, wherever it falls. 24/7 without holidays is plain addition.
    Errors: ValueError for negative `seconds`; NeverOpen if the calendar has no such time ahead."""
    if seconds < 0:
        raise ValueError(f"business seconds must not be negative ({seconds})")
    if seconds == 0:
        return start
    if schedule.always and not schedule.holidays:
        return start + seconds
    if not schedule.ever_open:
        raise NeverOpen(f"the calendar ({schedule.timezone}) is never open")
    left = float(seconds)
    for a, b in _open_intervals(start, schedule):
        if b - a >= left:
            return a + left
        left -= b - a
    raise NeverOpen(f"the calendar ({schedule.timezone}) has no business hours in the next {MAX_DAYS} days")


def between(a: float, b: float, schedule: Schedule) -> float:
    """Business seconds in [a, b) (0 when b <= a)."""
    if b <= a:
        return 0.0
    if schedule.always and not schedule.holidays:
        return b - a
    if not schedule.ever_open:
        return 0.0
    total = 0.0
    for start, end in _open_intervals(a, schedule):
        if start >= b:
            break
        total += min(end, b) - start
    return total


def _open_intervals(start: float, schedule: Schedule) -> Iterator[tuple[float, float]]:
    """The calendar's open intervals [a, b) (epoch seconds) from `start` on, in order, not
    overlapping, the first one cut at `start`; at most MAX_DAYS days of them."""
    zone = ZoneInfo(schedule.timezone)
    day = dt.datetime.fromtimestamp(start, zone).date().toordinal() - 1  # a day the clocks went back may start earlier
    cursor = start
    for ordinal in range(day, day + MAX_DAYS):
        for a, b in _day_intervals(schedule.timezone, ordinal, _ranges(schedule, ordinal)):
            a = max(a, cursor)  # (a zone turning its clocks back at midnight repeats a wall hour of the day before)
            if b > a:
                yield a, b
                cursor = b


def _ranges(schedule: Schedule, ordinal: int) -> tuple[tuple[int, int], ...]:
    """The open minute ranges of local day `ordinal` (a holiday: none)."""
    date = dt.date.fromordinal(ordinal)
    if date in schedule.holidays:
        return ()
    if schedule.always:
        return ((0, 1440),)
    return tuple(schedule.weekly.get(date.weekday(), ()))


@functools.lru_cache(maxsize=8192)
def _day_intervals(timezone: str, ordinal: int, ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[float, float], ...]:
    """The instants of local day `ordinal` whose wall clock is in one of `ranges` (minutes of the
    day), as epoch intervals. A day the clocks change is cut at the change: each side has its own
    UTC offset (09:00-17:00 on a 23-hour day is still 8 hours; 01:00-03:00 the night the clocks
    go back is 3 hours, 02:00-03:00 the night they skip it is none). Cached: the escalation
    pass asks the same days again for every ticket."""
    if not ranges:
        return ()
    zone = ZoneInfo(timezone)
    wall = (ordinal - _EPOCH_ORDINAL) * _DAY  # the day's local midnight, read as if the zone were UTC
    # Every instant whose wall clock is on this day lies within a day either side (offsets are
    # within ±26 h). Two different offsets at the ends: a change in between (at most one: zones
    # change their clocks months apart).
    lo, hi = wall - _DAY, wall + 2 * _DAY
    before, after = _offset(zone, lo), _offset(zone, hi)
    if before == after:
        return tuple((wall + a * 60 - before, wall + b * 60 - before) for a, b in ranges)
    while hi - lo > 1:  # the first second of the new offset (changes happen on whole seconds)
        mid = (lo + hi) // 2
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    change, pieces = hi, []
    for a, b in ranges:
        for lo_, hi_ in ((wall + a * 60 - before, min(wall + b * 60 - before, change)),
                         (max(wall + a * 60 - after, change), wall + b * 60 - after)):
            if hi_ > lo_:
                pieces.append((lo_, hi_))
    pieces.sort()
    merged: list[tuple[float, float]] = []
    for lo_, hi_ in pieces:
        if merged and lo_ <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi_))
        else:
            merged.append((float(lo_), float(hi_)))
    return tuple(merged)


def _offset(zone: ZoneInfo, epoch: int) -> int:
    """The zone's UTC offset at `epoch`, in seconds."""
    offset = dt.datetime.fromtimestamp(epoch, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return int(offset.total_seconds())


# -- a ticket's SLA ------------------------------------------------------------------------------

def due(targets: Mapping[str, SlaTarget], channel: str, priority: str, created_at: float, schedule: Schedule,
        paused_seconds: float = 0.0) -> tuple[float, float]:
    """(first response due, resolution due), epoch seconds: the target of `channel/priority`, else
    of `priority` (rules.sla_target: DEFAULT_SLA fills what `targets` does not say), in business
    time of `schedule` from `created_at`, pushed back by `paused_seconds` (business seconds the
    ticket waited on the customer). Errors: NeverOpen."""
    target = sla_target(targets, channel, priority)
    first = add(created_at, target.first_response * 60 + paused_seconds, schedule)
    if target.resolution < target.first_response:
        return first, add(created_at, target.resolution * 60 + paused_seconds, schedule)
    # The resolution's business time runs on from the first response's due time (half the walk).
    return first, add(first, (target.resolution - target.first_response) * 60, schedule)


def state(now: float, *, target: SlaTarget, first_response_due: float | None, resolution_due: float | None,
          first_response_at: float | None, schedule: Schedule, at_risk_percent: int, pending: bool = False) -> str:
    """The SLA state of an open ticket at `now`: `breached` once a due time is past, `at_risk`
    when less than `at_risk_percent` % of a target's business time is left, else "". A first
    response given no longer counts for its target; a ticket waiting on the customer (`pending`)
    has its clock stopped: "". A due time of None (a ticket written before SLAs) counts for
    nothing."""
    if pending:
        return ""
    worst = ""
    for when, minutes in ((first_response_due if first_response_at is None else None, target.first_response),
                          (resolution_due, target.resolution)):
        if when is None:
            continue
        if now >= when:
            return "breached"
        margin = minutes * 60 * at_risk_percent / 100
        # Less than `margin` of business time left <=> the margin, counted from now, ends past the
        # due time (cheaper than counting all that is left: only the margin is walked).
        if when - now < margin or add(now, margin, schedule) > when:
            worst = "at_risk"
    return worst


def worse(new: str, old: str) -> bool:
    """Is SLA state `new` worse than `old` ("" < at_risk < breached)? An unknown state counts as ""."""
    return _rank(new) > _rank(old)


def _rank(state: str) -> int:
    return STATES.index(state) if state in STATES else 0


def raised(priority: str) -> str:
    """One priority step up (low → normal → high → urgent); urgent stays urgent."""
    i = PRIORITIES.index(priority) if priority in PRIORITIES else PRIORITIES.index("normal")
    return PRIORITIES[min(i + 1, len(PRIORITIES) - 1)]


# -- the policy ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Escalation:
    """What to do when a ticket's SLA state reaches `when` (at_risk | breached), for the tickets of
    `channels` and `priorities` (empty: all): tell people (`notify`), raise its priority one step
    (`raise_priority`), take it from its assignee so routing offers it again (`reassign`)."""

    when: str
    channels: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    notify: bool = True
    raise_priority: bool = False
    reassign: bool = False

    def matches(self, state: str, channel: str, priority: str) -> bool:
        return (self.when == state and (not self.channels or channel in self.channels)
                and (not self.priorities or priority in self.priorities))


@dataclass(frozen=True)
class Actions:
    """The escalation rules that match one ticket, together: each action at most once."""

    notify: bool = False
    raise_priority: bool = False
    reassign: bool = False


@dataclass(frozen=True)
class SlaPolicy:
    """What the config says about SLAs (config `sla:`, `calendars:`, `queues.NAME.calendar`),
    resolved: the targets (minutes of business time), the at-risk share, each queue's calendar
    (a queue not in `hours`: 24/7) and the escalation rules, in order."""

    targets: Mapping[str, SlaTarget] = field(default_factory=dict)
    at_risk_percent: int = 20
    hours: Mapping[str, Schedule] = field(default_factory=dict)  # queue → its calendar
    escalation: tuple[Escalation, ...] = ()

    def schedule(self, queue: str) -> Schedule:
        """The calendar of `queue` (ALWAYS when it has none, or for "")."""
        return self.hours.get(queue, ALWAYS)

    def due(self, channel: str, priority: str, created_at: float, queue: str,
            paused_seconds: float = 0.0) -> tuple[float, float]:
        """(first response due, resolution due) of a ticket of `channel`, `priority`, worked by
        `queue` (its calendar), created at `created_at`, paused `paused_seconds` (business
        seconds). Errors: NeverOpen (not for a checked config: a never-open calendar is refused)."""
        return due(self.targets, channel, priority, created_at, self.schedule(queue), paused_seconds)

    def state(self, now: float, *, channel: str, priority: str, queue: str, first_response_due: float | None,
              resolution_due: float | None, first_response_at: float | None, pending: bool = False) -> str:
        """The ticket's SLA state at `now` (module `state`), with its targets and queue's calendar."""
        return state(now, target=sla_target(self.targets, channel, priority), first_response_due=first_response_due,
                     resolution_due=resolution_due, first_response_at=first_response_at,
                     schedule=self.schedule(queue), at_risk_percent=self.at_risk_percent, pending=pending)

    def actions(self, state: str, channel: str, priority: str) -> Actions:
        """What the rules matching a ticket that reached `state` ask, together."""
        rules = [r for r in self.escalation if r.matches(state, channel, priority)]
        return Actions(notify=any(r.notify for r in rules), raise_priority=any(r.raise_priority for r in rules),
                       reassign=any(r.reassign for r in rules))


@dataclass(frozen=True)
class Escalated:
    """A ticket whose SLA state got worse in an escalation pass: its new `state`, whether people
    are to be told (`notify`), the priority it was raised to ("" not raised), the assignee it was
    taken from ("" not reassigned)."""

    ticket_id: int
    queue: str
    state: str  # at_risk | breached
    notify: bool
    raised_to: str = ""
    reassigned_from: str = ""
