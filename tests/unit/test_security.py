"""The SIP guard's counting and bans (pure), and the security events' translation."""

from __future__ import annotations

from callcenter.ami.events import SecurityFailure, translate
from callcenter.asterisk.settings import SecuritySettings
from callcenter.asterisk.sip_guard import Guard


def test_failures_in_a_window_ban_and_the_ban_ends() -> None:
    guard = Guard(SecuritySettings(ban_threshold=3, ban_window=10, ban_seconds=60))
    assert [guard.failed("203.0.113.9", t) for t in (0.0, 20.0, 21.0)] == [False, False, False]  # 2 in the window
    assert guard.failed("203.0.113.9", 22.0) is True and guard.banned == {"203.0.113.9": 82.0}
    assert guard.next_wakeup() == 82.0 and guard.expire(81.0) == [] and guard.expire(82.0) == ["203.0.113.9"]


def test_exempt_addresses_are_counted_but_never_banned() -> None:
    guard = Guard(SecuritySettings(ban_threshold=2, exempt=("127.0.0.1", "10.0.0.0/8")))
    for t in range(10):
        guard.failed("127.0.0.1", float(t))
        guard.failed("10.1.2.3", float(t))
    assert guard.banned == {} and guard.totals["127.0.0.1"] == 10


def test_security_events_are_translated_with_their_source() -> None:
    event = translate({"Event": "ChallengeResponseFailed", "AccountID": "agent1",
                       "RemoteAddress": "IPV4/UDP/203.0.113.9/5060"})
    assert event == SecurityFailure("ChallengeResponseFailed", "203.0.113.9", "agent1")
    v6 = translate({"Event": "InvalidAccountID", "AccountID": "x", "RemoteAddress": "IPV6/UDP/::1/5060"})
    assert isinstance(v6, SecurityFailure) and v6.address == "::1"
