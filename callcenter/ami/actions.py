"""Every AMI action the controller sends, built and checked here, and their replies, typed.

AMI is a line protocol (`Header: value` lines, an empty line ends the action): a value holding a
CR or LF would become extra headers, or a whole second action run with the controller's rights
(`command`, `originate`). So nothing outside `ami/` writes an AMI dict: features call these
builders, and every value that may come from outside (pause reasons, names, caller IDs, AGI
arguments, variables) goes through `text()`, which refuses control characters and bounds the
length with the error id `invalid-text` *before* anything is stored or sent
(docs/design.md#13; docs/asterisk.md#ami-line-protocol).

Replies come back as `Reply` (one response) or as the typed rows of an event list
(`QueueStatus`, `LiveChannel`, `ContactRow`, `DeviceRow`); nothing outside `ami/` reads a
panoramisk message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Mapping, TypeVar

from callcenter.ami.events import caller_name, caller_text
from callcenter.core.errors import Refused
from callcenter.core.text import first_control

# Bounds (characters; and bytes where Asterisk counts bytes). A longer pause reason would be cut by
# app_queue (mid-character, measured on 22.10) while we kept the whole: memory and Asterisk would
# disagree, so it is refused. Every value stays well inside one AMI line (manager.c: 1,024 bytes).
MAX_REASON = 79  # app_queue keeps a member's pause reason in char[80] (app_queue.c): 79 bytes
MAX_NAME = 80
MAX_VALUE = 512
MAX_AGI_COMMAND = 900
# Asterisk reads an AMI line into a 1,024-byte buffer (main/manager.c, get_input): longer lines
# fail the whole action. No value may take more than this many UTF-8 bytes.
MAX_VALUE_BYTES = 960


class InvalidText(Refused):
    """A value that cannot go into Asterisk as it is (control characters, too long, empty)."""

    def __init__(self, what: str, value: str, problem: str) -> None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        super().__init__("invalid-text", f"{what} {shown!r} {problem}", {"field": what, "problem": problem})


def text(value: Any, what: str, max_length: int = MAX_VALUE, *, empty: bool = True,
         max_bytes: int = 0) -> str:
    """`value` as a string fit for one AMI header value, or InvalidText (error id `invalid-text`).

    Refused: anything but a str; any character below U+0020 (CR, LF, TAB, NUL, ...) and DEL
    (U+007F), and the Unicode line/paragraph separators; lone surrogates; more than `max_length`
    characters, or MAX_VALUE_BYTES (or `max_bytes`) UTF-8 bytes; an empty value when `empty` is False.
    """
    if not isinstance(value, str):
        raise InvalidText(what, repr(value), "must be text")
    bad = first_control(value)  # the one policy (core/text.py); lone surrogates are refused below
    if bad is not None and not 0xD800 <= ord(bad) <= 0xDFFF:
        raise InvalidText(what, value, f"holds a control character (U+{ord(bad):04X}); line breaks and "
                          "control characters are not allowed")
    if len(value) > max_length:
        raise InvalidText(what, value, f"is {len(value)} characters long; at most {max_length} are allowed")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800" decodes to one)
        raise InvalidText(what, value, "is not valid Unicode text") from None
    if size > MAX_VALUE_BYTES:
        raise InvalidText(what, value, f"takes {size} bytes in UTF-8; at most {MAX_VALUE_BYTES} fit in one AMI line")
    if max_bytes and size > max_bytes:
        raise InvalidText(what, value, f"takes {size} bytes in UTF-8; Asterisk keeps at most {max_bytes}")
    if not empty and not value.strip():
        raise InvalidText(what, value, "is empty")
    return value


R = TypeVar("R")


@dataclass(frozen=True)
class Reply:
    """One AMI response: `ok` (Response: Success), Asterisk's `message`, and every header."""

    ok: bool
    message: str
    headers: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)


def _headers(message: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(message).items()}


def reply_of(raw: Any) -> Reply:
    first = raw[0] if isinstance(raw, list) else raw
    return Reply(str(getattr(first, "response", "") or first.get("Response", "")) == "Success",
                 str(getattr(first, "message", "") or first.get("Message", "")), _headers(first))


def rows_of(raw: Any, event: str) -> list[dict[str, str]]:
    """The items of an event list reply whose Event is `event`."""
    items = raw if isinstance(raw, list) else [raw]
    return [_headers(m) for m in items if str(m.get("Event", "")) == event]


