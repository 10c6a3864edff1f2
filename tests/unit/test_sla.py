"""SLAs in business hours: the pure arithmetic (tickets/sla.py) over the IVR's schedules (weekends,
holidays, lunch breaks, daylight saving time), the config (`calendars:`, `queues.NAME.calendar`,
`sla:`), and the store applying it (due times by channel and queue, the pending pause, the
escalation pass) on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, AsyncIterator
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter import app as app_mod
from callcenter.ami.testing import FakeAmi
from callcenter.config import ConfigError, parse_config
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError
from callcenter.ivr.schedule import Schedule, is_open, parse_schedule
from callcenter.tickets import sla
from callcenter.tickets.core import TicketCore
from callcenter.tickets.feature import TicketsFeature, sla_of, sla_passes
from callcenter.tickets.rules import SlaTarget
from callcenter.tickets.sla import ALWAYS, Escalation, NeverOpen, SlaPolicy
from callcenter.tickets.store import StorePolicy
from tests.support.config import CONFIG

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
H = 3600.0


def at(zone: ZoneInfo, *args: int) -> float:
    return dt.datetime(*args, tzinfo=zone).timestamp()


def local(when: float, zone: ZoneInfo = PARIS) -> dt.datetime:
    return dt.datetime.fromtimestamp(when, zone).replace(tzinfo=None)


def schedule(text: str) -> Schedule:
    return parse_schedule(yaml.safe_load(text))


OFFICE = schedule("{timezone: Europe/Paris, weekly: {mon-fri: '09:00-17:00'}}")
LUNCH = schedule("{timezone: Europe/Paris, weekly: {mon-fri: '09:00-12:30, 13:30-18:00', sat: '10:00-13:00'}, "
                 "holidays: [2026-12-25, 2027-01-01]}")
NY_DAILY = schedule("{timezone: America/New_York, weekly: {daily: '09:00-17:00'}}")


# -- business time ------------------------------------------------------------------------------

def test_a_friday_evening_ticket_comes_due_after_the_weekend() -> None:
    created = at(PARIS, 2026, 12, 4, 16, 30)  # a Friday, half an hour before closing
    first, resolution = sla.due({"high": SlaTarget(60, 480)}, "email", "high", created, OFFICE)
    assert local(first) == dt.datetime(2026, 12, 7, 9, 30)  # Monday: 30 min on Friday, 30 on Monday
    assert local(resolution) == dt.datetime(2026, 12, 7, 16, 30)  # 30 min + 7 h 30
    assert sla.between(created, first, OFFICE) == 3600 and sla.between(created, resolution, OFFICE) == 8 * H
    # Created in the weekend: the clock starts on Monday at 09:00.
    assert local(sla.add(at(PARIS, 2026, 12, 5, 11, 0), H, OFFICE)) == dt.datetime(2026, 12, 7, 10, 0)


def test_a_holiday_is_skipped() -> None:
    wednesday = at(PARIS, 2026, 12, 23, 16, 0)
    # Thursday 24th is open, Friday 25th (Christmas) is not, Saturday opens 10:00-13:00.
    assert local(sla.add(wednesday, 8 * H, LUNCH)) == dt.datetime(2026, 12, 24, 16, 0)  # 2 h + 3 h 30 + 2 h 30
    assert local(sla.add(wednesday, 10 * H, LUNCH)) == dt.datetime(2026, 12, 24, 18, 0)  # the closing second
    assert local(sla.add(wednesday, 11 * H, LUNCH)) == dt.datetime(2026, 12, 26, 11, 0)
    assert sla.between(at(PARIS, 2026, 12, 25, 0, 0), at(PARIS, 2026, 12, 26, 0, 0), LUNCH) == 0
    always_but_christmas = schedule("{timezone: Europe/Paris, always: true, holidays: [2026-12-25]}")
    assert local(sla.add(at(PARIS, 2026, 12, 24, 23, 0), 2 * H, always_but_christmas)) == dt.datetime(2026, 12, 26, 1)


def test_lunch_breaks_do_not_count() -> None:
    noon = at(PARIS, 2026, 12, 22, 12, 0)  # a Tuesday
    assert local(sla.add(noon, H, LUNCH)) == dt.datetime(2026, 12, 22, 14, 0)
    assert sla.between(at(PARIS, 2026, 12, 22, 0, 0), at(PARIS, 2026, 12, 23, 0, 0), LUNCH) == 8 * H
    assert local(sla.add(at(PARIS, 2026, 12, 22, 17, 30), H, LUNCH)) == dt.datetime(2026, 12, 23, 9, 30)


def test_a_business_day_is_its_hours_on_the_days_the_clocks_change() -> None:
    # New York goes to summer time on Sunday 8 March 2026 at 02:00: a 23-hour day.
    saturday = at(NEW_YORK, 2026, 3, 7, 9, 0)
    assert sla.between(saturday, at(NEW_YORK, 2026, 3, 9, 9, 0), NY_DAILY) == 16 * H  # 47 real hours
    assert local(sla.add(at(NEW_YORK, 2026, 3, 7, 16, 0), 8 * H, NY_DAILY), NEW_YORK) == dt.datetime(2026, 3, 8, 16)
    # Back to winter time on Sunday 1 November 2026: a 25-hour day.
    assert sla.between(at(NEW_YORK, 2026, 10, 31, 9, 0), at(NEW_YORK, 2026, 11, 2, 9, 0), NY_DAILY) == 16 * H
    # Hours across the change count as they are lived: the skipped hour is none, the repeated one twice.
    night = schedule("{timezone: Europe/Paris, weekly: {daily: '01:00-04:00'}}")
    spring, autumn = dt.date(2026, 3, 29), dt.date(2026, 10, 25)
    for day, hours in ((spring, 2), (spring + dt.timedelta(1), 3), (autumn, 4), (autumn + dt.timedelta(1), 3)):
        start = at(PARIS, day.year, day.month, day.day, 0, 0)
        assert sla.between(start, start + 86400, night) == hours * H, day
    # A 24/7 calendar in a zone with summer time is wall time: 48 real hours are 48 hours.
    always_ny = schedule("{timezone: America/New_York, always: true, holidays: [2020-01-01]}")
    assert sla.between(saturday, saturday + 48 * H, always_ny) == 48 * H
    assert sla.add(saturday, 48 * H, always_ny) == saturday + 48 * H


def test_24_7_is_wall_time() -> None:
    for start in (0.0, 1_800_000_000.25, at(NEW_YORK, 2026, 3, 8, 1, 30)):
        assert sla.add(start, 12345.5, ALWAYS) == start + 12345.5
        assert sla.between(start, start + 999.0, ALWAYS) == 999.0
    assert sla.due({}, "voice", "normal", 1000.0, ALWAYS) == (1000 + 240 * 60, 1000 + 48 * 3600)
    assert sla.add(5.0, 0, OFFICE) == 5.0 and sla.between(10.0, 5.0, OFFICE) == 0


def test_a_calendar_never_open_is_an_error_not_a_loop() -> None:
    never = schedule("{timezone: UTC, weekly: {mon-fri: closed}}")
    with pytest.raises(NeverOpen):
        sla.add(0.0, 60, never)
    assert sla.between(0.0, 1e9, never) == 0
    started = time.perf_counter()
    every_day_a_holiday = Schedule("UTC", True, {}, frozenset(dt.date(1970, 1, 1) + dt.timedelta(d)
                                                              for d in range(sla.MAX_DAYS + 10)))
    with pytest.raises(NeverOpen):
        sla.add(0.0, 60, every_day_a_holiday)
    assert time.perf_counter() - started < 5  # a bound, not forever
    with pytest.raises(ValueError):
        sla.add(0.0, -1, OFFICE)


def test_a_week_of_business_time_is_cheap() -> None:
    """A low-priority ticket's 7-day resolution over an office calendar: a few dozen intervals,
    not a walk minute by minute (which would be ~10,000 steps)."""
    created = at(PARIS, 2026, 12, 4, 16, 30)
    sla._day_intervals.cache_clear()
    started = time.perf_counter()
    for i in range(200):
        first, resolution = sla.due({}, "voice", "low", created + i * 977, LUNCH)
    per_due = (time.perf_counter() - started) / 200
    assert sla.between(created + 199 * 977, resolution, LUNCH) == pytest.approx(7 * 24 * H)
    assert per_due < 0.005, f"{per_due * 1e3:.2f} ms per due time"


ZONES = ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago")
CALENDARS = [OFFICE, LUNCH, NY_DAILY, ALWAYS,
             schedule("{timezone: Australia/Lord_Howe, weekly: {daily: '00:00-03:00, 22:00-24:00'}}"),
             schedule("{timezone: America/Santiago, weekly: {mon-sat: '00:00-02:00, 08:00-20:00'}, "
                      "holidays: [2026-09-18]}"),
             schedule("{timezone: Asia/Kolkata, always: true, holidays: [2026-01-26, 2026-08-15]}")]
instants = st.integers(min_value=int(at(PARIS, 2025, 1, 1, 0, 0)), max_value=int(at(PARIS, 2028, 1, 1, 0, 0)))
durations = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants, durations)
def test_between_undoes_add(calendar: Schedule, start: int, seconds: float) -> None:
    end = sla.add(start, seconds, calendar)
    assert end >= start
    assert sla.between(start, end, calendar) == pytest.approx(seconds, abs=1e-3)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants, st.integers(0, 40 * 86400), durations, durations)
def test_business_time_is_monotone_and_adds_up(calendar: Schedule, a: int, gap: int, s1: float, s2: float) -> None:
    b = a + gap
    assert sla.add(a, min(s1, s2), calendar) <= sla.add(a, max(s1, s2), calendar)
    assert sla.add(a, s1, calendar) <= sla.add(b, s1, calendar)
    c = b + int(s2)
    assert 0 <= sla.between(a, b, calendar) <= b - a
    assert sla.between(a, c, calendar) == pytest.approx(sla.between(a, b, calendar) + sla.between(b, c, calendar),
                                                        abs=1e-3)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants)
def test_business_time_runs_exactly_when_the_ivr_says_open(calendar: Schedule, when: int) -> None:
    assert is_open(calendar, when) == (sla.between(when, when + 0.5, calendar) > 0)


# -- a ticket's state ---------------------------------------------------------------------------

def test_at_risk_breached_answered_and_pending() -> None:
    created = at(PARIS, 2026, 12, 7, 9, 0)  # Monday 09:00
    target = SlaTarget(60, 480)
    first, resolution = sla.due({"normal": target}, "voice", "normal", created, OFFICE)

    def state(now: float, **kw: Any) -> str:
        args: dict[str, Any] = {"first_response_due": first, "resolution_due": resolution,
                                "first_response_at": None, "schedule": OFFICE, "at_risk_percent": 20, **kw}
        return sla.state(now, target=target, **args)

    assert state(created + 47 * 60) == ""  # 13 min of the 60 left: more than 20 %
    assert state(created + 49 * 60) == "at_risk"  # 11 min left: less than 12
    assert state(first) == "breached"
    assert state(first, first_response_at=created + 600) == ""  # answered: only the resolution counts
    assert state(first, pending=True) == ""  # waiting on the customer: the clock is stopped
    # The resolution's margin is 96 min of business time: 16:00 Monday has 60 left.
    assert state(at(PARIS, 2026, 12, 7, 16, 0), first_response_at=created + 600) == "at_risk"
    assert state(resolution, first_response_at=created + 600) == "breached"
    # Friday 16:50 with a due time on Monday 09:30: 40 min of business time left, not 2.7 days.
    friday, monday = at(PARIS, 2026, 12, 4, 16, 50), at(PARIS, 2026, 12, 7, 9, 30)
    assert sla.state(friday, target=target, first_response_due=monday, resolution_due=None, first_response_at=None,
                     schedule=OFFICE, at_risk_percent=80) == "at_risk"  # less than 48 min
    assert sla.state(friday, target=target, first_response_due=monday, resolution_due=None, first_response_at=None,
                     schedule=OFFICE, at_risk_percent=60) == ""  # more than 36 min
    assert sla.worse("breached", "at_risk") and sla.worse("at_risk", "") and not sla.worse("", "at_risk")
    assert [sla.raised(p) for p in ("low", "normal", "high", "urgent")] == ["normal", "high", "urgent", "urgent"]


def test_escalation_rules_match_by_state_channel_and_priority() -> None:
    policy = SlaPolicy(escalation=(Escalation("at_risk", frozenset({"email"}), notify=True),
                                   Escalation("at_risk", priorities=frozenset({"high"}), notify=False,
                                              raise_priority=True),
                                   Escalation("breached", reassign=True, notify=False)))
    assert policy.actions("at_risk", "email", "high") == sla.Actions(notify=True, raise_priority=True)
    assert policy.actions("at_risk", "voice", "normal") == sla.Actions()
    assert policy.actions("breached", "voice", "normal") == sla.Actions(reassign=True)


# -- config ---------------------------------------------------------------------------------------

GOOD = """\
calendars:
  office:
    timezone: Europe/Paris
    weekly: {mon-fri: "09:00-12:30, 13:30-18:00"}
    holidays: [2026-12-25]
