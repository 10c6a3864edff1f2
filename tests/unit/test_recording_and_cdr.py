"""Recording files as the store sees them, and Asterisk's CDR read back into call records (pure)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

from callcenter.calls import recording
from callcenter.calls.cdr import calls_from_cdr, parse_line


def test_facts_of_a_wav_a_missing_an_empty_and_a_broken_file(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    with wave.open(str(good), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x10\x00" * 8000 * 3)
    facts = recording.facts(good, wait=0)
    assert facts["recording_problem"] == "" and facts["recording_seconds"] == 3.0
    assert facts["recording_bytes"] == good.stat().st_size and len(facts["recording_sha256"]) == 64
    assert recording.facts(tmp_path / "none.wav", wait=0)["recording_problem"].startswith("missing")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert recording.facts(tmp_path / "empty.wav", wait=0)["recording_problem"].startswith("empty")
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + b"\xff" * 100)
    assert recording.facts(tmp_path / "broken.wav", wait=0)["recording_problem"].startswith("not a WAV file")


def cdr(**fields: object) -> str:
    base = {"linkedid": "100.1", "uniqueid": "100.1", "src": "5551230001", "clid": '"Ann" <5551230001>',
            "dst": "s", "dcontext": "cc-entry", "channel": "PJSIP/carrier-00000001", "dstchannel": "",
            "lastapp": "Queue", "lastdata": "support,t,,,", "start": 1000.5, "answer": 1000.6, "end": 1030.0,
            "duration": 30, "billsec": 29, "disposition": "ANSWERED", "cc_did": "8005550100"}
    return json.dumps({**base, **fields})


def test_a_queue_call_answered_by_an_agent_is_rebuilt_from_its_cdrs() -> None:
    lines = [cdr(), cdr(uniqueid="100.2", channel="PJSIP/agent1-00000002", dstchannel="", lastapp="AppQueue",
                     lastdata="", start=1010.0, answer=1012.0),
             cdr(dstchannel="PJSIP/agent1-00000002", start=1010.0, answer=1012.0, end=1030.0), "garbage", "{}"]
    rows = [r for r in map(parse_line, lines) if r is not None]
    assert len(rows) == 3
    (call,) = calls_from_cdr(rows, agents={"agent1"})
    assert (call.call_id, call.caller_id, call.caller_name, call.did, call.direction) == \
           ("100.1", "5551230001", "Ann", "8005550100", "inbound")
    assert (call.queue, call.agent, call.agent_answered_at, call.ended_at) == ("support", "agent1", 1012.0, 1030.0)
    assert call.started_at == 1000.5 and call.hangup_cause == 16 and call.path[0].startswith("reconciled")


def test_an_unanswered_fallback_call_and_an_internal_call() -> None:
    rows = [parse_line(cdr(linkedid="200.1", uniqueid="200.1", disposition="NO ANSWER", answer=0, billsec=0)),
            parse_line(cdr(linkedid="300.1", uniqueid="300.1", cc_did="", dcontext="agents", lastapp="Dial"))]
    calls = {c.call_id: c for c in calls_from_cdr([r for r in rows if r is not None], agents={"agent1"})}
    assert calls["200.1"].hangup_cause == 19 and calls["200.1"].agent is None and calls["200.1"].answered_at is None
    assert calls["300.1"].direction == "internal"
