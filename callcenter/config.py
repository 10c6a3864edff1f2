"""The validated configuration of a callcenter: `callcenter.yaml` plus `CALLCENTER_*` overrides.

Layers, lowest first: defaults in the dataclasses below < the YAML file < `CALLCENTER_*`
environment variables (`CALLCENTER_SIP_PORT=15060`, `CALLCENTER_RUNTIME_DIR=...`) < CLI flags.
Everything is checked once, at start; every error names the file, the line and the key, so an
admin fixes it without guessing (`callcenter.yaml:31:5: agents.agent1: duplicate agent ...`).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import ipaddress
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from callcenter.core import located_yaml
from callcenter.core.errors import CallcenterError
from callcenter.core.located_yaml import KeyPath, Located, YamlProblem

DEFAULT_CONFIG = "callcenter.yaml"
MAX_STRING = 200  # characters, any string value
MAX_INT = 1_000_000  # any integer value (ports, seconds, counts): nothing sensible is larger
# Written by a running controller into its runtime folder: where its API listens (the CLI finds it
# there when callcenter.yaml does not validate).
CONTROLLER_FILE = "controller.json"

# All of app_queue's strategies (Asterisk 22 queues.conf).
QUEUE_STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom")


class ConfigError(CallcenterError):
    """A configuration problem, located as precisely as we can: file, line, column and key."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, column: int = 0, key: str = "",
                 error_id: str = "invalid-config") -> None:
        self.file, self.line, self.column, self.key = file, line, column, key
        super().__init__(error_id, message, {"file": file, "line": line, "column": column, "key": key})

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line:
            where += f":{self.line}:{self.column}"
        key = f" {self.key}:" if self.key else ""
        return _one_line(f"{where}:{key} {self.message}")


def _one_line(text: str) -> str:
    """Control characters from the file shown escaped (\\n, \\x00): an error stays one line."""
    return "".join(c if ord(c) >= 0x20 and c not in "\x7f\x85\u2028\u2029" else repr(c)[1:-1] for c in text)


# ----------------------------------------------------------------------------------------------
# The schema. Field names are the YAML keys; defaults are the embedded demo defaults.


@dataclass(frozen=True)
class SipSettings:
    """Where Asterisk's PJSIP listens (UDP) and which ports its RTP uses."""

    bind: str = "127.0.0.1"
    port: int = 5060
    rtp_ports: str = "10000-10999"
    # Seconds between OPTIONS pings to each agent's phone (0: off). A phone that stops answering
    # is shown `unreachable` and app_queue stops offering it calls (notes/FACTS.md, measured).
    qualify_frequency: int = 10

    @property
    def rtp_range(self) -> tuple[int, int]:
        low, _, high = self.rtp_ports.partition("-")
        return int(low), int(high)


@dataclass(frozen=True)
class AmiSettings:
    """Asterisk's manager interface; the controller is its only client. The secret is generated."""

    bind: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    record: str = ""  # a file to append the raw AMI stream to (test fixtures, debugging)


@dataclass(frozen=True)
class ApiSettings:
    """The controller's REST API (and, later, the web pages)."""

    bind: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class TrunkSettings:
    """The carrier trunk: identified by source address, no credentials (as carriers do)."""

    name: str = "carrier"
    match: tuple[str, ...] = ("127.0.0.1",)
    host: str = ""  # where calls out go (host:port), for transfers to external numbers; empty: none


@dataclass(frozen=True)
class DidSettings:
    """A number callers dial: the IVR flow that answers it.

    `greeting` then `queue` is the dialplan's fallback when the controller is away (and the whole
    route when no `flow` is given).
    """

    queue: str
    flow: str = ""
    name: str = ""
    greeting: str = "hello-world"


@dataclass(frozen=True)
class QueueSettings:
    """An app_queue queue."""

    strategy: str = "ringall"
    ring_timeout: int = 15  # seconds an agent's phone rings before the next try
    retry: int = 2  # seconds between tries
    wrapup: int = 0  # seconds after a call before the agent is offered the next one
    music: str = "default"  # music on hold class
    weight: int = 0  # an agent in several queues is offered the heavier queue's callers first
    announce_position: bool = False  # tell waiting callers their position, every 30 s
    announce_holdtime: bool = False  # ... and the expected wait
    join_empty: bool = True  # callers may join while no agent is logged in
    leave_when_empty: bool = False  # callers are sent on when the last agent logs out
    skill: str = ""  # agents with this skill get a penalty from their level (10 - level)
    callback: bool = False  # waiting callers may press * to hang up, keep their place and be called back
    record: bool = False  # answered calls are recorded (MixMonitor, WAV) and linked to the interaction


