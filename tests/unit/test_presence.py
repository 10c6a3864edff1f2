"""Agent states and queue numbers from events (pure)."""

from callcenter.core import events as ev
from callcenter.ami.actions import ContactRow, DeviceRow, QueueEntryRow, QueueMemberRow, QueueStatus
from callcenter.ami.events import (AgentCompleted, AgentConnected, AgentMissed, AgentOffered, CallerAbandonedQueue,
                                   CallerJoinedQueue, CallerLeftQueue, ContactChanged, DeviceStateChanged,
                                   HangupRequested, MemberChanged)
from callcenter.routing.presence import Presence


def presence() -> Presence:
    p = Presence(["a1", "a2"], ["q"], wrapup={"q": 5}, ring_timeout={"q": 10}, auto_pause_after=2)
    for agent in ("a1", "a2"):
        p.apply(ContactChanged(agent, "NonQualified", "sip:x"), 0.0)
    return p


def test_a_timeout_is_an_overflow_and_a_hangup_is_an_abandon() -> None:
    p = presence()
    p.apply(CallerJoinedQueue("q", "1.1", "1.1", 1, "555"), 0.0)
    p.apply(CallerJoinedQueue("q", "2.2", "2.2", 2, "556"), 0.0)
    p.apply(CallerAbandonedQueue("q", "1.1", "1.1", 30), 30.0)  # Asterisk's word for a max-wait timeout
    p.apply(HangupRequested("PJSIP/c-2", "2.2", "2.2", 16, soft=False), 31.0)  # the caller hung up
    p.apply(CallerAbandonedQueue("q", "2.2", "2.2", 31), 31.0)
    numbers = p.queues["q"].as_dict(32.0, 20)
    assert (numbers["offered"], numbers["abandoned"], numbers["overflowed"]) == (2, 1, 1)


def test_missed_offers_in_a_row_pause_but_a_caller_leaving_is_no_miss() -> None:
    p = presence()
    assert p.apply(AgentOffered("q", "a1", "PJSIP/a1", "1.1"), 0.0) == [
        ev.AgentStateChanged("a1", "ringing", "ready", "", 0.0)]
    assert p.agents["a1"].state(0.5) == "ringing"
    # the caller left: not a miss
    assert p.apply(AgentMissed("q", "a1", "PJSIP/a1", "1.1", 3000), 3.0) == [
        ev.AgentStateChanged("a1", "ready", "ringing", "", 3.0)]
    assert p.agents["a1"].state(3.0) == "ready" and p.agents["a1"].missed_in_row == 0
    p.apply(AgentMissed("q", "a1", "PJSIP/a1", "2.2", 10000), 13.0)
    assert ev.AutoPauseDecided("a1", "auto: 2 missed calls", 25.0) in p.apply(
        AgentMissed("q", "a1", "PJSIP/a1", "3.3", 10000), 25.0)


def test_ringall_offers_end_when_another_agent_answers() -> None:
    p = presence()
    p.apply(AgentOffered("q", "a1", "PJSIP/a1", "1.1"), 0.0)
    p.apply(AgentOffered("q", "a2", "PJSIP/a2", "1.1"), 0.0)
    p.apply(AgentConnected("q", "a2", "PJSIP/a2", "1.1", 2, 1), 1.0)
    assert p.agents["a1"].state(1.0) == "ready" and p.agents["a2"].state(1.0) == "on_call"


def test_pause_time_is_kept_by_reason() -> None:
    p = presence()
    p.apply(MemberChanged("q", "a1", "PJSIP/a1", 1, True, "lunch", 0, False), 100.0)
    assert p.agents["a1"].state(101.0) == "paused"
    p.apply(MemberChanged("q", "a1", "PJSIP/a1", 1, False, "", 0, False), 160.0)
    assert p.agents["a1"].as_dict(200.0)["pause_seconds"] == {"lunch": 60.0}
    p.apply(ContactChanged("a1", "Removed", "sip:x"), 201.0)
    assert p.agents["a1"].state(201.0) == "logged_out"