queues:
  support: {strategy: ringall, calendar: office}
  sales: {}
agents:
  agent1: {extension: "1001", queues: [support]}
dids:
  "8005550100": {queue: support}
sla:
  targets:
    high: {first_response: 60, resolution: 480}
    email/high: {first_response: 30, resolution: 240}
  at_risk_percent: 25
  escalation:
    - {when: at_risk, channels: [email], notify: true}
    - {when: breached, priorities: [high, urgent], raise_priority: true, reassign: true}
"""


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="cc.yaml", env={})
    return info.value


def test_calendars_queues_and_sla_are_read() -> None:
    config = parse_config(GOOD, file="cc.yaml", env={})
    assert config.calendars["office"].timezone == "Europe/Paris"
    assert config.calendars["office"].holidays == {dt.date(2026, 12, 25)}
    assert config.queues["support"].calendar == "office" and config.queues["sales"].calendar == ""
    policy = sla_of(config)
    assert policy.schedule("support") == config.calendars["office"] and policy.schedule("sales") == ALWAYS
    assert policy.targets["email/high"] == SlaTarget(30, 240) and policy.at_risk_percent == 25
    assert policy.escalation[1] == Escalation("breached", frozenset(), frozenset({"high", "urgent"}), True, True, True)
    assert parse_config(GOOD.replace("calendar: office", ""), env={}).sla.at_risk_percent == 25


@pytest.mark.parametrize("old, new, error_id, key", [
    ("calendar: office", "calendar: ofice", "unknown-calendar", "queues.support.calendar"),
    ("timezone: Europe/Paris", "timezone: Paris", "unknown-timezone", "calendars.office.timezone"),
    ('mon-fri: "09:00-12:30, 13:30-18:00"', 'mon-fri: "09:00-25:00"', "bad-time", "calendars.office.weekly.mon-fri"),
    ("holidays: [2026-12-25]", "holidays: [25/12/2026]", "bad-date", "calendars.office.holidays.0"),
    ("    holidays: [2026-12-25]", "    holiday: [2026-12-25]", "unknown-key", "calendars.office.holiday"),
    ('weekly: {mon-fri: "09:00-12:30, 13:30-18:00"}', "weekly: {mon-fri: closed}", "impossible-schedule",
     "calendars.office"),
    ("  office:\n", "  Office:\n", "bad-name", "calendars.Office"),
    ("at_risk_percent: 25", "at_risk_percent: 100", "bad-value", "sla.at_risk_percent"),
    ("at_risk_percent: 25", "at_risk_percent: 0", "bad-value", "sla.at_risk_percent"),
    ("email/high:", "fax/high:", "bad-value", "sla.targets.fax/high"),
    ("{first_response: 30,", "{first_response: 0,", "bad-value", "sla.targets.email/high.first_response"),
    ("{first_response: 30,", "{first_response: 300,", "bad-value", "sla.targets.email/high.first_response"),
    ("{when: at_risk,", "{when: late,", "bad-value", "sla.escalation.0.when"),
    ("channels: [email]", "channels: [fax]", "bad-value", "sla.escalation.0.channels.0"),
    ("priorities: [high, urgent]", "priorities: [high, top]", "bad-value", "sla.escalation.1.priorities.1"),
    ("reassign: true", "reassign: yes please", "wrong-type", "sla.escalation.1.reassign"),
])
def test_config_errors_are_located(old: str, new: str, error_id: str, key: str) -> None:
    assert old in GOOD
    err = config_error(GOOD.replace(old, new))
    assert (err.error_id, err.key) == (error_id, key), str(err)
    assert err.line > 0 and str(err).startswith("cc.yaml:")


def test_calendars_must_be_a_mapping_of_hours() -> None:
    assert config_error(GOOD.replace("calendars:\n  office:", "calendars: [office]\nx:\n  office:")).key == "calendars"
    assert config_error(GOOD.replace("  office:\n    timezone: Europe/Paris\n", "  office: 9-5\n  y:\n    timezone: x\n")
                        ).key == "calendars.office"
    err = config_error(GOOD.replace("calendars:", "calendarz:"))
    assert err.error_id == "unknown-key"


def test_a_queue_calendar_needs_a_calendars_section() -> None:
    err = config_error(GOOD[GOOD.index("queues:"):])
    assert err.error_id == "unknown-calendar" and "add a calendars: section" in err.message


def test_the_old_store_sla_says_where_it_went() -> None:
    err = config_error(GOOD + "store:\n  sla:\n    normal: {first_response: 10, resolution: 100}\n")
    assert (err.error_id, err.key) == ("moved-key", "store.sla")
    assert "sla.targets" in err.message and err.line == GOOD.count("\n") + 2


# -- the store ------------------------------------------------------------------------------------

class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


MONDAY = at(PARIS, 2026, 12, 7, 9, 0)
TARGETS = {"high": SlaTarget(60, 480), "email/high": SlaTarget(30, 240), "normal": SlaTarget(60, 600)}


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[TicketCore]:
    policy = SlaPolicy(targets=TARGETS, hours={"support": OFFICE}, escalation=(
        Escalation("at_risk", notify=True, raise_priority=True),
        Escalation("breached", channels=frozenset({"voice"}), notify=False, reassign=True)))
    core = TicketCore.build(store_url, StorePolicy(sla=policy), clock=Clock(MONDAY))
    await core.open()
    yield core
    await core.close()


def clock_of(core: TicketCore) -> Clock:
    clock = core.store.clock
    assert isinstance(clock, Clock)
    return clock


async def voice_ticket(core: TicketCore, call_id: str, caller: str, queue: str = "general") -> int:
    """A call's ticket: its topic, the queue the call reached, is the queue that works it."""
    await core.calls.step(call_id, step="started", caller_id=caller, did="8005550100", topic=queue)
    row = await core.calls.step(call_id, step="ended", values={"talk_seconds": 30})
    assert row["ticket_id"] is not None
    return row["ticket_id"]