@dataclass(frozen=True)
class AgentSettings:
    """An agent: a PJSIP endpoint of the same name, reachable at its extension."""

    extension: str
    full_name: str = ""
    queues: tuple[str, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)  # skill → level 1 (basic) .. 10 (expert)


@dataclass(frozen=True)
class SecuritySettings:
    """SIP brute force (callcenter/asterisk/sip_guard.py): failures per source address before a ban."""

    ban_threshold: int = 10  # failed authentications / unknown endpoints within the window (0: never ban)
    ban_window: int = 60  # seconds
    ban_seconds: int = 600
    exempt: tuple[str, ...] = ("127.0.0.1", "::1")  # addresses or networks never banned


@dataclass(frozen=True)
class RoutingSettings:
    """How agents are handled across queues."""

    auto_pause_after: int = 2  # missed offers in a row before an agent is paused (0: never)
    service_level_seconds: int = 20  # answered within this many seconds counts for the service level
    callback_attempts: int = 3  # tries to call a customer back before the request is recorded as failed
    callback_retry_seconds: int = 60  # between those tries


@dataclass(frozen=True)
class SlaSettings:
    """Minutes from a ticket's creation to its first response and to its resolution."""

    first_response: int
    resolution: int


@dataclass(frozen=True)
class StoreSettings:
    """The ticket store (callcenter/tickets/). `url` empty: a SQLite file in the runtime folder;
    CALLCENTER_STORE_URL overrides it (`postgresql+asyncpg://user:pw@127.0.0.1/db`)."""

    url: str = ""
    default_region: str = "US"  # ISO 3166 region for caller IDs written without a country code
    reopen_days: int = 7  # a contact joins the customer's ticket on the same topic touched this recently
    sla: Mapping[str, SlaSettings] = field(default_factory=dict)  # "normal" or "voicemail/normal" → targets
    retention_days: Mapping[str, int] = field(default_factory=dict)  # recordings | transcripts | bodies (0: keep)


@dataclass(frozen=True)
class SpeechSettings:
    """Voicemail transcription (callcenter/voicemail/). `model` empty: the installed default
    (Whisper base, /opt/callcenter/models/whisper-base, or $CALLCENTER_MODELS)."""

    engine: str = "faster-whisper"
    model: str = ""  # a model folder; relative to this file
    language: str = "auto"  # auto-detect, or an ISO 639-1 code: en, zh, ...
    threads: int = 2  # CPU threads per transcription
    workers: int = 1  # transcription processes (each holds a model: ~350 MB)
    attempts: int = 3  # tries of a voicemail before it is recorded as failed
    max_seconds: int = 600  # audio past this is not transcribed (the transcript says truncated)


@dataclass(frozen=True)
class WebSettings:
    """The agent workspace and the wallboard (docs/web.md)."""

    pause_reasons: tuple[str, ...] = ("break", "lunch", "training", "meeting", "after-call work")
    wrapup_codes: tuple[str, ...] = ("resolved", "follow-up needed", "escalated", "information given", "wrong number")
    session_idle_minutes: int = 480  # a browser session idle this long must log in again
    service_level_target: float = 0.8  # the share of calls answered within routing.service_level_seconds
    service_level_abandoned: str = "exclude"  # exclude | count: abandoned calls count as missed in the service level


@dataclass(frozen=True)
class SmsSettings:
    """SMS (callcenter/channels/): inbound by webhook, replies through the provider."""

    provider: str = "dev"  # dev (keeps replies on the ticket, sends nothing) | twilio
    public_url: str = ""  # the URL the provider posts to (its signature covers it); "" = this API's (api.bind/port)
    from_number: str = ""  # our number, E.164 (twilio)
    twilio_account_sid: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    topic: str = "general"  # the ticket topic SMS join
    missed_call_text: str = ""  # an SMS to callers who gave up (off when empty); e.g. "Sorry we missed you: reply here"


@dataclass(frozen=True)
class EmailSettings:
    """Email into tickets (callcenter/channels/email/intake.py): the SMTP receiver."""

    enabled: bool = True
    smtp_bind: str = "127.0.0.1"
    smtp_port: int = 2525
    max_bytes: int = 10 * 1024 * 1024  # a larger message is refused in the SMTP session (552)
    max_attachment_bytes: int = 5 * 1024 * 1024  # a larger attachment is listed, not kept
    topic: str = "general"
    from_address: str = "support@callcenter.localhost"  # our address on replies (its domain names Message-IDs)
    relay_host: str = ""  # the SMTP relay replies go through; "" = kept on the ticket, nothing sent (local setup)
    relay_port: int = 25
    auto_ack: bool = False  # answer a new ticket's first mail with its number (never to automatic mail)
    # A mailbox polled over IMAP too ("" = none); its password: $CALLCENTER_IMAP_PASSWORD or imap_password in
    # the runtime folder's secrets.yaml.
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: str = "tls"  # tls (IMAPS) | none (plain IMAP: only to 127.0.0.1)
    imap_user: str = ""
    imap_mailbox: str = "INBOX"
    imap_poll_seconds: int = 60


