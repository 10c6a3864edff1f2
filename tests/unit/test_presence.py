"""Agent states and queue numbers from events (pure)."""

from callcenter.ami.events import (AgentConnected, AgentMissed, AgentOffered,
                                   CallerAbandonedQueue, CallerJoinedQueue, CallerLeftQueue, ContactChanged,
                                   HangupRequested, MemberChanged)
from callcenter.routing.presence import AutoPause, Presence


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
    assert p.apply(AgentOffered("q", "a1", "PJSIP/a1", "1.1"), 0.0) == []
    assert p.agents["a1"].state(0.5) == "ringing"
    assert p.apply(AgentMissed("q", "a1", "PJSIP/a1", "1.1", 3000), 3.0) == []  # the caller left: not a miss
    assert p.agents["a1"].state(3.0) == "ready" and p.agents["a1"].missed_in_row == 0
    p.apply(AgentMissed("q", "a1", "PJSIP/a1", "2.2", 10000), 13.0)
    assert p.apply(AgentMissed("q", "a1", "PJSIP/a1", "3.3", 10000), 25.0) == [AutoPause("a1", "auto: 2 missed calls")]


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