@dataclass(frozen=True)
class Action(Generic[R]):
    """An AMI action ready to send: its headers (values already checked) and how to read the reply.

    `as_list` tells the client to collect an event list (None: decide by `EventList: start`);
    `check`: an `Error` response raises AmiActionFailed; `timeout` overrides the client's default.
    """

    fields: Mapping[str, Any]
    parse: Callable[[Any], R]
    as_list: bool | None = None
    check: bool = True
    timeout: float | None = None

    @property
    def name(self) -> str:
        return str(self.fields["Action"])


def _simple(name: str, check: bool = True, timeout: float | None = None, **fields: Any) -> Action[Reply]:
    return Action({"Action": name, **fields}, reply_of, check=check, timeout=timeout)


def plain(name: str, fields: Mapping[str, str]) -> Action[Reply]:
    """An action of already-checked `fields` (values through `text()`), answered by one response."""
    return Action({"Action": name, **fields}, reply_of)


# -- connection ---------------------------------------------------------------------------------

def login(username: str, secret: str) -> Action[Reply]:
    return _simple("Login", check=False, Username=text(username, "AMI username", MAX_NAME),
                   Secret=text(secret, "AMI secret", MAX_NAME), Events="on")


def ping() -> Action[Reply]:
    return _simple("Ping")


def logoff() -> Action[Reply]:
    return _simple("Logoff", check=False)


# -- system ---------------------------------------------------------------------------------------

# The CLI commands the controller runs; anything else is refused (Command runs with full rights).
COMMANDS = frozenset({"core waitfullybooted", "module reload res_pjsip.so", "queue reload parameters",
                      "dialplan reload", "module reload acl"})


def command(cli: str, timeout: float | None = None) -> Action[Reply]:
    if cli not in COMMANDS:
        raise InvalidText("Asterisk command", cli, "is not one the controller runs")
    return _simple("Command", timeout=timeout, Command=cli)


@dataclass(frozen=True)
class CoreInfo:
    version: str
    startup: str  # "YYYY-MM-DD HH:MM:SS", Asterisk's local time
    current_calls: int


def core_settings() -> Action[Reply]:
    return _simple("CoreSettings")


def core_status() -> Action[Reply]:
    return _simple("CoreStatus")


def db_put(family: str, key: str, value: str) -> Action[Reply]:
    return _simple("DBPut", Family=text(family, "AstDB family", MAX_NAME, empty=False),
                   Key=text(key, "AstDB key", MAX_NAME, empty=False), Val=text(value, "AstDB value"))


def db_del(family: str, key: str, timeout: float | None = None) -> Action[Reply]:
    return _simple("DBDel", check=False, timeout=timeout, Family=text(family, "AstDB family", MAX_NAME),
                   Key=text(key, "AstDB key", MAX_NAME))


# -- channels ------------------------------------------------------------------------------------

def setvar(channel: str, variable: str, value: str) -> Action[Reply]:
    return _simple("Setvar", Channel=text(channel, "channel", MAX_NAME, empty=False),
                   Variable=text(variable, "variable name", MAX_NAME, empty=False),
                   Value=text(value, f"value of {variable}"))


def agi(channel: str, agi_command: str, command_id: str) -> Action[Reply]:
    """One AsyncAGI command (its result comes later as AsyncAGIExec with our CommandID)."""
    return Action({"Action": "AGI", "Channel": text(channel, "channel", MAX_NAME, empty=False),
                   "Command": text(agi_command, "AGI command", MAX_AGI_COMMAND, empty=False),
                   "CommandID": text(command_id, "AGI command id", MAX_NAME)}, reply_of, as_list=False)


def originate(*, action_id: str, channel: str, context: str, exten: str, caller_id: str,
              variables: Mapping[str, str], timeout_ms: int = 30000, other_id: str = "") -> Action[Reply]:
    """An asynchronous Originate whose channel gets `action_id` as its uniqueid (result: the
    OriginateResponse event carrying our ActionID); `other_id`: the uniqueid of a Local channel's ;2."""
    ids = {"OtherChannelId": text(other_id, "action id", MAX_NAME)} if other_id else {}
    return Action({"Action": "Originate", "ActionID": text(action_id, "action id", MAX_NAME, empty=False),
                   "ChannelId": action_id, **ids, "Channel": text(channel, "channel", MAX_NAME, empty=False),
                   "Context": text(context, "context", MAX_NAME, empty=False),
                   "Exten": text(exten, "extension", MAX_NAME, empty=False), "Priority": "1",
                   "Timeout": str(int(timeout_ms)), "Async": "true",
                   "CallerID": text(caller_id, "caller ID", MAX_NAME),
                   "Variable": [f"{text(k, 'variable name', MAX_NAME, empty=False)}={text(v, f'value of {k}')}"
                                for k, v in variables.items()]}, reply_of)