def history(ticket: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(h["actor"], h["field"], h["old"], h["new"]) for h in ticket["history"]]


async def test_a_priority_change_on_an_email_ticket_uses_the_email_targets(store: TicketCore) -> None:
    row, _ = await store.messages.inbound("email", "ann@example.com", "my card", topic="general")
    email_id = row["ticket_id"]
    assert email_id is not None
    voice_id = await voice_ticket(store, "900.1", "5551230100")
    email = await store.tickets.update(email_id, "agent1", priority="high")
    voice = await store.tickets.update(voice_id, "agent1", priority="high")
    assert email["channel"] == "email" and voice["channel"] == "voice"
    assert (email["first_response_due"], email["resolution_due"]) == (MONDAY + 30 * 60, MONDAY + 240 * 60)
    assert (voice["first_response_due"], voice["resolution_due"]) == (MONDAY + 60 * 60, MONDAY + 480 * 60)


async def test_a_queue_change_counts_in_the_new_queues_calendar(store: TicketCore) -> None:
    created = at(PARIS, 2026, 12, 4, 16, 30)  # Friday
    clock_of(store).now = created
    tid = await voice_ticket(store, "901.1", "5551230101")
    ticket = await store.tickets.get(tid)
    assert ticket["queue"] == "general" and ticket["first_response_due"] == created + 3600  # no calendar: 24/7
    moved = await store.tickets.update(tid, "agent1", queue="support")
    assert local(moved["first_response_due"]) == dt.datetime(2026, 12, 7, 9, 30)
    assert local(moved["resolution_due"]) == dt.datetime(2026, 12, 8, 10, 30)  # 10 h: 30 min + 8 h + 1 h 30
    assert ("agent1", "queue", "general", "support") in history(await store.tickets.get(tid))
    # A call that reached the office's queue opens a ticket counted in its calendar at once (the
    # call log's bulk insert), and so does a message whose ticket that queue works.
    direct = await store.tickets.get(await voice_ticket(store, "901.2", "5551230109", queue="support"))
    row, _ = await store.messages.inbound("sms", "+14155550109", "hello", topic="texts", queue="support")
    assert row["ticket_id"] is not None
    texted = await store.tickets.get(row["ticket_id"])
    for t in (direct, texted):
        assert t["queue"] == "support" and (local(t["first_response_due"]), local(t["resolution_due"])) == (
            dt.datetime(2026, 12, 7, 9, 30), dt.datetime(2026, 12, 8, 10, 30))
    with pytest.raises(CallcenterError) as bad:
        await store.tickets.update(tid, "agent1", queue="Support Team")
    assert bad.value.error_id == "bad-queue"


