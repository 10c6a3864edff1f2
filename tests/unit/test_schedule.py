"""Business hours: parse_schedule refuses impossible schedules (with the key), is_open in the zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import yaml

from callcenter.ivr.schedule import Schedule, ScheduleError, is_open, parse_schedule

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *args: int) -> float:
    return dt.datetime(*args, tzinfo=zone).timestamp()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def schedule(text: str) -> Schedule:
    """From YAML, as a flow file writes it (dates unquoted become dates)."""
    return parse_schedule(yaml.safe_load(text))


# -- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, error_id, key", [
    ("{timezone: UTC, holiday: [2026-12-25]}", "unknown-key", ("holiday",)),
    ("{timezone: Paris}", "unknown-timezone", ("timezone",)),
    ("{timezone: ''}", "unknown-timezone", ("timezone",)),
    ("{timezone: Europe}", "unknown-timezone", ("timezone",)),
    ("{timezone: ~}", "unknown-timezone", ("timezone",)),
    ("{always: 'yes'}", "wrong-type", ("always",)),
    ("{weekly: [mon-fri]}", "wrong-type", ("weekly",)),
    ("{holidays: 2026-12-25}", "wrong-type", ("holidays",)),
    ("{always: true, weekly: {mon: '09:00-17:00'}}", "impossible-schedule", ("weekly",)),
    ("{weekly: {daily: '22:00-06:00'}}", "impossible-schedule", ("weekly", "daily")),
    ("{weekly: {mon: '09:00-09:00'}}", "impossible-schedule", ("weekly", "mon")),
    ("{weekly: {mon-fri: '09:00-17:00', fri: '09:00-12:00'}}", "impossible-schedule", ("weekly", "fri")),
    ("{weekly: {daily: '10:00-12:00', sun: closed}}", "impossible-schedule", ("weekly", "sun")),
    ("{weekly: {mon: '09:00-25:00'}}", "bad-time", ("weekly", "mon")),
    ("{weekly: {mon: '09:00-24:30'}}", "bad-time", ("weekly", "mon")),
    ("{weekly: {mon: '09:60-12:00'}}", "bad-time", ("weekly", "mon")),
    ("{weekly: {mon: '9h-18h'}}", "bad-time", ("weekly", "mon")),
    ("{weekly: {mon: '09:00'}}", "bad-time", ("weekly", "mon")),
    ("{weekly: {tue: '09:00-12:00,, 9-17'}}", "bad-time", ("weekly", "tue")),
    ("{weekly: {mon-fr: '09:00-17:00'}}", "bad-day", ("weekly", "mon-fr")),
    ("{weekly: {weekdays: '09:00-17:00'}}", "bad-day", ("weekly", "weekdays")),
    ("{weekly: {mon-tue-wed: '09:00-17:00'}}", "bad-day", ("weekly", "mon-tue-wed")),
    ("{holidays: [2026-12-25, 25/12/2026]}", "bad-date", ("holidays", "1")),
    ("{holidays: ['2026-13-01']}", "bad-date", ("holidays", "0")),
])
def test_parse_errors_name_the_key(text, error_id, key):
    with pytest.raises(ScheduleError) as info:
        schedule(text)
    assert (info.value.error_id, info.value.key) == (error_id, key)
    assert info.value.message and str(info.value) == info.value.message


def test_an_overnight_range_is_refused_not_wrapped():
    with pytest.raises(ScheduleError) as info:
        schedule("{timezone: Europe/Paris, weekly: {mon-fri: '22:00-06:00'}}")
    assert info.value.error_id == "impossible-schedule"
    assert info.value.message == "'22:00-06:00' ends before it starts"


# -- what parses ---------------------------------------------------------------------------------

def test_defaults():
    s = parse_schedule({})
    assert s == Schedule("UTC", False, {}, frozenset())
    assert not s.ever_open


def test_ranges_are_minutes_sorted_per_day():
    s = schedule("{timezone: Europe/Paris, weekly: {mon-fri: '13:30-18:00, 09:00-12:30', sat: '10:00-13:00'}}")
    assert s.weekly[0] == s.weekly[4] == ((540, 750), (810, 1080))
    assert s.weekly[5] == ((600, 780),)
    assert 6 not in s.weekly
    assert s.timezone == "Europe/Paris" and s.ever_open


@pytest.mark.parametrize("spec, days", [
    ("mon", [0]),
    ("sun", [6]),
    ("mon-fri", [0, 1, 2, 3, 4]),
    ("fri-mon", [4, 5, 6, 0]),
    ("sat-sun", [5, 6]),
    ("sun-sun", [6]),
    ("daily", [0, 1, 2, 3, 4, 5, 6]),
    ("Monday-Friday", [0, 1, 2, 3, 4]),
    ("Tue - Thu", [1, 2, 3]),
    ("saturday", [5]),
])
def test_days(spec, days):
    s = parse_schedule({"weekly": {spec: "09:00-10:00"}})
    assert sorted(s.weekly) == sorted(days)


def test_closed_days_are_defined_but_never_open():
    s = schedule("{weekly: {mon-fri: closed, sat: ~, sun: ''}}")
    assert s.weekly == {d: () for d in range(7)}
    assert not s.ever_open


def test_24_00_ends_a_day():
    s = schedule("{weekly: {mon: '00:00-24:00', tue: '18:00-24:00'}}")
    assert s.weekly[0] == ((0, 1440),) and s.weekly[1] == ((1080, 1440),)
    assert is_open(s, utc(2026, 6, 1, 0, 0)) and is_open(s, utc(2026, 6, 1, 23, 59))  # Monday
    assert is_open(s, utc(2026, 6, 2, 23, 59, 59))  # Tuesday, the last second
    assert not is_open(s, utc(2026, 6, 3, 0, 0))  # Wednesday


def test_holidays_as_dates_and_strings():
    s = schedule("{always: true, holidays: [2026-12-25, '2027-01-01']}")
    assert s.holidays == {dt.date(2026, 12, 25), dt.date(2027, 1, 1)}
    assert s.always and s.ever_open


# -- is_open -------------------------------------------------------------------------------------

PARIS_OFFICE = """\
timezone: Europe/Paris
weekly:
  mon-fri: "09:00-12:30, 13:30-18:00"
  sat: "10:00-13:00"
