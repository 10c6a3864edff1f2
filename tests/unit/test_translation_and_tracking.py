"""AMI translation and call tracking, replayed from traffic recorded from the real Asterisk 22.

Each fixture in tests/fixtures/ami/ is a raw AMI stream the controller received during a real
call (recorded with `ami.record`); replaying it must give the call record the live system gave.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.core import events as ev
from callcenter.ami.actions import LiveChannel
from callcenter.ami.agi import parse_agi_result, quote_arg
from callcenter.ami.events import (AgiExecuted, AgiStarted, CallerJoinedQueue, ChannelCreated, ChannelHungUp,
                                   DigitPressed, HangupRequested, translate)
from callcenter.ami.trace import events
from callcenter.calls.tracker import CallTracker
from callcenter.core.errors import CallcenterError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"


def replay(name: str) -> tuple[CallTracker, list]:
    tracker, translated, _ = replay_with_domain(name)
    return tracker, translated


def replay_with_domain(name: str) -> tuple[CallTracker, list, list]:
    tracker = CallTracker()
    translated, domain = [], []
    for i, message in enumerate(events(FIXTURES / name)):
        event = translate(message)
        if event is not None:
            translated.append(event)
            domain += tracker.apply(event, now=1000.0 + i)
    return tracker, translated, domain


def test_translation_of_a_real_call_that_abandons_in_the_queue() -> None:
    _, evs = replay("caller-abandons-in-queue.ami")
    created = next(e for e in evs if isinstance(e, ChannelCreated))
    assert created.context == "from-trunk" and created.exten == "8005550100"
    assert created.uniqueid == created.linkedid
    agi = next(e for e in evs if isinstance(e, AgiStarted))
    assert agi.env["agi_dnid"] == "8005550100" and agi.env["agi_context"] == "cc-entry"  # URL-decoded
    results = [e.result for e in evs if isinstance(e, AgiExecuted)]
    assert results[0].startswith("200 result=0 endpos=")  # STREAM FILE played to the end
    assert isinstance(next(e for e in evs if isinstance(e, CallerJoinedQueue)), CallerJoinedQueue)
    hangup = next(e for e in evs if isinstance(e, ChannelHungUp))
    assert hangup.cause == 0  # what Asterisk says; the tracker finds the real cause in the request
    assert [e.soft for e in evs if isinstance(e, HangupRequested)] == [False, True]


def test_call_record_of_a_real_call_that_abandons_in_the_queue() -> None:
    tracker, _ = replay("caller-abandons-in-queue.ami")
    assert tracker.active() == []
    [call] = tracker.recent()
    assert call.did == "8005550100" and call.direction == "inbound" and call.caller_id == "sipp"
    assert call.queue == "support" and call.abandoned and call.agent is None
    assert call.hangup_cause == 16 and call.hangup_cause_text == "Normal Clearing"
    assert call.hung_up_by == "caller"
    assert call.started_at <= call.answered_at <= call.queued_at <= call.ended_at
    assert call.path == ["queue:support", "abandoned"]  # the controller's own notes are not in the trace


def test_dtmf_counts_once_from_the_caller_side() -> None:
    base = {"Event": "DTMFEnd", "Channel": "PJSIP/carrier-1", "Uniqueid": "1.1", "Linkedid": "1.1", "Digit": "5"}
    assert translate({**base, "Direction": "Received"}) == DigitPressed("PJSIP/carrier-1", "1.1", "1.1", "5")
    assert translate({**base, "Direction": "Sent"}) is None


def test_resync_ends_calls_whose_channels_vanished_and_adopts_unknown_ones() -> None:
    tracker = CallTracker()
    tracker.apply(ChannelCreated("PJSIP/carrier-1", "1.1", "1.1", "555", "", "from-trunk", "800", "Ring"), 10.0)
    live = [LiveChannel("PJSIP/carrier-2", "2.2", "2.2", "556", "", "cc-entry", "s", "Up", 30, "Queue",
                        "support,t,,,")]
    changes = tracker.resync(live, 100.0)
    ended = [c.record for c in changes if isinstance(c, ev.CallEnded)]
    assert [c.call_id for c in ended] == ["1.1"]
    assert "lost" in ended[0].hangup_cause_text and ended[0].ended_at == 100.0
    assert [(c.call_id, c.at) for c in changes if isinstance(c, ev.CallStarted)] == [("2.2", 70.0)]  # when it began
    [adopted] = tracker.active()
    assert adopted.call_id == "2.2" and adopted.started_at == 70.0 and adopted.answered_at == 70.0
    assert adopted.queue == "support" and adopted.state == "queued"
    # resync is idempotent
    assert tracker.resync(live, 101.0) == [] and len(tracker.active()) == 1


def test_an_adopted_connected_call_keeps_its_agent_and_did() -> None:
    """A controller that restarts mid-call rebuilds the call from the channels and their bridge."""
    tracker = CallTracker()
    caller = LiveChannel("PJSIP/carrier-00000001", "9.1", "9.1", "5551234", "Ann", "cc-entry", "s", "Up", 40, "Queue",
                         "support,t,,,", bridge_id="b-1", variables={"CC_DID": "8005550100"})
    agent = LiveChannel("PJSIP/agent1-00000002", "9.2", "9.1", "1001", "Ada", "agents", "s", "Up", 25, "AppQueue",
                        "(Outgoing Line)", bridge_id="b-1")
    tracker.resync([agent, caller], 100.0, agents={"agent1"})
    [call] = tracker.active()
    assert (call.state, call.agent, call.did, call.direction, call.queue) == (
        "connected", "agent1", "8005550100", "inbound", "support")
    assert call.started_at == 60.0 and call.agent_answered_at == 75.0 and call.caller_id == "5551234"


def test_tracking_returns_domain_events_in_order() -> None:
    _, _, domain = replay_with_domain("agent-answers-queued-call.ami")
    kinds = [type(d).__name__ for d in domain]
    assert kinds == ["CallStarted", "CallerQueued", "AgentOffered", "AgentConnected", "CallEnded"]
    assert domain[0].did == "8005550100" and domain[3].agent == "agent1"
    assert domain[-1].record.agent == "agent1" and domain[-1].record.ended_at is not None


def test_recent_calls_are_bounded() -> None:
    tracker = CallTracker(recent_limit=3)
    for i in range(5):
        uid = f"{i}.0"
        tracker.apply(ChannelCreated("PJSIP/x", uid, uid, str(i), "", "from-trunk", "800", "Ring"), float(i))
        tracker.apply(ChannelHungUp("PJSIP/x", uid, uid, 16, "Normal Clearing"), float(i) + 0.5)
    assert [c.caller_id for c in tracker.recent()] == ["4", "3", "2"]


@pytest.mark.parametrize("line, code, result, data, timed_out", [
    ("200 result=1", 200, "1", "", False),
    ("200 result= (timeout)", 200, "", "(timeout)", True),
    ("200 result=50 endpos=11360", 200, "50", "endpos=11360", False),
    ("200 result=-1", 200, "-1", "", False),
    ("510 Invalid or unknown command", 510, "", "Invalid or unknown command", False),
])
def test_agi_result_lines(line, code, result, data, timed_out) -> None:
    parsed = parse_agi_result(line)
    assert (parsed.code, parsed.result, parsed.data, parsed.timed_out) == (code, result, data, timed_out)


def test_agi_arguments_are_quoted() -> None:
    assert quote_arg('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "x\x00", "tab\there"])
def test_agi_arguments_with_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(CallcenterError) as exc:
        quote_arg(bad)
    assert exc.value.error_id == "invalid-text"


def test_call_record_of_a_real_call_answered_by_an_agent() -> None:
    tracker, evs = replay("agent-answers-queued-call.ami")
    assert tracker.active() == []
    [call] = tracker.recent()
    assert call.caller_id == "5551230002" and call.did == "8005550100"
    assert call.queue == "support" and call.agent == "agent1" and not call.abandoned
    assert call.path == ["queue:support", "offered:agent1", "agent:agent1"]
    assert call.hung_up_by == "agent" and call.hangup_cause == 16
    assert call.queued_at <= call.agent_answered_at <= call.ended_at
    # The agent's leg belongs to the caller's call (same Linkedid), and both legs hung up.
    legs = {e.uniqueid for e in evs if isinstance(e, ChannelCreated)}
    assert len(legs) == 2 and call.channels == {}