@dataclass(frozen=True)
class LiveChannel:
    """A channel as Asterisk lists it (CoreShowChannel), for resync."""

    channel: str
    uniqueid: str
    linkedid: str
    caller_id: str
    caller_name: str
    context: str
    exten: str
    state: str
    duration: int  # seconds
    application: str
    application_data: str
    bridge_id: str = ""
    connected_num: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)  # asked for with `status(...)`


def _seconds(hms: str) -> int:
    """'01:02:03' → 3723."""
    total = 0
    for part in str(hms).split(":"):
        try:
            total = total * 60 + int(part or 0)
        except ValueError:
            return 0
    return total


def _channels(raw: Any) -> list[LiveChannel]:
    return [LiveChannel(channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""), linkedid=m.get("Linkedid", ""),
                        caller_id=caller_text(m.get("CallerIDNum")), caller_name=caller_name(m.get("CallerIDName")),
                        context=m.get("Context", ""), exten=m.get("Exten", ""), state=m.get("ChannelStateDesc", ""),
                        duration=_seconds(m.get("Duration", "0")), application=m.get("Application", ""),
                        application_data=m.get("ApplicationData", ""), bridge_id=m.get("BridgeId", ""),
                        connected_num=m.get("ConnectedLineNum", ""))
            for m in rows_of(raw, "CoreShowChannel")]


def core_show_channels() -> Action[list[LiveChannel]]:
    return Action({"Action": "CoreShowChannels"}, _channels, as_list=True, timeout=10)


def _variables(raw: Any) -> dict[str, dict[str, str]]:
    """Status events → uniqueid → {variable: value}."""
    out: dict[str, dict[str, str]] = {}
    items = raw if isinstance(raw, list) else [raw]
    for m in items:
        if str(m.get("Event", "")) != "Status":
            continue
        values: dict[str, str] = {}
        for key, value in dict(m).items():
            # Asterisk sends `Variable: NAME=value`; panoramisk folds repeated headers into a list.
            for item in value if isinstance(value, list) else [value]:
                if str(key) == "Variable" and "=" in str(item):
                    name, _, val = str(item).partition("=")
                    values[name] = "" if val == "(null)" else val  # how Status shows an unset variable
        out[str(m.get("Uniqueid", ""))] = values
    return out


def channel_variables(*names: str) -> Action[dict[str, dict[str, str]]]:
    """`Status` with `Variables`: the named channel variables of every channel, by uniqueid."""
    joined = text(",".join(text(n, "variable name", MAX_NAME) for n in names), "variable names")
    return Action({"Action": "Status", "Variables": joined}, _variables, as_list=True, timeout=10)


# -- queues --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueMemberRow:
    queue: str
    agent: str  # MemberName (we add members named after the agent)
    interface: str
    penalty: int
    status: int  # app_queue's device status: 1 not in use, 2 in use, 5 unavailable, 6 ringing, ...
    paused: bool
    pause_reason: str
    in_call: bool


@dataclass(frozen=True)
class QueueEntryRow:
    queue: str
    uniqueid: str
    linkedid: str
    caller_id: str
    position: int
    wait: int  # seconds the caller has waited


@dataclass(frozen=True)
class QueueStatus:
    members: list[QueueMemberRow]
    entries: list[QueueEntryRow]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _queue_status(raw: Any) -> QueueStatus:
    members = [QueueMemberRow(m.get("Queue", ""), m.get("Name") or m.get("MemberName", ""),
                              m.get("Location") or m.get("Interface", ""), _int(m.get("Penalty")),
                              _int(m.get("Status")), m.get("Paused", "0") == "1",
                              m.get("PausedReason", ""), m.get("InCall", "0") == "1")
               for m in rows_of(raw, "QueueMember")]
    entries = [QueueEntryRow(m.get("Queue", ""), m.get("Uniqueid", ""), m.get("Linkedid", ""),
                             caller_text(m.get("CallerIDNum")), _int(m.get("Position")), _int(m.get("Wait")))
               for m in rows_of(raw, "QueueEntry")]
    return QueueStatus(members, entries)