holidays: [2026-12-25]
"""


@pytest.mark.parametrize("when, expected", [
    (at(PARIS, 2026, 12, 22, 9, 0), True),     # Tuesday, opening minute
    (at(PARIS, 2026, 12, 22, 8, 59), False),
    (at(PARIS, 2026, 12, 22, 12, 30), False),  # lunch: the end minute is closed
    (at(PARIS, 2026, 12, 22, 13, 30), True),
    (at(PARIS, 2026, 12, 22, 17, 59), True),
    (at(PARIS, 2026, 12, 22, 18, 0), False),
    (at(PARIS, 2026, 12, 26, 11, 0), True),    # Saturday morning
    (at(PARIS, 2026, 12, 26, 14, 0), False),
    (at(PARIS, 2026, 12, 27, 11, 0), False),   # Sunday
    (at(PARIS, 2026, 12, 25, 10, 0), False),   # Christmas, a Friday
    (at(PARIS, 2026, 12, 25, 0, 0), False),
    (at(PARIS, 2026, 12, 24, 23, 59), False),  # Thursday night: closed anyway
    (at(PARIS, 2026, 12, 28, 10, 0), True),    # the Monday after
])
def test_is_open_in_paris(when, expected):
    assert is_open(schedule(PARIS_OFFICE), when) is expected


def test_is_open_uses_the_schedule_zone_not_the_machine_zone():
    s = schedule("{timezone: America/New_York, weekly: {mon-fri: '09:00-17:00'}}")
    # 14:30 UTC on a winter Tuesday is 09:30 in New York (UTC-5) and 15:30 in Paris.
    assert is_open(s, utc(2026, 1, 13, 14, 30))
    assert not is_open(s, utc(2026, 1, 13, 13, 30))  # 08:30 in New York
    # 22:30 UTC on Friday is 17:30 in New York: closed; 21:30 UTC is 16:30: open.
    assert not is_open(s, utc(2026, 1, 16, 22, 30))
    assert is_open(s, utc(2026, 1, 16, 21, 30))


def test_the_same_instant_open_in_one_zone_closed_in_another():
    when = utc(2026, 1, 13, 9, 0)  # 10:00 in Paris, 04:00 in New York
    paris = parse_schedule({"timezone": "Europe/Paris", "weekly": {"mon-fri": "09:00-17:00"}})
    new_york = parse_schedule({"timezone": "America/New_York", "weekly": {"mon-fri": "09:00-17:00"}})
    tokyo = parse_schedule({"timezone": "Asia/Tokyo", "weekly": {"mon-fri": "09:00-17:00"}})
    assert is_open(paris, when)
    assert not is_open(new_york, when)
    assert not is_open(tokyo, when)  # 18:00 in Tokyo
    assert is_open(tokyo, utc(2026, 1, 13, 1, 0))  # 10:00 in Tokyo, 02:00 in Paris


def test_the_weekday_is_the_local_one():
    """Friday 23:30 in New York is already Saturday in UTC and in Paris."""
    s = parse_schedule({"timezone": "America/New_York", "weekly": {"fri": "20:00-24:00"}})
    assert is_open(s, at(NEW_YORK, 2026, 1, 16, 23, 30))
    assert not is_open(parse_schedule({"timezone": "UTC", "weekly": {"fri": "20:00-24:00"}}),
                       at(NEW_YORK, 2026, 1, 16, 23, 30))


@pytest.mark.parametrize("when, expected", [
    (utc(2026, 3, 27, 8, 30), True),   # Friday before the change: 09:30 CET
    (utc(2026, 3, 30, 7, 30), True),   # Monday after it: 09:30 CEST
    (utc(2026, 3, 30, 8, 30), True),
    (utc(2026, 3, 27, 7, 30), False),  # 08:30 CET
    (utc(2026, 3, 30, 6, 30), False),  # 08:30 CEST
    (utc(2026, 10, 23, 15, 30), True),   # Friday 17:30 CEST
    (utc(2026, 10, 30, 16, 30), True),   # the Friday after the change back: 17:30 CET
    (utc(2026, 10, 23, 16, 30), False),  # 18:30 CEST
])
def test_daylight_saving_time_is_honoured(when, expected):
    s = parse_schedule({"timezone": "Europe/Paris", "weekly": {"mon-fri": "09:00-18:00"}})
    assert is_open(s, when) is expected


def test_new_york_and_paris_change_clocks_on_different_sundays():
    """Between 8 and 29 March 2026 New York is on summer time (UTC-4) and Paris is not (UTC+1)."""
    ny = parse_schedule({"timezone": "America/New_York", "weekly": {"daily": "09:00-10:00"}})
    assert is_open(ny, utc(2026, 3, 10, 13, 30))  # 09:30 EDT
    assert not is_open(ny, utc(2026, 3, 10, 14, 30))
    assert is_open(ny, utc(2026, 3, 3, 14, 30))  # the week before: 09:30 EST


def test_always_open_but_closed_on_holidays():
    s = schedule("{timezone: Europe/Paris, always: true, holidays: [2027-01-01]}")
    assert is_open(s, at(PARIS, 2026, 12, 31, 23, 59))
    assert not is_open(s, at(PARIS, 2027, 1, 1, 0, 0))
    assert not is_open(s, utc(2026, 12, 31, 23, 30))  # already 1 January in Paris
    assert is_open(s, at(PARIS, 2027, 1, 2, 0, 0))


def test_a_schedule_without_hours_is_never_open():
    s = schedule("{timezone: Europe/Paris, weekly: {mon-sun: closed}}")
    assert not s.ever_open
    assert not any(is_open(s, utc(2026, 6, 1) + h * 3600) for h in range(24 * 7))


def test_a_holiday_written_with_a_time_is_not_silently_ignored():
    try:
        s = schedule("{always: true, holidays: [2026-12-25 00:00:00]}")
    except ScheduleError as exc:  # refusing it is fine too
        assert exc.error_id == "bad-date"
        return
    assert not is_open(s, utc(2026, 12, 25, 12, 0))