def test_waiting_callers_and_longest_wait() -> None:
    p = presence()
    p.apply(CallerJoinedQueue("q", "1.1", "1.1", 1, "555"), 10.0)
    p.apply(CallerJoinedQueue("q", "2.2", "2.2", 2, "556"), 20.0)
    numbers = p.queues["q"].as_dict(30.0, 20)
    assert numbers["waiting"] == 2 and numbers["longest_wait_seconds"] == 20.0
    assert [c["caller_id"] for c in numbers["callers"]] == ["555", "556"]
    p.apply(CallerLeftQueue("q", "1.1", "1.1"), 31.0)
    assert p.queues["q"].as_dict(31.0, 20)["waiting"] == 1


def test_a_direct_call_makes_the_agent_busy_whatever_the_queues_say() -> None:
    p = presence()
    assert p.apply(DeviceStateChanged("PJSIP/a1", "INUSE"), 1.0) == [
        ev.AgentStateChanged("a1", "on_call", "ready", "", 1.0)]
    assert p.agents["a1"].state(2.0) == "on_call"
    p.apply(DeviceStateChanged("PJSIP/a1", "NOT_INUSE"), 9.0)
    assert p.agents["a1"].state(9.0) == "ready"
    p.apply(DeviceStateChanged("PJSIP/someone-else", "INUSE"), 9.0)  # not an agent: ignored
    assert p.agents["a2"].state(9.0) == "ready"


def test_a_reregistration_that_replaces_a_contact_never_logs_the_agent_out() -> None:
    p = presence()
    p.apply(ContactChanged("a1", "Created", "sip:new"), 1.0)  # remove_existing: the new one first...
    changes = p.apply(ContactChanged("a1", "Removed", "sip:x"), 1.0)  # ...then the old one goes
    assert p.agents["a1"].state(1.0) == "ready" and changes == []
    p.apply(ContactChanged("a1", "Unreachable", "sip:new"), 5.0)  # qualify: no answer
    assert p.agents["a1"].state(5.0) == "unreachable"
    p.apply(ContactChanged("a1", "Reachable", "sip:new"), 9.0)
    assert p.agents["a1"].state(9.0) == "ready"


def test_wrapup_ends_by_time_with_an_event() -> None:
    p = presence()
    p.apply(AgentConnected("q", "a1", "PJSIP/a1", "1.1", 2, 1), 1.0)
    # The agent's leg ends (the call tracker's AgentLegEnded; app_queue's AgentComplete no longer counts).
    assert p.apply(AgentCompleted("q", "a1", "1.1", 30, "caller", 2), 31.0) == []
    changes = p.apply(ev.AgentLegEnded("1.1", "a1", "q", "queue", 30, 0, 31.0), 31.0)
    assert ev.AgentStateChanged("a1", "wrapup", "on_call", "", 31.0) in changes
    assert p.next_wakeup() == 36.0 and p.tick(35.0) == []
    assert p.tick(36.0) == [ev.AgentStateChanged("a1", "ready", "wrapup", "", 36.0)]
    assert p.next_wakeup() is None


def test_rebuild_takes_asterisks_truth_after_a_restart() -> None:
    """After Asterisk restarts mid-call: the agent is not on a call any more, the caller who was
    waiting is gone, and the paused agent's reason comes back from app_queue."""
    p = presence()
    p.apply(CallerJoinedQueue("q", "1.1", "1.1", 1, "555"), 0.0)
    p.apply(AgentConnected("q", "a1", "PJSIP/a1", "0.9", 2, 1), 1.0)
    status = QueueStatus(members=[QueueMemberRow("q", "a1", "PJSIP/a1", 0, 1, False, "", False),
                                  QueueMemberRow("q", "a2", "PJSIP/a2", 0, 1, True, "lunch", False)],
                         entries=[QueueEntryRow("q", "7.7", "7.7", "777", 1, 12)])
    changes = p.rebuild(status, [DeviceRow("PJSIP/a1", "NOT_INUSE"), DeviceRow("PJSIP/a2", "NOT_INUSE")],
                        [ContactRow("a1", "a1", "sip:a1@x", "NonQualified")], 100.0)
    assert p.agents["a1"].state(100.0) == "ready"
    assert p.agents["a2"].state(100.0) == "logged_out"  # no contact any more
    assert p.agents["a2"].paused and p.agents["a2"].pause_reason == "lunch"
    numbers = p.queues["q"].as_dict(100.0, 20)
    assert numbers["waiting"] == 1 and numbers["callers"][0]["caller_id"] == "777"
    assert numbers["longest_wait_seconds"] == 12.0
    assert ev.QueueChanged("q", 1, 100.0) in changes