def queue_status() -> Action[QueueStatus]:
    return Action({"Action": "QueueStatus"}, _queue_status, as_list=True, timeout=10)


def queue_add(queue: str, interface: str, *, member_name: str, penalty: int, paused: bool,
              reason: str) -> Action[Reply]:
    """Add a dynamic member (an `Error` "Already there" is left to the caller: check=False)."""
    return _simple("QueueAdd", check=False, Queue=text(queue, "queue", MAX_NAME, empty=False),
                   Interface=text(interface, "interface", MAX_NAME, empty=False), Penalty=str(int(penalty)),
                   MemberName=text(member_name, "member name", MAX_NAME), StateInterface=interface,
                   Paused="true" if paused else "false", Reason=pause_reason(reason))


def pause_reason(reason: Any, *, empty: bool = True) -> str:
    """A pause reason as app_queue keeps it: text, at most MAX_REASON characters and UTF-8 bytes."""
    return text(reason, "pause reason", MAX_REASON, empty=empty, max_bytes=MAX_REASON)


def queue_remove(queue: str, interface: str) -> Action[Reply]:
    return _simple("QueueRemove", check=False, Queue=text(queue, "queue", MAX_NAME, empty=False),
                   Interface=text(interface, "interface", MAX_NAME, empty=False))


def queue_penalty(queue: str, interface: str, penalty: int) -> Action[Reply]:
    return _simple("QueuePenalty", Queue=text(queue, "queue", MAX_NAME, empty=False),
                   Interface=text(interface, "interface", MAX_NAME, empty=False), Penalty=str(int(penalty)))


def queue_pause(interface: str, paused: bool, reason: str = "", queue: str = "") -> Action[Reply]:
    fields = {"Interface": text(interface, "interface", MAX_NAME, empty=False),
              "Paused": "true" if paused else "false", "Reason": pause_reason(reason)}
    if queue:
        fields["Queue"] = text(queue, "queue", MAX_NAME)
    return plain("QueuePause", fields)


def mixmonitor_mute(channel: str, muted: bool) -> Action[Reply]:
    """Mute (silence) or unmute both directions of a channel's MixMonitor recording (Asterisk's
    MixMonitorMute action): the file keeps running, with silence while muted."""
    return plain("MixMonitorMute", {"Channel": text(channel, "channel", MAX_NAME, empty=False),
                                      "Direction": "both", "State": "1" if muted else "0"})


# -- devices and registrations --------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceRow:
    device: str  # e.g. PJSIP/agent1
    state: str  # NOT_INUSE | INUSE | BUSY | RINGING | RINGINUSE | ONHOLD | UNAVAILABLE | INVALID | UNKNOWN


def _devices(raw: Any) -> list[DeviceRow]:
    return [DeviceRow(m.get("Device", ""), m.get("State", "")) for m in rows_of(raw, "DeviceStateChange")]


def device_state_list() -> Action[list[DeviceRow]]:
    return Action({"Action": "DeviceStateList"}, _devices, as_list=True, timeout=10)


@dataclass(frozen=True)
class ContactRow:
    endpoint: str
    aor: str
    uri: str
    status: str  # Reachable | Unreachable | Unknown | NonQualified | Created ...


def _contacts(raw: Any) -> list[ContactRow]:
    # ContactList has no Aor field: the AOR is the part of ObjectName before ";@" (measured, 22.10).
    return [ContactRow(m.get("Endpoint", ""), m.get("ObjectName", "").partition(";@")[0],
                       m.get("Uri", ""), m.get("Status", ""))
            for m in rows_of(raw, "ContactList")]


def pjsip_show_contacts() -> Action[list[ContactRow]]:
    # No contact at all is answered `Response: Error / Message: No Contacts found`: an empty list.
    return Action({"Action": "PJSIPShowContacts"}, _contacts, as_list=True, check=False, timeout=10)


def unchecked(fields: Mapping[str, Any], as_list: bool | None = None, timeout: float | None = None) -> Action[Any]:
    """An action from raw headers, unchecked, answered with the raw reply: only for the tests' and
    benches' own observer connections (the controller never uses it)."""
    return Action(dict(fields), lambda raw: raw, as_list=as_list, check=False, timeout=timeout)
