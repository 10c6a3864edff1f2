"""Asterisk's call detail records (CDR), read back into call records (pure).

Asterisk writes one JSON object per CDR (cdr_custom.conf: `log/cdr-custom/cdr.json`); a call
(Linkedid) has several, one per pair of channels it bridged or dialed. `calls_from_cdr()` rebuilds
what the store needs of each ended call: caller, DID (the `cc_did` CDR variable the dialplan
sets), start and end, the queue and the agent who answered, and a Q.850 cause from the CDR's
disposition (CDRs carry no cause: ANSWERED → 16, NO ANSWER → 19, BUSY → 17, CONGESTION → 34,
FAILED → 41). Times are epoch seconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Collection, Iterable

from callcenter.calls.tracker import CAUSE_TEXT
from callcenter.core.endpoints import endpoint_of_channel
from callcenter.core.events import CallRecord

DISPOSITION_CAUSE = {"ANSWERED": 16, "NO ANSWER": 19, "BUSY": 17, "CONGESTION": 34, "FAILED": 41}
_CLID = re.compile(r'^"?(.*?)"?\s*<([^>]*)>$')


@dataclass(frozen=True)
class CdrRow:
    linkedid: str
    uniqueid: str
    src: str
    clid: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: float
    answer: float
    end: float
    billsec: int
    disposition: str
    did: str


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def parse_line(line: str) -> CdrRow | None:
    """One line of cdr.json, or None for a line that is not a CDR (a torn last line, garbage)."""
    try:
        d = json.loads(line)
    except ValueError:
        return None
    if not isinstance(d, dict) or not d.get("linkedid") or not d.get("uniqueid"):
        return None
    try:
        billsec = int(d.get("billsec") or 0)
    except (TypeError, ValueError):
        billsec = 0
    return CdrRow(str(d["linkedid"]), str(d["uniqueid"]), str(d.get("src") or ""), str(d.get("clid") or ""),
                  str(d.get("dst") or ""), str(d.get("dcontext") or ""), str(d.get("channel") or ""),
                  str(d.get("dstchannel") or ""), str(d.get("lastapp") or ""), str(d.get("lastdata") or ""),
                  _float(d.get("start")), _float(d.get("answer")), _float(d.get("end")), billsec,
                  str(d.get("disposition") or ""), str(d.get("cc_did") or ""))


def _name(clid: str) -> str:
    m = _CLID.match(clid.strip())
    return m.group(1) if m else ""


def calls_from_cdr(rows: Iterable[CdrRow], agents: Collection[str]) -> list[CallRecord]:
    """The calls these CDRs describe, one CallRecord each (ended), oldest first."""
    by_call: dict[str, list[CdrRow]] = {}
    for row in rows:
        by_call.setdefault(row.linkedid, []).append(row)
    out = []
    for linkedid, legs in by_call.items():
        legs.sort(key=lambda r: (r.start, r.end))
        caller = [r for r in legs if r.uniqueid == linkedid] or legs
        first = caller[0]
        did = next((r.did for r in legs if r.did), "")
        record = CallRecord(call_id=linkedid, caller_id=first.src, caller_name=_name(first.clid), did=did,
                            direction="inbound" if did else "internal", started_at=min(r.start for r in legs))
        record.ended_at = max(r.end for r in legs)
        answered = [r.answer for r in caller if r.answer > 0]
        record.answered_at = min(answered) if answered else None
        for r in caller:
            if r.lastapp == "Queue" and r.lastdata:
                record.queue = r.lastdata.split(",")[0]
                record.queued_at = record.queued_at or r.start
            agent = endpoint_of_channel(r.dstchannel) if r.dstchannel else ""
            if agent in agents and r.disposition == "ANSWERED":
                record.agent, record.agent_answered_at = agent, r.answer or r.start
        last = caller[-1]
        cause = DISPOSITION_CAUSE.get(last.disposition, 16 if record.agent else 0) or None
        record.hangup_cause = cause
        record.hangup_cause_text = CAUSE_TEXT.get(cause, "") if cause else ""
        record.path = ["reconciled from Asterisk's CDR"] + ([f"queue:{record.queue}"] if record.queue else []) + \
            ([f"agent:{record.agent}"] if record.agent else [])
        out.append(record)
    out.sort(key=lambda c: c.started_at)
    return out