@dataclass(frozen=True)
class ChatSettings:
    """Web chat (channels/chatdesk.py, web/chat.py; README: Web chat on the same tickets)."""

    enabled: bool = True
    queue: str = ""  # the queue a widget without data-queue joins ("" = the first queue in `queues`)
    allowed_origins: tuple[str, ...] = ()  # sites that may embed the widget (scheme://host[:port]); this server always
    max_per_agent: int = 3  # chats an agent holds at once
    max_while_on_call: int = 1  # ... while their phone rings or is on a call (0: no chat during calls)
    topic: str = ""  # the ticket topic chats join ("" = the chat's queue, as calls take their DID's queue)
    max_text: int = 2000  # characters per message
    max_attachment_bytes: int = 5 * 1024 * 1024
    agent_grace_seconds: int = 60  # an agent's chats wait this long for their page to come back, then are requeued
    idle_end_minutes: int = 30  # a chat with no message and no visitor page this long is ended
    canned_replies: Mapping[str, str] = field(default_factory=dict)  # key → text, offered in the agent's reply box
    # Visitors' WebSockets per address: opened per minute and open at once (messages: 6x per minute).
    # Raise it when many visitors share one address (a company's NAT, a proxy in front).
    connections_per_address: int = 30


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration."""

    source: str = DEFAULT_CONFIG
    runtime_dir: Path = Path("var")
    ivr_flows: Path = Path("ivr_flows")
    sip: SipSettings = field(default_factory=SipSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    trunk: TrunkSettings = field(default_factory=TrunkSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    dids: Mapping[str, DidSettings] = field(default_factory=dict)
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)
    agents: Mapping[str, AgentSettings] = field(default_factory=dict)
    # Where each key was written (key path → line, column), for errors found after loading.
    positions: Mapping[tuple[str, ...], tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sms_public_url(self) -> str:
        """The URL SMS webhooks are signed for: `sms.public_url`, else this API's own address."""
        host = "127.0.0.1" if self.api.bind in ("0.0.0.0", "::") else self.api.bind
        host = f"[{host}]" if ":" in host else host
        return (self.sms.public_url or f"http://{host}:{self.api.port}").rstrip("/")

    def did_for(self, dialed: str) -> str | None:
        """The configured DID a dialed number means, or None. Carriers send the same number as
        `8005550100`, `+8005550100` or `008005550100`; DIDs are written in callcenter.yaml with or
        without `+`. One normalization, used by the dialplan's routing and the controller alike."""
        digits = normalize_did(dialed)
        for number in self.dids:
            if normalize_did(number) == digits:
                return number
        return None

    @property
    def speech_model(self) -> Path | None:
        """The model folder config `speech.model` names (relative to this file), or None: the default."""
        if not self.speech.model:
            return None
        return (Path(self.source).resolve().parent / self.speech.model).resolve()

    @property
    def store_url(self) -> str:
        """The store's SQLAlchemy URL (store.url, or the SQLite file in the runtime folder)."""
        return self.store.url or f"sqlite+aiosqlite:///{self.runtime_dir / 'callcenter.db'}"

    def error(self, path: tuple[str, ...], message: str, error_id: str) -> "ConfigError":
        """A located error about this config, found after loading (e.g. a DID's flow is missing)."""
        loc = Located(self.source, dict(self.positions))
        line, col = loc.at(path)
        return ConfigError(message, file=self.source, line=line, column=col, key=".".join(path), error_id=error_id)


# ----------------------------------------------------------------------------------------------
# Located errors.

Path_ = KeyPath
_DUPLICATE_WORDS: dict[tuple[str, ...], str] = {("agents",): "agent", ("queues",): "queue", ("dids",): "DID"}


class _Located(Located):
    def error(self, path: Path_, message: str, error_id: str = "invalid-config") -> ConfigError:
        line, col = self.at(path)
        return ConfigError(message, file=self.file, line=line, column=col, key=".".join(path), error_id=error_id)


def _load_yaml(text: str, file: str) -> tuple[Any, _Located]:
    try:
        data, loc = located_yaml.load(text, file, _DUPLICATE_WORDS)
    except YamlProblem as p:
        raise ConfigError(p.message, file=p.file, line=p.line, column=p.column, key=p.key,
                          error_id=p.error_id) from None
    return data, _Located(loc.file, loc.marks)


