"""Each agent's part of a call, transfers, consultations and monitor sessions, from AMI events as
Asterisk 22 sends them (header names of its documentation), and the pure rules of call control."""

from __future__ import annotations

import pytest

from callcenter.ami.events import translate
from callcenter.calls.rules import customer_channels, parse_target
from callcenter.calls.tracker import CallTracker
from callcenter.core import events as ev
from callcenter.core.errors import CallcenterError
from callcenter.routing.presence import Presence

L, L2 = "1700000000.1", "1700000000.9"
CALLER, A4, A5, A4B = "PJSIP/carrier-00000001", "PJSIP/agent4-00000002", "PJSIP/agent5-00000003", "PJSIP/agent4-0000000a"


def new(channel: str, uniqueid: str, linkedid: str = L, context: str = "from-trunk", exten: str = "8005550116"):
    return {"Event": "Newchannel", "Channel": channel, "Uniqueid": uniqueid, "Linkedid": linkedid,
            "CallerIDNum": "5551234567", "Context": context, "Exten": exten, "ChannelStateDesc": "Ring"}


def up(channel: str, uniqueid: str, linkedid: str = L):
    return {"Event": "Newstate", "Channel": channel, "Uniqueid": uniqueid, "Linkedid": linkedid,
            "ChannelStateDesc": "Up"}


def gone(channel: str, uniqueid: str, linkedid: str = L):
    return {"Event": "Hangup", "Channel": channel, "Uniqueid": uniqueid, "Linkedid": linkedid, "Cause": "16",
            "Cause-txt": "Normal Clearing"}


def moh(uniqueid: str, on: bool):
    return {"Event": "MusicOnHoldStart" if on else "MusicOnHoldStop", "Uniqueid": uniqueid, "Linkedid": L}


def feed(tracker: CallTracker, timed: list[tuple[float, dict[str, str]]]) -> list:
    out = []
    for at, headers in timed:
        event = translate(headers)
        assert event is not None, headers
        out += tracker.apply(event, at)
    return out


def answered_by_agent4(tracker: CallTracker) -> list:
    return feed(tracker, [
        (0, new(CALLER, L)), (1, up(CALLER, L)),
        (2, {"Event": "QueueCallerJoin", "Queue": "xfer", "Uniqueid": L, "Linkedid": L, "CallerIDNum": "5551234567"}),
        (3, new(A4, "2", context="xfer", exten="s")), (5, up(A4, "2")),
        (5, {"Event": "AgentConnect", "Queue": "xfer", "MemberName": "agent4", "Interface": "PJSIP/agent4",
             "Linkedid": L, "HoldTime": "3", "RingTime": "2"})])


def test_a_blind_transfer_gives_each_agent_their_leg_and_the_target_a_screen_pop() -> None:
    tracker = CallTracker(agents=["agent4", "agent5"])
    answered_by_agent4(tracker)
    out = feed(tracker, [
        (10, moh(L, True)), (14, moh(L, False)),  # agent4 held the caller 4 s
        (20, {"Event": "BlindTransfer", "Result": "Success", "TransfererChannel": A4, "TransfererUniqueid": "2",
              "TransfererLinkedid": L, "TransfereeLinkedid": L, "Extension": "agent5", "Context": "cc-transfer"}),
        (20, gone(A4, "2")), (21, new(A5, "3", context="cc-transfer", exten="s")), (24, up(A5, "3")),
        (30, gone(CALLER, L)), (30, gone(A5, "3"))])
    [call] = tracker.recent()
    assert [(x.agent, x.via, x.by) for x in call.legs] == [("agent4", "queue", ""), ("agent5", "transfer", "agent4")]
    assert call.legs[0].hold_seconds == 4 and call.legs[0].talk_seconds == 11  # 5 → 20, 4 s of it on hold
    assert call.legs[1].talk_seconds == 6
    assert call.transfers == [{"kind": "blind", "by": "agent4", "to": "agent5", "at": 20}]
    assert call.agent == "agent4"  # who answered from the queue
    offered = [e for e in out if isinstance(e, ev.AgentOffered)]
    assert [(e.agent, e.call_id) for e in offered] == [("agent5", L)]  # agent5's screen pop, the same call
    ended = [(e.agent, e.talk_seconds, e.hold_seconds, e.via) for e in out if isinstance(e, ev.AgentLegEnded)]
    assert ended == [("agent4", 11, 4, "queue"), ("agent5", 6, 0, "transfer")]
    assert [e.via for e in out if isinstance(e, ev.AgentConnected)] == ["transfer"]


