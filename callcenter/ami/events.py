"""Translate raw AMI events (header mappings) into frozen dataclasses named after what happened.

Pure: no I/O, no panoramisk. `translate(headers)` returns one of the events below, or None for
events the controller does not use. Tested on traffic recorded from the real Asterisk
(tests/fixtures/ami/). Field names follow the domain, not Asterisk's header spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import unquote


@dataclass(frozen=True)
class ChannelCreated:
    channel: str
    uniqueid: str
    linkedid: str
    caller_id: str
    caller_name: str
    context: str
    exten: str
    state: str


@dataclass(frozen=True)
class ChannelStateChanged:
    channel: str
    uniqueid: str
    linkedid: str
    state: str  # Asterisk's ChannelStateDesc: Ring, Ringing, Up, ...


@dataclass(frozen=True)
class ChannelHungUp:
    channel: str
    uniqueid: str
    linkedid: str
    cause: int
    cause_text: str


@dataclass(frozen=True)
class HangupRequested:
    """Someone asked a channel to hang up: the far end itself (a BYE: `soft` False) or Asterisk
    / an application (`soft` True). Its cause is often the real one when Hangup says 0."""

    channel: str
    uniqueid: str
    linkedid: str
    cause: int
    soft: bool


@dataclass(frozen=True)
class CallerJoinedQueue:
    queue: str
    uniqueid: str
    linkedid: str
    position: int
    caller_id: str = ""


@dataclass(frozen=True)
class CallerLeftQueue:
    queue: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True)
class CallerAbandonedQueue:
    queue: str
    uniqueid: str
    linkedid: str
    hold_time: int


@dataclass(frozen=True)
class AgentOffered:
    queue: str
    agent: str  # MemberName
    interface: str
    linkedid: str


@dataclass(frozen=True)
class AgentConnected:
    queue: str
    agent: str
    interface: str
    linkedid: str
    hold_time: int
    ring_time: int


@dataclass(frozen=True)
class AgentMissed:
    queue: str
    agent: str
    interface: str
    linkedid: str
    ring_time_ms: int


@dataclass(frozen=True)
class AgentCompleted:
    queue: str
    agent: str
    linkedid: str
    talk_time: int
    reason: str
    hold_time: int = 0


@dataclass(frozen=True)
class MemberChanged:
    """A queue member's state (QueueMemberStatus / QueueMemberAdded / QueueMemberPause)."""

    queue: str
    agent: str
    interface: str
    status: int  # app_queue's device status: 1 idle, 2 in use, 5 unavailable, 6 ringing, ...
    paused: bool
    pause_reason: str
    penalty: int
    in_call: bool


@dataclass(frozen=True)
class MemberRemoved:
    queue: str
    agent: str
    interface: str


@dataclass(frozen=True)
class AgiStarted:
    """A channel entered AGI(agi:async) and waits for commands."""

    channel: str
    uniqueid: str
    linkedid: str
    env: Mapping[str, str]  # agi_* variables, URL-decoded


@dataclass(frozen=True)
class AgiExecuted:
    """An AGI command finished; `result` is the raw result line, e.g. '200 result=1'."""

    channel: str
    uniqueid: str
    command_id: str
    result: str


@dataclass(frozen=True)
class AgiEnded:
    channel: str
    uniqueid: str


@dataclass(frozen=True)
class DigitPressed:
    channel: str
    uniqueid: str
    linkedid: str
    digit: str


@dataclass(frozen=True)
class ContactChanged:
    """An agent's softphone registered, unregistered or changed reachability (one contact)."""

    endpoint: str
    status: str  # Created | Removed | Reachable | Unreachable | Updated | NonQualified | Unknown
    uri: str


@dataclass(frozen=True)
class DeviceStateChanged:
    """A device's state (DeviceStateChange): what its phone is doing, whatever the call's kind."""

    device: str  # e.g. PJSIP/agent1
    state: str  # NOT_INUSE | INUSE | BUSY | RINGING | RINGINUSE | ONHOLD | UNAVAILABLE | INVALID | UNKNOWN


@dataclass(frozen=True)
class OriginateFinished:
    """The result of an asynchronous Originate (ours carry our own ActionID)."""

    action_id: str
    success: bool
    reason: int  # Asterisk's: 1 hung up, 3 ring timeout, 4 answered, 5 busy, 8 congestion, 0 failed
    uniqueid: str


@dataclass(frozen=True)
class TransferDone:
    """A transfer Asterisk carried out (BlindTransfer / AttendedTransfer events): from a phone's
    Transfer key (SIP REFER), its # / *2 key sequence, or the controller's AMI action.
    `kind` blind | attended | threeway; `transferer` the channel that transferred (its Uniqueid);
    `linkedids` every call the transfer touched (an attended transfer made on a phone joins the
    consultation call, another Linkedid, to the caller's); `target` the extension (blind) or the
    target channel (attended)."""

    kind: str
    ok: bool
    transferer: str
    transferer_channel: str
    linkedids: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class HoldMusic:
    """A channel started (`on`) or stopped hearing music on hold (MusicOnHoldStart/Stop): a
    caller waiting in a queue, or held by an agent (the phone's hold key, an attended transfer's
    consultation, the controller's hold)."""

    uniqueid: str
    linkedid: str
    on: bool