# ----------------------------------------------------------------------------------------------
# Building the dataclasses from plain data, with located errors.


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if typing.get_origin(tp) is tuple:
        return "a list"
    if typing.get_origin(tp) in (collections.abc.Mapping, dict) or dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _coerce(tp: Any, value: Any, path: Path_, loc: _Located) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, loc)
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if isinstance(value, (str, int)):  # a single value where a list is expected
            value = [value]
        if not isinstance(value, list):
            raise loc.error(path, f"must be {_type_name(tp)}, not {type(value).__name__}", "wrong-type")
        return tuple(_coerce(item_tp, v, path + (str(i),), loc) for i, v in enumerate(value))
    if origin in (collections.abc.Mapping, dict):
        _, value_tp = typing.get_args(tp)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise loc.error(path, f"must be a mapping, not {type(value).__name__}", "wrong-type")
        return {str(k): _coerce(value_tp, v, path + (str(k),), loc) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str):
            raise loc.error(path, "must be a path (a string)", "wrong-type")
        return Path(value)
    if tp is str:
        # Numbers are fine where a string is expected (an extension written as 1001).
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise loc.error(path, f"must be a string, not {type(value).__name__}", "wrong-type")
        text = str(value)
        # Strings end up in Asterisk's config files, one value per line: a line break would write
        # a section or dialplan line of its own.
        bad = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7F or c in "\u2028\u2029\x85"), None)
        if bad is not None:
            raise loc.error(path, f"control character U+{ord(bad):04X} in {text[:40]!r}: not allowed", "bad-value")
        if len(text) > MAX_STRING:
            raise loc.error(path, f"{len(text)} characters; at most {MAX_STRING}", "bad-value")
        return text
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise loc.error(path, f"must be a number, not {type(value).__name__}", "wrong-type")
        return float(value)
    if tp is int or tp is bool:
        if type(value) is not tp:
            raise loc.error(path, f"must be {_type_name(tp)}, not {type(value).__name__} {value!r}", "wrong-type")
        if tp is int and abs(value) > MAX_INT:
            raise loc.error(path, f"{value} is out of range (at most {MAX_INT:,})", "bad-value")
        return value
    raise TypeError(f"unsupported config type {tp}")  # a programming error, not a user one


def _build(cls: Any, data: Any, path: Path_, loc: _Located) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise loc.error(path, f"must be a mapping, not {type(data).__name__}", "wrong-type")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("source", "positions")}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise loc.error(path + (key,), f"unknown key '{key}' (known keys: {known})", "unknown-key")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], path + (name,), loc)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise loc.error(path, f"missing required key '{name}'", "missing-key")
    return cls(**kwargs)