async def test_the_clock_stops_while_the_ticket_waits_on_the_customer(store: TicketCore) -> None:
    clock = clock_of(store)
    tid = await voice_ticket(store, "902.1", "5551230102")
    await store.tickets.update(tid, "agent1", queue="support")
    before = await store.tickets.get(tid)
    assert local(before["resolution_due"]) == dt.datetime(2026, 12, 8, 11, 0)  # Monday 09:00 + 10 h of 8-hour days
    clock.now = at(PARIS, 2026, 12, 7, 10, 0)
    pending = await store.tickets.update(tid, "agent1", status="pending")
    assert pending["pending_since"] == clock.now and pending["resolution_due"] == before["resolution_due"]
    assert await store.tickets.escalate(at(PARIS, 2026, 12, 9, 12, 0)) == []  # past due, but paused
    clock.now = at(PARIS, 2026, 12, 8, 10, 0)  # Tuesday 10:00: 7 h on Monday and 1 h on Tuesday waited
    back = await store.tickets.update(tid, "agent1", status="open")
    assert back["pending_since"] is None
    assert local(back["resolution_due"]) == dt.datetime(2026, 12, 9, 11, 0)  # 8 business hours later
    assert back["first_response_due"] == at(PARIS, 2026, 12, 8, 10, 0)  # 1 h target + 8 h paused
    clock.now = at(PARIS, 2026, 12, 8, 12, 0)
    await store.tickets.update(tid, "agent1", status="pending")
    clock.now = at(PARIS, 2026, 12, 12, 12, 0)  # Saturday: only Tuesday 12-17 and Wed-Fri count
    again = await store.tickets.update(tid, "agent1", status="resolved")
    assert local(again["resolution_due"]) == dt.datetime(2026, 12, 14, 16, 0)  # + 5 h + 3 x 8 h


