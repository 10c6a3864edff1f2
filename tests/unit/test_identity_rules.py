"""Caller identity and honest records (pure): names as sent, one DID normalization, withheld
numbers never called back, Q.850 causes only, phones that decline every offer are paused."""

from __future__ import annotations

import pytest

from callcenter.core import events as ev
from callcenter.ami.events import (AgentMissed, CallerJoinedQueue, ChannelCreated, ChannelHungUp, HangupRequested,
                                   caller_name, translate)
from callcenter.calls.tracker import CallTracker
from callcenter.config import parse_config
from callcenter.ivr.settings import normalize_did
from callcenter.routing.callbacks import dialable
from callcenter.routing.presence import Presence


@pytest.mark.parametrize("sent, stored", [("O\\'Brien", "O'Brien"), ('\\\\\\"Evil\\\\\\" Corp', '"Evil" Corp'),
                                          ("<unknown>", ""), ("", ""), ("back\\\\\\\\slash", "back\\slash"),
                                          ("Zoë 张", "Zoë 张")])
def test_names_are_stored_as_the_caller_sent_them(sent: str, stored: str) -> None:
    assert caller_name(sent) == stored
    created = translate({"Event": "Newchannel", "Channel": "PJSIP/carrier-1", "Uniqueid": "1.1", "Linkedid": "1.1",
                         "CallerIDNum": "<unknown>", "CallerIDName": sent, "Context": "from-trunk", "Exten": "800"})
    assert isinstance(created, ChannelCreated) and created.caller_name == stored and created.caller_id == ""


def test_one_did_normalization() -> None:
    config = parse_config('queues: {q: {}}\nagents: {a: {extension: "10"}}\ndids: {"8005550100": {queue: q}}\n',
                          file="t.yaml", env={})
    for dialed in ("8005550100", "+8005550100", "008005550100", "800-555-0100"):
        assert config.did_for(dialed) == "8005550100", dialed
    assert config.did_for("8005550199") is None
    assert normalize_did("+1 (800) 555-0100") == "18005550100"


@pytest.mark.parametrize("number, ok", [("5551234", True), ("+15551234567", True), ("anonymous", False),
                                        ("Restricted", False), ("unavailable", False), ("private", False),
                                        ("", False), ("sip:abc", False), ("12", False), ("555 1234", False)])
def test_withheld_or_odd_numbers_are_never_called_back(number: str, ok: bool) -> None:
    assert dialable(number) is ok


def test_an_ivr_hangup_is_recorded_with_a_q850_cause_not_the_soft_hangup_flag() -> None:
    tracker = CallTracker()
    tracker.apply(ChannelCreated("PJSIP/carrier-1", "1.1", "1.1", "555", "", "from-trunk", "800", "Ring"), 0.0)
    tracker.apply(HangupRequested("PJSIP/carrier-1", "1.1", "1.1", 32, soft=True), 5.0)  # AGI HANGUP
    changes = tracker.apply(ChannelHungUp("PJSIP/carrier-1", "1.1", "1.1", 0, "Unknown"), 5.0)
    [ended] = [c for c in changes if isinstance(c, ev.CallEnded)]
    assert (ended.record.hangup_cause, ended.record.hangup_cause_text) == (16, "Normal Clearing")


def test_a_phone_that_declines_every_offer_is_paused_with_its_own_reason() -> None:
    p = Presence(["a1"], ["q"], ring_timeout={"q": 15}, auto_pause_after=3)
    p.apply(CallerJoinedQueue("q", "7.7", "7.7", 1, "555"), 0.0)
    decided: list[ev.DomainEvent] = []
    for i in range(3):
        decided += p.apply(AgentMissed("q", "a1", "PJSIP/a1", "7.7", 40), 2.0 * i + 1)  # a 486 after 40 ms
    assert [d for d in decided if isinstance(d, ev.AutoPauseDecided)] == [
        ev.AutoPauseDecided("a1", "auto: 3 calls declined", 5.0)]