def test_an_attended_transfer_from_a_phone_joins_the_consultation_call() -> None:
    tracker = CallTracker(agents=["agent4", "agent5"])
    answered_by_agent4(tracker)
    feed(tracker, [
        (10, moh(L, True)),  # the phone's hold key
        (11, new(A4B, "10", linkedid="10", context="agents", exten="1005")),  # its consultation: another call
        (11, new(A5, "11", linkedid="10", context="agents", exten="s")), (13, up(A4B, "10", "10")),
        (13, up(A5, "11", "10")),
        (20, {"Event": "AttendedTransfer", "Result": "Success", "OrigTransfererChannel": A4,
              "OrigTransfererUniqueid": "2", "OrigTransfererLinkedid": L, "SecondTransfererChannel": A4B,
              "SecondTransfererLinkedid": "10", "TransfereeLinkedid": L, "TransferTargetChannel": A5,
              "TransferTargetLinkedid": "10", "DestType": "Bridge"}),
        (20, moh(L, False)), (20, gone(A4, "2")), (20, gone(A4B, "10", "10")),
        (30, gone(CALLER, L)), (30, gone(A5, "11", "10"))])
    assert len(tracker.recent()) == 1 and tracker.active() == []  # one call, not two
    [call] = tracker.recent()
    assert [(x.agent, x.via, x.by) for x in call.legs] == [("agent4", "queue", ""), ("agent5", "transfer", "agent4")]
    assert call.legs[0].hold_seconds == 10
    assert call.transfers[0]["kind"] == "attended" and call.transfers[0]["to"] == "agent5"


def test_a_monitor_session_is_part_of_the_call_not_a_call() -> None:
    tracker = CallTracker(agents=["agent4"])
    answered_by_agent4(tracker)
    tracker.expect_monitor("spy-1", L, "sue", "listen")
    feed(tracker, [(10, new("PJSIP/sue-00000005", "spy-1", linkedid="spy-1", context="cc-monitor", exten="listen")),
                   (12, {"Event": "ChanSpyStart", "SpyerUniqueid": "spy-1", "SpyeeUniqueid": "2", "SpyeeLinkedid": L})])
    tracker.monitor_mode("spy-1", "barge")
    feed(tracker, [(20, gone("PJSIP/sue-00000005", "spy-1", "spy-1")), (30, gone(CALLER, L)), (30, gone(A4, "2"))])
    [call] = tracker.recent()
    assert call.monitors == [{"supervisor": "sue", "mode": "barge", "modes": ["listen", "barge"], "started_at": 12,
                              "ended_at": 20}]


def test_presence_credits_each_agent_with_their_part() -> None:
    presence = Presence(["agent4", "agent5"], ["xfer"], wrapup={"xfer": 5})
    presence.apply(ev.AgentLegEnded("1", "agent4", "xfer", "queue", 11, 4, 20), 20)
    presence.apply(ev.AgentLegEnded("1", "agent5", "xfer", "transfer", 6, 0, 30), 30)
    a4, a5 = presence.agents["agent4"], presence.agents["agent5"]
    assert (a4.calls, a4.talk_seconds, a5.calls, a5.talk_seconds) == (1, 15, 1, 6)
    assert a5.activity == "wrapup" and a5.wrapup_until == 35
    queue = presence.queues["xfer"]
    assert queue.completed == 1 and queue.total_handle == 31  # AHT: both agents' parts of one call, with wrap-ups


@pytest.mark.parametrize("text, kind, exten", [
    ("agent5", "agent", "agent5"), ("1005", "agent", "agent5"), ("queue:xfer", "queue", "queue-xfer"),
    ("+8613800138000", "number", "+8613800138000")])
def test_transfer_targets(text: str, kind: str, exten: str) -> None:
    target = parse_target(text, {"agent5": "1005"}, ["xfer"], trunk=True)
    assert (target.kind, target.exten) == (kind, exten)


@pytest.mark.parametrize("text, error", [
    ("", "bad-target"), ("agent9", "unknown-agent"), ("queue:nope", "unknown-queue"), ("+12", "bad-number"),
    ("+86 138", "bad-number"), ("12345", "bad-number"), ("+8613800138000\r\nAction: Command", "bad-target"),
    ("queue:xfer\n", "bad-target"),
    ("x" * 65, "bad-target")])
def test_bad_transfer_targets(text: str, error: str) -> None:
    with pytest.raises(CallcenterError) as caught:
        parse_target(text, {"agent5": "1005"}, ["xfer"], trunk=True)
    assert caught.value.error_id == error


def test_a_number_needs_a_trunk_and_customers_are_not_people() -> None:
    with pytest.raises(CallcenterError) as caught:
        parse_target("+8613800138000", {}, [], trunk=False)
    assert caught.value.error_id == "no-outbound-trunk"
    tracker = CallTracker(agents=["agent4"])
    answered_by_agent4(tracker)
    [call] = tracker.active()
    assert customer_channels(call, {"agent4"}) == {L: CALLER}