async def test_a_customers_message_restarts_the_clock_of_a_pending_ticket(store: TicketCore) -> None:
    clock = clock_of(store)
    row, _ = await store.messages.inbound("email", "bo@example.com", "help", topic="mail", queue="support")
    tid = row["ticket_id"]
    assert tid is not None
    clock.now = at(PARIS, 2026, 12, 7, 10, 0)
    await store.tickets.update(tid, "agent1", status="pending")
    clock.now = at(PARIS, 2026, 12, 8, 10, 0)  # the customer writes back on Tuesday at 10:00
    await store.messages.inbound("email", "bo@example.com", "here it is", topic="mail", queue="support")
    ticket = await store.tickets.get(tid)
    assert ticket["status"] == "open" and ticket["pending_since"] is None
    assert ("system", "status", "pending", "open") in history(ticket)
    assert ticket["first_response_due"] == at(PARIS, 2026, 12, 8, 10, 0)  # Monday 10:00 + the 8 h waited


async def test_escalation_applies_its_rules_once_per_worsening(store: TicketCore) -> None:
    tid = await voice_ticket(store, "903.1", "5551230103")
    other = await voice_ticket(store, "903.2", "5551230104")
    await store.tickets.update(tid, "boss", assignee="agent1")
    await store.tickets.update(other, "boss", status="pending")  # paused: never escalated
    # Normal: 60 min to the first response (24/7 here): at risk under 12 min left.
    assert await store.tickets.escalate(MONDAY + 40 * 60) == []
    risky = await store.tickets.escalate(MONDAY + 50 * 60)
    assert risky == [sla.Escalated(tid, "general", "at_risk", notify=True, raised_to="high")]
    assert await store.tickets.escalate(MONDAY + 51 * 60) == []  # once: already at risk
    ticket = await store.tickets.get(tid)
    assert ticket["priority"] == "high" and ticket["sla_state"] == "at_risk" and ticket["assignee"] == "agent1"
    assert ("system", "sla", "", "at_risk") in history(ticket) and ("system", "priority", "normal", "high") in history(ticket)
    assert ticket["resolution_due"] == MONDAY + 480 * 60  # the high targets now
    breached = await store.tickets.escalate(MONDAY + 61 * 60)
    assert breached == [sla.Escalated(tid, "general", "breached", notify=False, reassigned_from="agent1")]
    ticket = await store.tickets.get(tid)
    assert ticket["assignee"] == "" and ticket["priority"] == "high"  # the breached rule does not raise
    assert ("system", "assignee", "agent1", "") in history(ticket)
    assert await store.tickets.escalate(MONDAY + 62 * 60) == []
    # Answered: the first response no longer counts; the state goes back (in the history, no escalation),
    # so the resolution's own risk escalates again later.
    await store.calls.step("903.3", step="started", caller_id="5551230103", did="8005550100", topic="general")
    await store.calls.step("903.3", step="answered", first_response=True)
    assert await store.tickets.escalate(MONDAY + 63 * 60) == []
    assert (await store.tickets.get(tid))["sla_state"] == ""
    late = await store.tickets.escalate(MONDAY + 400 * 60)
    assert [(e.ticket_id, e.state, e.raised_to) for e in late] == [(tid, "at_risk", "urgent")]
    pending = await store.tickets.get(other)
    assert pending["sla_state"] == "" and pending["priority"] == "normal"