@dataclass(frozen=True)
class BridgeChanged:
    """A channel entered (`joined`) or left a bridge (BridgeEnter / BridgeLeave)."""

    bridge: str
    uniqueid: str
    linkedid: str
    joined: bool


@dataclass(frozen=True)
class SpyChanged:
    """A supervisor's channel started or stopped spying on another (ChanSpyStart / ChanSpyStop)."""

    spyer: str  # the supervisor's channel's Uniqueid
    spyee: str  # the spied channel's Uniqueid
    spyee_linkedid: str
    started: bool


def _transfer(h: Mapping[str, Any], kind: str) -> TransferDone:
    ok = h.get("Result", "") == "Success"
    if kind == "blind":
        return TransferDone("blind", ok, h.get("TransfererUniqueid", ""), h.get("TransfererChannel", ""),
                            tuple(dict.fromkeys(x for x in (h.get("TransfererLinkedid", ""),
                                                            h.get("TransfereeLinkedid", "")) if x)),
                            h.get("Extension", ""))
    if h.get("DestType", "") == "Threeway":
        kind = "threeway"
    linked = (h.get("OrigTransfererLinkedid", ""), h.get("TransfereeLinkedid", ""),
              h.get("SecondTransfererLinkedid", ""), h.get("TransferTargetLinkedid", ""))
    return TransferDone(kind, ok, h.get("OrigTransfererUniqueid", ""), h.get("OrigTransfererChannel", ""),
                        tuple(dict.fromkeys(x for x in linked if x)), h.get("TransferTargetChannel", ""))


@dataclass(frozen=True)
class SecurityFailure:
    """A failed SIP authentication or a request for an endpoint that does not exist."""

    kind: str  # ChallengeResponseFailed | InvalidPassword | InvalidAccountID
    address: str  # the source IP
    account: str  # the user name it tried


def _security(h: Mapping[str, Any]) -> SecurityFailure:
    # RemoteAddress: IPV4/UDP/203.0.113.9/5060 (IPV6/UDP/::1/5060)
    parts = str(h.get("RemoteAddress", "")).split("/")
    return SecurityFailure(str(h.get("Event", "")), parts[2].strip("[]") if len(parts) >= 4 else "",
                           str(h.get("AccountID", "")))


@dataclass(frozen=True)
class AsteriskBooted:
    pass


@dataclass(frozen=True)
class AsteriskShuttingDown:
    restart: bool


Event = (ChannelCreated | ChannelStateChanged | ChannelHungUp | HangupRequested | CallerJoinedQueue | CallerLeftQueue
         | CallerAbandonedQueue | AgentOffered | AgentConnected | AgentMissed | AgentCompleted | AgiStarted
         | AgiExecuted | AgiEnded | DigitPressed | ContactChanged | DeviceStateChanged | SecurityFailure | AsteriskBooted
         | AsteriskShuttingDown
         | MemberChanged | MemberRemoved | OriginateFinished | TransferDone | HoldMusic | BridgeChanged | SpyChanged)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_agi_env(raw: str) -> dict[str, str]:
    """AsyncAGIStart's Env header: URL-encoded 'agi_key: value' lines."""
    env = {}
    for line in unquote(raw).splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            env[key.strip()] = value.strip()
    return env


def caller_name(value: Any) -> str:
    """A caller's display name as they sent it. PJSIP keeps the SIP quoted-string's escapes
    (`"The \\"Big\\" Co"`, RFC 3261 25.1) and AMI escapes again (measured): both are undone."""
    return _unescape(caller_text(value))


def caller_text(value: Any) -> str:
    """A caller ID number or name as the caller sent it: Asterisk's AMI escapes quotes and
    backslashes (`O\\'Brien`) and writes `<unknown>` where nothing was sent (docs/asterisk.md#caller-id)."""
    text = str(value or "")
    if text in ("<unknown>", "unknown"):
        return ""
    return _unescape(text)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, escaped = [], False
    for c in text:
        if escaped or c != "\\":
            out.append(c)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _agent_name(h: Mapping[str, Any]) -> str:
    return h.get("MemberName") or h.get("Interface", "")


def _member(h: Mapping[str, Any]) -> MemberChanged:
    return MemberChanged(h.get("Queue", ""), _agent_name(h), h.get("Interface", ""), _int(h.get("Status")),
                         h.get("Paused", "0") == "1", h.get("PausedReason", "") or h.get("Reason", ""),
                         _int(h.get("Penalty")), h.get("InCall", "0") == "1")


