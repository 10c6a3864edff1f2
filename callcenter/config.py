"""The validated configuration of a callcenter: `callcenter.yaml` plus `CALLCENTER_*` overrides.

`Config` is composed of every feature's settings section (each declared and checked in the
feature's own `settings.py`); the loader (core/config.py) builds it with located errors. Layers,
lowest first: defaults in the settings dataclasses < the YAML file < `CALLCENTER_*` environment
variables (`CALLCENTER_SIP_PORT=15060`, `CALLCENTER_RUNTIME_DIR=...`). Everything is checked once,
at start (and at each live reload); every error names the file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from callcenter.asterisk import settings as asterisk_settings
from callcenter.asterisk.settings import AmiSettings, SecuritySettings, SipSettings, TrunkSettings
from callcenter.channels.chat import settings as chat_settings
from callcenter.channels.chat.settings import ChatSettings
from callcenter.channels.email import settings as email_settings
from callcenter.channels.email.settings import EmailSettings
from callcenter.channels.sms import settings as sms_settings
from callcenter.channels.sms.settings import SmsSettings
from callcenter.core import located_yaml
from callcenter.core.config import ConfigError, Locator, build, env_overrides, load_yaml
from callcenter.core.located_yaml import Located, YamlProblem
from callcenter.ivr import settings as ivr_settings
from callcenter.ivr.schedule import Schedule
from callcenter.ivr.settings import DidSettings, normalize_did
from callcenter.routing import settings as routing_settings
from callcenter.routing.settings import AgentSettings, QueueSettings, RoutingSettings, SupervisorSettings
from callcenter.tickets import settings as tickets_settings
from callcenter.tickets.settings import SlaSettings, StoreSettings
from callcenter.voicemail import settings as voicemail_settings
from callcenter.voicemail.settings import SpeechSettings
from callcenter.web import settings as web_settings
from callcenter.web.settings import ApiSettings
from callcenter.workspace import settings as workspace_settings
from callcenter.workspace.settings import WebSettings

__all__ = ["Config", "ConfigError", "load_config", "parse_config", "check_sounds", "CONTROLLER_FILE", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = "callcenter.yaml"
# Written by a running controller into its runtime folder: where its API listens (the CLI finds it
# there when callcenter.yaml does not validate).
CONTROLLER_FILE = "controller.json"
# Sections whose scalar keys CALLCENTER_<SECTION>_<KEY> may set.
ENV_SECTIONS = {"sip": SipSettings, "ami": AmiSettings, "api": ApiSettings, "store": StoreSettings}
_DUPLICATE_WORDS: dict[tuple[str, ...], str] = {("agents",): "agent", ("queues",): "queue", ("dids",): "DID"}


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration: one section per feature."""

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
    sla: SlaSettings = field(default_factory=SlaSettings)
    # Business calendars (name → the hours of an IVR `hours` node), named by queues' `calendar`.
    calendars: Mapping[str, Schedule] = field(default_factory=dict)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    dids: Mapping[str, DidSettings] = field(default_factory=dict)
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)
    agents: Mapping[str, AgentSettings] = field(default_factory=dict)
    supervisors: Mapping[str, SupervisorSettings] = field(default_factory=dict)  # their phones (monitoring)
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

    def work_queue(self, configured: str = "", to: str = "") -> str:
        """The queue whose agents work a text channel's new ticket (callcenter/inbox/): the channel's
        own `queue` setting, else the queue of the DID the message was sent to (`to`, an SMS's
        number), else the first queue of the file."""
        if configured:
            return configured
        did = self.did_for(to) if to else None
        if did is not None:
            return self.dids[did].queue
        return next(iter(self.queues), "")

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

    def error(self, path: tuple[str, ...], message: str, error_id: str) -> ConfigError:
        """A located error about this config, found after loading (e.g. a DID's flow is missing)."""
        loc = Located(self.source, dict(self.positions))
        line, col = loc.at(path)
        return ConfigError(message, file=self.source, line=line, column=col, key=".".join(path), error_id=error_id)


def _check(config: Config, loc: Locator) -> None:
    """Each feature checks its section; here only what spans sections."""
    for section in ("queues", "agents", "dids"):
        if not getattr(config, section):
            # An empty or truncated file must not log the call center out (an editor that truncates
            # before it writes): a config without agents, queues or DIDs is refused.
            raise loc.error((), f"missing required section '{section}' (at least one entry)", "missing-key")
    asterisk_settings.check_sip(config.sip, loc)
    asterisk_settings.check_ami(config.ami, loc)
    web_settings.check(config.api, loc)
    if config.ami.port == config.api.port:
        raise loc.error(("api", "port"), f"port {config.api.port} is the AMI port too: choose another",
                        "port-conflict")
    asterisk_settings.check_trunk(config.trunk, loc)
    asterisk_settings.check_security(config.security, loc)
    routing_settings.check_routing(config.routing, loc)
    tickets_settings.check(config.store, loc)
    tickets_settings.check_sla(config.sla, config.calendars, {n: q.calendar for n, q in config.queues.items()}, loc)
    voicemail_settings.check(config.speech, config.speech_model, loc)
    workspace_settings.check(config.web, loc)
    sms_settings.check(config.sms, loc)
    chat_settings.check(config.chat, list(config.queues), loc)
    email_settings.check(config.email, loc)
    routing_settings.check_queues(config.queues, loc)
    routing_settings.check_agents(config.agents, config.queues, loc, config.supervisors)
    ivr_settings.check(config.dids, config.queues, loc)
    for name, queue in config.queues.items():
        if queue.callback and not config.trunk.host:
            raise loc.error(("queues", name, "callback"), "callbacks go out through the trunk: set trunk.host",
                            "no-outbound-trunk")
    for section in ("sms", "email"):
        queue = getattr(config, section).queue
        if queue and queue not in config.queues:
            raise loc.error((section, "queue"), f"unknown queue '{queue}'", "unknown-queue")
    if config.trunk.name in config.agents:
        raise loc.error(("trunk", "name"), f"trunk name '{config.trunk.name}' is also an agent's", "duplicate-name")


def parse_config(text: str, *, file: str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Parse and validate configuration text. Raises ConfigError naming file, line and key."""
    data, loc = load_yaml(text, file, _DUPLICATE_WORDS)
    if not isinstance(data, dict):
        raise loc.error((), "the top level must be a mapping of sections", "wrong-type")
    env = os.environ if env is None else env
    if "CALLCENTER_RUNTIME_DIR" in env:
        data = {**data, "runtime_dir": env["CALLCENTER_RUNTIME_DIR"]}
    data = env_overrides(data, env, ENV_SECTIONS)
    tickets_settings.refuse_moved(data, loc)
    # Calendars are the IVR's schedules (its parser, its errors), not dataclasses of the loader.
    calendars = tickets_settings.parse_calendars(data.pop("calendars", None), loc)
    config: Config = build(Config, data, (), loc, skip=("source", "positions", "calendars"))
    base = base_dir or Path.cwd()
    config = dataclasses.replace(config, source=file, runtime_dir=(base / config.runtime_dir).resolve(),
                                 ivr_flows=(base / config.ivr_flows).resolve(), positions=loc.marks,
                                 calendars=calendars)
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