async def test_an_sla_pass_reads_a_thousand_open_tickets_cheaply(store_url: str) -> None:
    core = TicketCore.build(store_url, StorePolicy(sla=SlaPolicy(hours={"": LUNCH})), clock=Clock(MONDAY))
    await core.open()
    try:
        from callcenter.tickets.schema import Customer, Ticket
        async with core.store.writing() as s:
            customer = Customer(name="", unidentified=False, tags=[], created_at=MONDAY, updated_at=MONDAY)
            s.add(customer)
            await s.flush()
            s.add_all(Ticket(customer_id=customer.id, subject=f"t{i}", topic="", status="open", priority="normal",
                             assignee="", tags=[], queue="", channel="email", first_response_due=MONDAY + 86400 + i,
                             resolution_due=MONDAY + 7 * 86400, created_at=MONDAY, updated_at=MONDAY)
                      for i in range(1000))
        started = time.perf_counter()
        assert await core.tickets.escalate(MONDAY + 60) == []
        assert time.perf_counter() - started < 2.0
    finally:
        await core.close()


# -- the feature ----------------------------------------------------------------------------------

class FakeTickets:
    def __init__(self) -> None:
        self.passes = 0

    async def escalate(self, now: float) -> list[sla.Escalated]:
        self.passes += 1
        if self.passes == 1:
            raise RuntimeError("database away")
        if self.passes == 2:
            return [sla.Escalated(7, "support", "breached", notify=True, reassigned_from="agent2"),
                    sla.Escalated(8, "support", "at_risk", notify=False, raised_to="high"),
                    sla.Escalated(9, "sales", "at_risk", notify=False, reassigned_from="agent1")]
        return []