_TRANSLATORS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "newchannel": lambda h: ChannelCreated(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), caller_text(h.get("CallerIDNum")),
        caller_name(h.get("CallerIDName")), h.get("Context", ""), h.get("Exten", ""), h.get("ChannelStateDesc", "")),
    "newstate": lambda h: ChannelStateChanged(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), h.get("ChannelStateDesc", "")),
    "hangup": lambda h: ChannelHungUp(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), _int(h.get("Cause")),
        h.get("Cause-txt", "")),
    "hanguprequest": lambda h: HangupRequested(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), _int(h.get("Cause")), False),
    "softhanguprequest": lambda h: HangupRequested(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), _int(h.get("Cause")), True),
    "queuecallerjoin": lambda h: CallerJoinedQueue(
        h.get("Queue", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), _int(h.get("Position")),
        caller_text(h.get("CallerIDNum"))),
    "queuememberstatus": lambda h: _member(h),
    "queuememberadded": lambda h: _member(h),
    "queuememberpause": lambda h: _member(h),
    "queuememberremoved": lambda h: MemberRemoved(h.get("Queue", ""), _agent_name(h), h.get("Interface", "")),
    "queuecallerleave": lambda h: CallerLeftQueue(h.get("Queue", ""), h.get("Uniqueid", ""), h.get("Linkedid", "")),
    "queuecallerabandon": lambda h: CallerAbandonedQueue(
        h.get("Queue", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), _int(h.get("HoldTime"))),
    "agentcalled": lambda h: AgentOffered(
        h.get("Queue", ""), _agent_name(h), h.get("Interface", ""), h.get("Linkedid", "")),
    "agentconnect": lambda h: AgentConnected(
        h.get("Queue", ""), _agent_name(h), h.get("Interface", ""), h.get("Linkedid", ""),
        _int(h.get("HoldTime")), _int(h.get("RingTime"))),
    "agentringnoanswer": lambda h: AgentMissed(
        h.get("Queue", ""), _agent_name(h), h.get("Interface", ""), h.get("Linkedid", ""), _int(h.get("RingTime"))),
    "agentcomplete": lambda h: AgentCompleted(
        h.get("Queue", ""), _agent_name(h), h.get("Linkedid", ""), _int(h.get("TalkTime")), h.get("Reason", ""),
        _int(h.get("HoldTime"))),
    "asyncagistart": lambda h: AgiStarted(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), parse_agi_env(h.get("Env", ""))),
    "asyncagiexec": lambda h: AgiExecuted(
        h.get("Channel", ""), h.get("Uniqueid", ""), h.get("CommandId") or h.get("CommandID", ""),
        unquote(h.get("Result", "")).strip()),
    "asyncagiend": lambda h: AgiEnded(h.get("Channel", ""), h.get("Uniqueid", "")),
    "dtmfend": lambda h: DigitPressed(h.get("Channel", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""),
                                      h.get("Digit", "")),
    "contactstatus": lambda h: ContactChanged(h.get("EndpointName") or h.get("AOR", ""), h.get("ContactStatus", ""),
                                              h.get("URI", "")),
    "devicestatechange": lambda h: DeviceStateChanged(h.get("Device", ""), h.get("State", "")),
    "challengeresponsefailed": _security,
    "invalidpassword": _security,
    "invalidaccountid": _security,
    "originateresponse": lambda h: OriginateFinished(h.get("ActionID", ""), h.get("Response", "") == "Success",
                                                     _int(h.get("Reason")), h.get("Uniqueid", "")),
    "blindtransfer": lambda h: _transfer(h, "blind"),
    "attendedtransfer": lambda h: _transfer(h, "attended"),
    "musiconholdstart": lambda h: HoldMusic(h.get("Uniqueid", ""), h.get("Linkedid", ""), True),
    "musiconholdstop": lambda h: HoldMusic(h.get("Uniqueid", ""), h.get("Linkedid", ""), False),
    "bridgeenter": lambda h: BridgeChanged(h.get("BridgeUniqueid", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""),
                                           True),
    "bridgeleave": lambda h: BridgeChanged(h.get("BridgeUniqueid", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""),
                                           False),
    "chanspystart": lambda h: SpyChanged(h.get("SpyerUniqueid", ""), h.get("SpyeeUniqueid", ""),
                                         h.get("SpyeeLinkedid", ""), True),
    "chanspystop": lambda h: SpyChanged(h.get("SpyerUniqueid", ""), h.get("SpyeeUniqueid", ""),
                                        h.get("SpyeeLinkedid", ""), False),
    "fullybooted": lambda h: AsteriskBooted(),
    "shutdown": lambda h: AsteriskShuttingDown(h.get("Restart", "False").lower() == "true"),
}


def translate(headers: Mapping[str, Any]) -> Event | None:
    """One raw AMI event → one domain event, or None if we do not use it.

    DTMF is only taken from the caller's direction (Received) so a digit counts once.
    """
    name = str(headers.get("Event", "")).lower()
    if name == "dtmfend" and headers.get("Direction", "Received") != "Received":
        return None
    translator = _TRANSLATORS.get(name)
    return translator(headers) if translator else None