# ----------------------------------------------------------------------------------------------
# Environment overrides and cross-checks.


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply CALLCENTER_<SECTION>_<KEY> (scalar keys of sections) and CALLCENTER_RUNTIME_DIR."""
    data = dict(data)
    if "CALLCENTER_RUNTIME_DIR" in env:
        data["runtime_dir"] = env["CALLCENTER_RUNTIME_DIR"]
    for section, cls in (("sip", SipSettings), ("ami", AmiSettings), ("api", ApiSettings), ("store", StoreSettings)):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] not in (str, int, float):
                continue  # only scalar keys come from the environment
            var = f"CALLCENTER_{section.upper()}_{f.name.upper()}"
            if var in env:
                raw = env[var]
                tp = hints[f.name]
                try:
                    value: Any = tp(raw) if tp in (int, float) else raw
                except ValueError:
                    raise ConfigError(f"{var}={raw!r} must be {_type_name(tp)}", key=f"{section}.{f.name}",
                                      file="environment", error_id="wrong-type") from None
                data[section] = {**(data.get(section) or {}), f.name: value}
    return data


# Checked with fullmatch: `$` would let a trailing newline through.
_EXTENSION = re.compile(r"[0-9]{2,8}")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_DID = re.compile(r"\+?[0-9]{3,20}")
# A display name (caller ID name, DID name): no quote, angle bracket, semicolon (a comment in
# Asterisk's config) or backslash.
_DISPLAY = re.compile(r'[^";<>\\]{0,80}')
# A sound or music class name: Asterisk's own names, relative, no "..".
_SOUND = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*")


def normalize_did(number: str) -> str:
    """'+8005550100', '008005550100', '800-555-0100' → '8005550100' (the digits a DID is matched on)."""
    digits = "".join(c for c in str(number) if c.isdigit())
    return digits[2:] if str(number).strip().startswith("00") else digits


def _ip(value: str, network: bool = False) -> bool:
    try:
        if network:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


SPEECH_ENGINES = ("faster-whisper", "vosk")
STORE_PRIORITIES = ("low", "normal", "high", "urgent")
STORE_CHANNELS = ("voice", "voicemail", "chat", "sms", "email")
RETENTION_KINDS = ("recordings", "transcripts", "bodies")


def _check_store(store: StoreSettings, loc: _Located) -> None:
    from callcenter.tickets import db
    from callcenter.tickets import identity  # the store package owns SQLAlchemy and phonenumbers
    if store.url:
        try:
            db.parse_url(store.url, key="")
        except db.StoreError as exc:
            raise loc.error(("store", "url"), f"{exc.message} (set in the file or CALLCENTER_STORE_URL)",
                            exc.error_id) from None
    if not identity.known_region(store.default_region):
        raise loc.error(("store", "default_region"), f"'{store.default_region}' is not an ISO 3166 region code "
                        "known to phonenumbers (e.g. US, GB, CN, DE)", "bad-value")
    if not 0 <= store.reopen_days <= 3650:
        raise loc.error(("store", "reopen_days"), f"reopen_days {store.reopen_days} must be 0 to 3650", "bad-value")
    for key, target in store.sla.items():
        channel, _, priority = key.rpartition("/")
        if priority not in STORE_PRIORITIES or channel and channel not in STORE_CHANNELS:
            raise loc.error(("store", "sla", key), f"'{key}' must be a priority ({', '.join(STORE_PRIORITIES)}) or "
                            f"channel/priority (channels: {', '.join(STORE_CHANNELS)})", "bad-value")
        for name, value in (("first_response", target.first_response), ("resolution", target.resolution)):
            if not 1 <= value <= 525_600:
                raise loc.error(("store", "sla", key, name), f"{name} {value} must be 1 to 525600 minutes",
                                "bad-value")
    for key, days in store.retention_days.items():
        if key not in RETENTION_KINDS:
            raise loc.error(("store", "retention_days", key), f"unknown data type '{key}' (one of: "
                            f"{', '.join(RETENTION_KINDS)})", "unknown-key")
        if not 0 <= days <= 36500:
            raise loc.error(("store", "retention_days", key), f"{days} days must be 0 (keep) to 36500", "bad-value")


def _check_web(web: WebSettings, loc: _Located) -> None:
    for key in ("pause_reasons", "wrapup_codes"):
        values = getattr(web, key)
        if not values:
            raise loc.error(("web", key), f"{key} must list at least one", "bad-value")
        for i, value in enumerate(values):
            # A pause reason goes to app_queue (char[80], issue 7's finding): 79 bytes at most.
            if not value.strip() or len(value.encode()) > 79:
                raise loc.error(("web", key, str(i)), f"{value[:40]!r} must be 1 to 79 bytes", "bad-value")
        if len(set(values)) != len(values):
            raise loc.error(("web", key), f"{key} lists a value twice", "bad-value")
    if not 1 <= web.session_idle_minutes <= 60 * 24 * 30:
        raise loc.error(("web", "session_idle_minutes"), "session_idle_minutes must be 1 to 43200", "bad-value")
    if not 0 < web.service_level_target <= 1:
        raise loc.error(("web", "service_level_target"), "service_level_target must be more than 0, at most 1 "
                        "(0.8 = 80 %)", "bad-value")
    if web.service_level_abandoned not in ("exclude", "count"):
        raise loc.error(("web", "service_level_abandoned"), "service_level_abandoned must be exclude or count",
                        "bad-value")


def _check_sms(sms: SmsSettings, loc: _Located) -> None:
    if sms.provider not in ("dev", "twilio"):
        raise loc.error(("sms", "provider"), f"unknown provider '{sms.provider}' (dev, twilio)", "bad-value")
    for key in ("public_url", "twilio_api_url"):
        value = getattr(sms, key)
        if key == "public_url" and not value:
            continue
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise loc.error(("sms", key), f"'{value[:60]}' is not an http(s) URL", "bad-value")
    if sms.provider == "twilio" and not (re.fullmatch(r"\+[1-9][0-9]{6,14}", sms.from_number)
                                         and re.fullmatch(r"AC[0-9a-f]{32}", sms.twilio_account_sid)):
        raise loc.error(("sms",), "the twilio provider needs from_number (E.164, +...) and twilio_account_sid "
                        "(AC + 32 hex digits)", "missing-key")


def _check_imap(email: EmailSettings, loc: _Located) -> None:
    if not email.imap_host:
        return
    if email.imap_tls not in ("tls", "none"):
        raise loc.error(("email", "imap_tls"), f"imap_tls '{email.imap_tls}' must be tls or none", "bad-value")
    if email.imap_tls == "none" and email.imap_host not in ("127.0.0.1", "::1", "localhost"):
        raise loc.error(("email", "imap_tls"), "a password in clear text over the network: imap_tls none only "
                        "for a server on 127.0.0.1", "bad-value")
    if not email.imap_user:
        raise loc.error(("email", "imap_user"), "imap_host needs imap_user (the password: "
                        "$CALLCENTER_IMAP_PASSWORD or imap_password in secrets.yaml)", "missing-key")
    if not 1 <= email.imap_port <= 65535:
        raise loc.error(("email", "imap_port"), f"port {email.imap_port} is out of range 1-65535", "bad-port")
    if not 5 <= email.imap_poll_seconds <= 86400:
        raise loc.error(("email", "imap_poll_seconds"), "imap_poll_seconds must be 5 to 86400", "bad-value")
    if not email.imap_mailbox.strip() or any(ord(c) < 0x20 or c == '"' for c in email.imap_mailbox):
        raise loc.error(("email", "imap_mailbox"), "a mailbox name without control characters or quotes",
                        "bad-value")


def _check_chat(config: Config, loc: _Located) -> None:
    chat = config.chat
    if chat.queue and chat.queue not in config.queues:
        raise loc.error(("chat", "queue"), f"unknown queue '{chat.queue}' (known: {', '.join(config.queues)})",
                        "unknown-queue")
    for i, origin in enumerate(chat.allowed_origins):
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise loc.error(("chat", "allowed_origins", str(i)), f"'{origin[:60]}' is not an origin "
                            "(scheme://host[:port], no path)", "bad-value")
    for key, value, low, high in (("max_per_agent", chat.max_per_agent, 1, 50),
                                  ("max_while_on_call", chat.max_while_on_call, 0, 50),
                                  ("max_text", chat.max_text, 1, 20_000),
                                  ("max_attachment_bytes", chat.max_attachment_bytes, 1, 50 << 20),
                                  ("agent_grace_seconds", chat.agent_grace_seconds, 0, 3600),
                                  ("idle_end_minutes", chat.idle_end_minutes, 1, 24 * 60),
                                  ("connections_per_address", chat.connections_per_address, 1, 100_000)):
        if not low <= value <= high:
            raise loc.error(("chat", key), f"{key} {value} must be {low} to {high}", "bad-value")
    for key, text in chat.canned_replies.items():
        if not key.strip() or len(key) > 64 or not text.strip() or len(text) > chat.max_text:
            raise loc.error(("chat", "canned_replies", key), f"canned reply {key[:40]!r}: a key of 1 to 64 "
                            f"characters and a text of 1 to {chat.max_text}", "bad-value")


def _speech_languages() -> frozenset[str]:
    from callcenter.voicemail.whisper import languages  # imports faster-whisper: only when a language is set
    return languages()


def _check(config: Config, loc: _Located) -> None:
    """Checks that span keys: references, uniqueness, ranges, addresses, names that are rendered."""
    for section in ("queues", "agents", "dids"):
        if not getattr(config, section):
            # An empty or truncated file must not log the call center out (an editor that truncates
            # before it writes): a config without agents, queues or DIDs is refused.
            raise loc.error((), f"missing required section '{section}' (at least one entry)", "missing-key")
    for section, settings in (("sip", config.sip), ("ami", config.ami), ("api", config.api)):
        if not 1 <= settings.port <= 65535:
            raise loc.error((section, "port"), f"port {settings.port} is out of range 1-65535", "bad-port")
        if not _ip(settings.bind):
            raise loc.error((section, "bind"), f"'{settings.bind}' is not an IP address", "bad-address")
    if config.ami.port == config.api.port:
        raise loc.error(("api", "port"), f"port {config.api.port} is the AMI port too: choose another",
                        "port-conflict")
    for i, match in enumerate(config.trunk.match):
        if not _ip(match, network=True):
            raise loc.error(("trunk", "match", str(i)), f"'{match}' is not an IP address or network", "bad-address")
    if not _NAME.fullmatch(config.trunk.name):
        raise loc.error(("trunk", "name"), f"trunk name '{config.trunk.name}' must be lower-case letters, digits, "
                        "- or _", "bad-name")
    for key, fvalue, lo, hi in (("action_timeout", config.ami.action_timeout, 0.1, 600.0),
                                ("ping_interval", config.ami.ping_interval, 0.1, 600.0)):
        if not lo <= fvalue <= hi:
            raise loc.error(("ami", key), f"{key} {fvalue:g} must be {lo:g} to {hi:g} s", "bad-value")
    for i, net in enumerate(config.security.exempt):
        if not _ip(net, network=True):
            raise loc.error(("security", "exempt", str(i)), f"'{net}' is not an IP address or network", "bad-address")
    for key, value, low in (("ban_threshold", config.security.ban_threshold, 0),
                            ("ban_window", config.security.ban_window, 1),
                            ("ban_seconds", config.security.ban_seconds, 1)):
        if value < low:
            raise loc.error(("security", key), f"{key} {value} must be at least {low}", "bad-value")
    for key, value, low, high in (("auto_pause_after", config.routing.auto_pause_after, 0, 100),
                                  ("service_level_seconds", config.routing.service_level_seconds, 1, 3600),
                                  ("callback_attempts", config.routing.callback_attempts, 1, 20),
                                  ("callback_retry_seconds", config.routing.callback_retry_seconds, 1, 86400)):
        if not low <= value <= high:
            raise loc.error(("routing", key), f"{key} {value} must be {low} to {high}", "bad-value")
    _check_store(config.store, loc)
    if config.speech.engine not in SPEECH_ENGINES:
        raise loc.error(("speech", "engine"), f"unknown engine '{config.speech.engine}' (engines: "
                        f"{', '.join(SPEECH_ENGINES)})", "bad-value")
    if config.speech.language != "auto" and config.speech.language not in _speech_languages():
        raise loc.error(("speech", "language"), f"'{config.speech.language}' is not auto or a language code Whisper "
                        "knows (en, zh, de, ...)", "bad-value")
    if config.speech_model is not None and not config.speech_model.is_dir():
        raise loc.error(("speech", "model"), f"no model folder '{config.speech.model}' (relative to this file)",
                        "no-model")
    for key, value, high in (("threads", config.speech.threads, 64), ("workers", config.speech.workers, 16),
                             ("attempts", config.speech.attempts, 20), ("max_seconds", config.speech.max_seconds, 7200)):
        if not 1 <= value <= high:
            raise loc.error(("speech", key), f"{key} {value} must be 1 to {high}", "bad-value")
    _check_web(config.web, loc)
    _check_sms(config.sms, loc)
    _check_chat(config, loc)
    _check_imap(config.email, loc)
    if not _ip(config.email.smtp_bind):
        raise loc.error(("email", "smtp_bind"), f"'{config.email.smtp_bind}' is not an IP address", "bad-address")
    if not 1 <= config.email.smtp_port <= 65535:
        raise loc.error(("email", "smtp_port"), f"port {config.email.smtp_port} is out of range 1-65535", "bad-port")
    for key in ("max_bytes", "max_attachment_bytes"):
        if not 1024 <= getattr(config.email, key) <= 1 << 30:
            raise loc.error(("email", key), f"{key} must be 1024 to 1073741824 bytes", "bad-value")
    if not 0 <= config.sip.qualify_frequency <= 3600:
        raise loc.error(("sip", "qualify_frequency"), f"qualify_frequency {config.sip.qualify_frequency} must be "
                        "0 (off) to 3600 seconds", "bad-value")
    m = re.fullmatch(r"(\d+)-(\d+)", config.sip.rtp_ports)
    if not m or not (1024 <= int(m[1]) < int(m[2]) <= 65535):
        raise loc.error(("sip", "rtp_ports"), f"'{config.sip.rtp_ports}' must be LOW-HIGH within 1024-65535",
                        "bad-port")
    for name, queue in config.queues.items():
        if not _NAME.fullmatch(name):
            raise loc.error(("queues", name), f"queue name '{name}' must be lower-case letters, digits, - or _",
                            "bad-name")
        for key, value, low, high in (("ring_timeout", queue.ring_timeout, 1, 600), ("retry", queue.retry, 0, 600),
                                      ("wrapup", queue.wrapup, 0, 3600), ("weight", queue.weight, 0, 1000)):
            if not low <= value <= high:
                raise loc.error(("queues", name, key), f"{key} {value} must be {low} to {high}", "bad-value")
        if not _SOUND.fullmatch(queue.music):
            raise loc.error(("queues", name, "music"), f"'{queue.music}' is not a music class name", "bad-value")
        if queue.strategy not in QUEUE_STRATEGIES:
            raise loc.error(("queues", name, "strategy"),
                            f"unknown strategy '{queue.strategy}' (one of: {', '.join(QUEUE_STRATEGIES)})",
                            "unknown-strategy")
    extensions: dict[str, str] = {}
    for name, agent in config.agents.items():
        if not _NAME.fullmatch(name):
            raise loc.error(("agents", name), f"agent name '{name}' must be lower-case letters, digits, - or _",
                            "bad-name")
        if not _DISPLAY.fullmatch(agent.full_name):
            raise loc.error(("agents", name, "full_name"), "a name may not hold quotes, < >, ; or \\ and is at most "
                            "80 characters", "bad-value")
        if not _EXTENSION.fullmatch(agent.extension):
            raise loc.error(("agents", name, "extension"), f"extension '{agent.extension}' must be 2-8 digits",
                            "bad-extension")
        if agent.extension in extensions:
            raise loc.error(("agents", name, "extension"),
                            f"extension {agent.extension} is already agent '{extensions[agent.extension]}'s",
                            "duplicate-extension")
        extensions[agent.extension] = name
        for i, member_of in enumerate(agent.queues):
            if member_of not in config.queues:
                raise loc.error(("agents", name, "queues", str(i)), f"unknown queue '{member_of}'", "unknown-queue")
        for skill, level in agent.skills.items():
            if not 1 <= level <= 10:
                raise loc.error(("agents", name, "skills", skill), f"skill level {level} must be 1 to 10", "bad-level")
    seen_dids: dict[str, str] = {}
    for number, did in config.dids.items():
        if normalize_did(number) in seen_dids:
            raise loc.error(("dids", number), f"DID {number} is DID {seen_dids[normalize_did(number)]} again "
                            "(+ and 00 prefixes are the same number)", "duplicate-did")
        seen_dids[normalize_did(number)] = number
        if not _DID.fullmatch(number):
            raise loc.error(("dids", number), f"DID '{number}' must be digits (optionally with a leading +)",
                            "bad-did")
        if not _DISPLAY.fullmatch(did.name):
            raise loc.error(("dids", number, "name"), "a name may not hold quotes, < >, ; or \\ and is at most 80 "
                            "characters", "bad-value")
        if not _SOUND.fullmatch(did.greeting):
            raise loc.error(("dids", number, "greeting"), f"'{did.greeting}' is not a sound name (e.g. hello-world)",
                            "unknown-sound")
        if did.queue not in config.queues:
            raise loc.error(("dids", number, "queue"), f"unknown queue '{did.queue}'", "unknown-queue")
    if config.trunk.host and not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", config.trunk.host):
        raise loc.error(("trunk", "host"), f"'{config.trunk.host}' must be host or host:port", "bad-value")
    for name, queue in config.queues.items():
        if queue.callback and not config.trunk.host:
            raise loc.error(("queues", name, "callback"), "callbacks go out through the trunk: set trunk.host",
                            "no-outbound-trunk")
    if config.trunk.name in config.agents:
        raise loc.error(("trunk", "name"), f"trunk name '{config.trunk.name}' is also an agent's", "duplicate-name")


def parse_config(text: str, *, file: str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Parse and validate configuration text. Raises ConfigError naming file, line and key."""
    data, loc = _load_yaml(text, file)
    if not isinstance(data, dict):
        raise loc.error((), "the top level must be a mapping of sections", "wrong-type")
    data = _env_overrides(data, os.environ if env is None else env)
    config: Config = _build(Config, data, (), loc)
    base = base_dir or Path.cwd()
    config = dataclasses.replace(config, source=file, runtime_dir=(base / config.runtime_dir).resolve(),
                                 ivr_flows=(base / config.ivr_flows).resolve(), positions=loc.marks)
    _check(config, loc)
    if config.store.url:
        from callcenter.tickets import db as store_db  # a relative SQLite file sits beside this file, like runtime_dir
        config = dataclasses.replace(config, store=dataclasses.replace(config.store,
                                                                       url=store_db.anchored(config.store.url, base)))
    return config


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config file (CALLCENTER_CONFIG, or ./callcenter.yaml). A relative runtime_dir is
    taken relative to the file's folder, so the CLI finds the same runtime folder from anywhere."""
    env = os.environ if env is None else env
    file = Path(path or env.get("CALLCENTER_CONFIG") or DEFAULT_CONFIG)
    if not file.exists():
        raise ConfigError("configuration file not found (point at it with --config FILE or CALLCENTER_CONFIG)",
                          file=str(file), error_id="config-not-found")
    try:
        text = located_yaml.read_text(file)
    except YamlProblem as p:
        error_id = "config-unreadable" if p.error_id == "unreadable" else p.error_id
        raise ConfigError(p.message, file=p.file, line=p.line, column=p.column, error_id=error_id) from None
    return parse_config(text, file=str(file), env=env, base_dir=file.resolve().parent)



def check_sounds(config: Config, sound_exists: typing.Callable[[str, str], bool]) -> None:
    """Every DID's greeting must be a sound this Asterisk has (`sound_exists(name, language)`).
    Raises ConfigError `unknown-sound` located at the DID's greeting."""
    for number, did in config.dids.items():
        if not sound_exists(did.greeting, "en"):
            raise config.error(("dids", number, "greeting"), f"no sound '{did.greeting}' in this Asterisk",
                               "unknown-sound")