async def test_the_sla_pass_publishes_what_it_escalated_and_survives_errors(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTickets()
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)

    core: Any = type("Core", (), {"tickets": fake})()
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(sla_passes(core, lambda: 5000.0, publish, interval=0.01))
        while fake.passes < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "SLA pass failed" in caplog.text
    assert published == [ev.WorkChanged(7, "support", "sla_breached", "", 5000.0),
                         ev.WorkChanged(9, "sales", "unassigned", "agent1", 5000.0)]


async def test_a_live_reload_brings_new_calendars_and_targets(tmp_path: Any) -> None:
    from callcenter.tickets import db
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(db.upgrade, url)
    core = TicketCore.build(url)
    await core.open()
    try:
        config = parse_config(CONFIG.format(runtime=tmp_path), file="test.yaml", env={})
        parts = app_mod.build(config, ami=FakeAmi([]), clock=lambda: 1000.0, tickets=core)
        feature = parts.feature(TicketsFeature)
        assert feature is not None
        before, _ = await core.messages.inbound("sms", "+14155550100", "hello", queue="support")
        assert before["ticket_id"] is not None
        edited = CONFIG.replace("support: {{strategy: ringall}}", "support: {{strategy: ringall, calendar: office}}")
        edited += "calendars:\n  office: {{timezone: Europe/Paris, weekly: {{mon-fri: '09:00-17:00'}}}}\n"
        edited += "sla:\n  targets: {{normal: {{first_response: 5, resolution: 50}}}}\n"
        # What App.apply_config does for the tickets feature (the others' reload needs a live Asterisk).
        parts.current.config = parse_config(edited.format(runtime=tmp_path), file="test.yaml", env={})
        await feature.apply_config()
        policy = core.store.policy.sla
        assert policy.schedule("support") == OFFICE and policy.targets["normal"] == SlaTarget(5, 50)
        # A ticket written before the edit is measured against due times of its new calendar.
        ticket = await core.tickets.get(before["ticket_id"])
        assert (ticket["first_response_due"], ticket["resolution_due"]) == \
            policy.due("sms", "normal", ticket["created_at"], "support", 0.0)
    finally:
        await core.close()


def test_the_demos_commented_calendar_works_once_uncommented() -> None:
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "callcenter.yaml").read_text()
    for line in ("# calendar: office", "# calendars:", "#   office:", "#     timezone:", "#     weekly:", "#     holidays:",
                 "# - {when: breached"):
        assert line in text, line
        text = text.replace(line, line.replace("# ", "", 1))
    config = parse_config(text, file="callcenter.yaml", env={})
    assert sla_of(config).schedule("support").timezone == "Europe/Paris"
    assert sla_of(config).schedule("sales") == ALWAYS and len(config.sla.escalation) == 3
