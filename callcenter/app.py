"""Wiring: build everything from the config, start it in order, stop it in reverse.

`build()` wires the contact center's parts around one AMI client and one bus (docs/design.md#10):
the pump feeds the trackers and publishes; IVR sessions, the callback dialer, auto-pause
and liveness are subscribers. Unit tests call `build()` with a fake AMI client and clock.

`run()` is what `make run` / `callcenter run` does: secrets, rendered Asterisk config, our own
Asterisk (or the one a killed controller left running), the AMI connection, the built parts, the
REST API. It restarts Asterisk if Asterisk dies. Only SIGINT/SIGTERM stop Asterisk: if the
controller itself dies, Asterisk keeps the calls (callers take the dialplan fallback), the reason
goes to the log, and the process exits non-zero; the next start adopts that Asterisk (docs/design.md#11).
No module-level engines or singletons: everything is built here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence, TextIO

from callcenter.core import events as ev
from callcenter.ami import actions
from callcenter.ami.client import AmiClient, AmiError, AmiLoginRefused, AmiUnavailable
from callcenter.ami.port import AmiPort
from callcenter.ami.events import SecurityFailure
from callcenter.asterisk.install import AsteriskInstall, find_asterisk
from callcenter.asterisk.process import AsteriskProcess, AsteriskStartError, check_port_free
from callcenter.asterisk.render import InstanceDirs, render
from callcenter.core.bus import Bus
from callcenter.calls.recording import Recordings
from callcenter.calls.tracker import CallTracker
from callcenter.config import CONTROLLER_FILE, Config, ConfigError, check_sounds, load_config
from callcenter.core.credentials import Credentials
from callcenter.core.errors import CallcenterError
from callcenter.ivr import sessions as ivr_sessions
from callcenter.ivr.flows import FlowLibrary, Needed, flow_context
from callcenter.ivr.prompts import PromptSynth, sound_finder
from callcenter.ivr.runner import VoicemailBox
from callcenter.ivr.sessions import IvrSessions
from callcenter.ivr.validate import Context
from callcenter.asterisk.liveness import Liveness
from callcenter.asterisk import liveness as liveness_mod
from callcenter.core.pump import Pump
from callcenter.readmodel import ReadModel
from callcenter.routing import dialer as dialer_mod
from callcenter.routing.callbacks import CallbackBook, CallbackRequest
from callcenter.routing.callbacks import read_file as read_callbacks_file
from callcenter.routing.queues import DOCUMENT as ROUTING_DOCUMENT
from callcenter.routing.queues import QueueControl
from callcenter.routing.dialer import CallbackDialer
from callcenter.routing.presence import Presence
from callcenter.asterisk.sip_guard import Bouncer, Guard
from callcenter.voicemail.worker import TranscriptionWorker
from callcenter.tickets import TicketCore, policy as store_policy
from callcenter.tickets import db as store_db
from callcenter.tickets import calls as store_calls
from callcenter.core.keeper import Keeper
from callcenter.tickets.reconcile import CdrReconciler
from callcenter.channels.sms.missed_call import missed_call_sms
from callcenter.channels.chat.desk import ChatDesk
from callcenter.channels.email.imap import ImapPoller
from callcenter.channels.email.intake import MailIntake
from callcenter.channels.email.intake import serve as serve_mail
from callcenter.channels.sms.provider import DevSms, SmsProvider, TwilioSms
from callcenter.tickets.accounts import Accounts
from callcenter.tickets.messages import Messages
from callcenter.workspace import live as live_mod
from callcenter.web.server import make_app, start_api
from callcenter.workspace.live import LiveHub
from callcenter.workspace.routes import sync_logins

log = logging.getLogger("callcenter")

BOOT_TIMEOUT = 30.0


def setup_logging(config: Config, verbose: bool = False) -> None:
    config.runtime_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(config.runtime_dir / "controller.log")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


async def wait_until_booted(asterisk: AsteriskProcess, ami: AmiClient, timeout: float = BOOT_TIMEOUT) -> None:
    """Log in to AMI as soon as Asterisk opens it, then wait for it to be fully booted.

    Asterisk dying meanwhile, or never opening AMI, is reported with its log tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not asterisk.alive():
            raise AsteriskStartError(f"Asterisk stopped while starting ({asterisk.exit_status()})", asterisk.log_tail())
        try:
            await ami.connect()
            break
        except AmiLoginRefused:
            raise
        except AmiUnavailable:
            if time.monotonic() > deadline:
                raise AsteriskStartError(f"Asterisk did not open its AMI port within {timeout:g} s",
                                         asterisk.log_tail()) from None
            await asyncio.sleep(0.1)
    await ami.send(actions.command("core waitfullybooted"), timeout=timeout)


def banner(config: Config, creds: Credentials, install: AsteriskInstall, asterisk: AsteriskProcess,
           dirs: InstanceDirs, ready_in: float, adopted: bool) -> str:
    sip = f"{config.sip.bind}:{config.sip.port}"
    lines = [
        f"callcenter is running ({install.version.split('+')[0]}, pid {asterisk.pid}"
        f"{', adopted' if adopted else ''}; ready in {ready_in:.1f} s)",
        f"  SIP (UDP)  {sip}    RTP {config.sip.rtp_ports}",
    ]
    for number, did in config.dids.items():
        route = f"flow {did.flow}" if did.flow else f"greeting, then queue {did.queue}"
        lines.append(f"  hotline    sip:{number}@{sip}  ({did.name or number}: {route})")
    lines += [
        f"  AMI        {config.ami.bind}:{config.ami.port}  (user {config.ami.username}, controller only)",
        f"  REST API   http://{config.api.bind}:{config.api.port}/api/status  "
        f"(token: {Credentials.path(config.runtime_dir)})",
        f"  web        http://{config.api.bind}:{config.api.port}/ (agents: their name and web_password from "
        f"`callcenter agent credentials`), /wallboard (supervisors; first admin: `admin`, web_admin_password in "
        f"secrets.yaml)",
        f"  email      smtp://{config.email.smtp_bind}:{config.email.smtp_port} (mail to any address lands on "
        f"tickets)" if config.email.enabled else "  email      off (email.enabled)",
        f"  chat       http://{config.api.bind}:{config.api.port}/chat/demo.html (the widget: "
        f"<script src=\"http://{config.api.bind}:{config.api.port}/chat/widget.js\" async>)" if config.chat.enabled
        else "  chat       off (chat.enabled)",
        f"  agents     register at sip:{sip} (UDP) with these demo credentials:",
    ]
    for name, agent in config.agents.items():
        lines.append(f"    {name:<8} ext {agent.extension:<6} password {creds.agent_passwords[name]}  "
                     f"queues: {', '.join(agent.queues) or '-'}")
    lines += [
        f"  logs       {config.runtime_dir / 'controller.log'}, {dirs.messages_log}",
        "Press Ctrl-C to stop (Asterisk stops too).",
    ]
    return "\n".join(lines)


class FlowsInvalid(CallcenterError):
    def __init__(self, problems: list) -> None:
        super().__init__("invalid-flows", "the IVR flows have errors; nothing started:\n" +
                         "\n".join(f"  {p}" for p in problems), {"errors": [str(p) for p in problems]})


def flow_library(config: Config, install: AsteriskInstall, dirs: InstanceDirs) -> FlowLibrary:
    """The flows of config.ivr_flows."""
    context, required = flow_context(config, install)
    return FlowLibrary(config.ivr_flows, context, required, PromptSynth(dirs.tts, install.inner, install.uid,
                                                                         install.gid))


class FaultySubscriberError(RuntimeError):
    """Raised on purpose by the `subscriber` fault (CALLCENTER_FAULTS), to test the crash policy."""


@dataclass
class Callcenter:
    """The built parts. `run()` runs them until cancelled; `apply_config()` takes a reloaded config."""

    config: Config
    ami: AmiPort
    bus: Bus
    tracker: CallTracker
    presence: Presence
    queue_control: QueueControl
    callbacks: CallbackBook
    dialer: CallbackDialer
    sessions: IvrSessions
    liveness: Liveness
    pump: Pump
    view: ReadModel
    flows: FlowLibrary | None
    guard: Guard
    bouncer: Bouncer
    recordings: Recordings
    store: TicketCore | None = None
    writer: store_calls.CallWriter | None = None
    keepers: tuple[Keeper, ...] = ()  # the store's writers of routing state and callback requests
    transcriber: TranscriptionWorker | None = None
    accounts: Accounts | None = None  # web users and sessions (in the store)
    live: LiveHub | None = None  # the pages' WebSockets
    messages: Messages | None = None  # SMS and email in the store (chat: store/chats.py, through `chat`)
    sms: SmsProvider = field(default_factory=DevSms)  # where SMS replies go (run() picks it from the config)
    intake: MailIntake | None = None  # the SMTP receiver's mail handling (run() starts it)
    chat: ChatDesk | None = None  # web chats (the widget's visitors and the agents)
    imap: ImapPoller | None = None  # a mailbox polled into the same intake (email.imap_host; run() starts it)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for coro, name in ((self.bus.run(), "bus"), (self.sessions.run(), "ivr sessions"),
                               (self.liveness.run(), "liveness"), (self.dialer.run(), "callback dialer"),
                               (self.bouncer.run(), "sip guard"),
                               (self.pump.run(), "pump")):
                tasks.create_task(coro, name=name)
            for keeper in self.keepers:
                tasks.create_task(keeper.run(), name=keeper.name)
            if self.transcriber is not None:
                tasks.create_task(self.transcriber.run(), name="transcription")
            if self.live is not None:
                tasks.create_task(self.live.run(), name="web live")
            if self.chat is not None:
                tasks.create_task(self._chat(self.chat), name="chat desk")
            if self.imap is not None:
                tasks.create_task(self.imap.run(), name="imap poller")

    async def _chat(self, desk: ChatDesk) -> None:
        await desk.load()  # the chats a previous run left open
        await desk.run()

    async def apply_config(self, config: Config, context: Context, required_flows: dict[str, str | Needed]) -> None:
        """Take an edited configuration (already validated and loaded into Asterisk)."""
        self.config = config
        self.sessions.apply_config(config)
        self.dialer.config = config
        self.presence.update(config.agents, config.queues, {q: s.wrapup for q, s in config.queues.items()},
                             {q: s.ring_timeout for q, s in config.queues.items()})
        self.queue_control.apply_config(config)
        await self.queue_control.flush()
        await self.queue_control.restore()
        if self.flows is not None:
            self.flows.context, self.flows.required = context, required_flows
            await asyncio.to_thread(self.flows.reload)


async def _no_bans(banned: list[str]) -> None:
    """Without an Asterisk of our own to configure (unit tests), bans are only counted."""


def build(config: Config, *, ami: AmiPort, clock: Callable[[], float] = time.time,
          flows: FlowLibrary | None = None, mailbox: VoicemailBox | None = None,
          faults: frozenset[str] = frozenset(),
          apply_bans: Callable[[list[str]], Awaitable[None]] | None = None,
          store: TicketCore | None = None, recordings_dir: Path | None = None, cdr_file: Path | None = None,
          callback_requests: Sequence[CallbackRequest] = (), routing_document: str | None = None) -> Callcenter:
    """Wire every part around `ami` and one bus. `faults` (tests only; CALLCENTER_FAULTS) adds
    a subscriber that raises on every event (`subscriber`). `apply_bans(addresses)` makes
    Asterisk refuse SIP from banned addresses (run() renders them into pjsip.conf). `store` (an
    opened TicketCore) makes every call an interaction on its customer's ticket. `recordings_dir` is
    where Asterisk's MixMonitor writes queue calls (the instance's spool/monitor); `cdr_file` is
    Asterisk's CDR file, read after each resync for calls that ended unseen. With a store, queue
    callback requests and the routing state are kept in it (`callback_requests`, `routing_document`:
    what it holds); without, in <runtime>/callbacks.json and routing.json."""
    bus = Bus()
    tracker = CallTracker()
    presence = Presence(config.agents, config.queues, wrapup={q: s.wrapup for q, s in config.queues.items()},
                        ring_timeout={q: s.ring_timeout for q, s in config.queues.items()},
                        auto_pause_after=config.routing.auto_pause_after,
                        service_level_seconds=config.routing.service_level_seconds)
    routing_keeper = Keeper("routing state", store.routing_state.save_document) if store is not None else None
    queue_control = QueueControl(config, ami, config.runtime_dir / "routing.json", keeper=routing_keeper,
                                 stored=routing_document)
    callback_keeper = Keeper("callback requests", store.routing_state.save_callback) if store is not None else None
    book = CallbackBook(None if callback_keeper else config.runtime_dir / "callbacks.json",
                        config.routing.callback_attempts, config.routing.callback_retry_seconds,
                        keeper=callback_keeper, requests=callback_requests)
    dialer = CallbackDialer(config, ami, bus, book, presence, queue_control, tracker, clock)
    sessions = IvrSessions(config, ami, bus, tracker, flows=flows,
                           mailbox=mailbox or VoicemailBox(config.runtime_dir / "voicemail", str),
                           callbacks=dialer, clock=clock,
                           customer_facts=store.customers.facts if store is not None else None)
    # queue_control always holds the config in force (apply_config hands it the reloaded one).
    liveness = Liveness(ami, bus, tracker, presence, queue_control, sessions, dialer,
                        agents=lambda: list(queue_control.config.agents), clock=clock)
    pump = Pump(ami.events, bus, (tracker, presence), presence, clock, event_time=lambda: ami.event_time)
    guard = Guard(config.security)
    bouncer = Bouncer(guard, apply_bans or _no_bans, clock)

    async def auto_pause(event: ev.AutoPauseDecided) -> None:
        log.warning("agent %s: %s; pausing", event.agent, event.reason)
        await queue_control.pause(event.agent, event.reason)

    # Inline first: the calls are driven in stream order.
    bus.subscribe("liveness", liveness.on_event, *liveness_mod.EVENTS)
    bus.subscribe("ivr", sessions.on_event, *ivr_sessions.EVENTS)
    bus.subscribe("callback dialer", dialer.on_event, *dialer_mod.EVENTS)
    bus.subscribe("sip guard", bouncer.on_event, SecurityFailure)
    bus.subscribe_queued("auto-pause", auto_pause, ev.AutoPauseDecided, on_full="wait")
    recordings = Recordings(ami, tracker, lambda: queue_control.config, recordings_dir)
    writer = None
    transcriber = None
    if store is not None:
        writer = store_calls.CallWriter(store, lambda did: store_calls.topic(queue_control.config.dids, did),
                                        recording_of=recordings.path_of)
        if cdr_file is not None:
            # The controller's own calls (live, or seen to their end) are the writer's; the CDR
            # fills in only what it did not see.
            reconciler = CdrReconciler(writer, cdr_file, agents=lambda: list(queue_control.config.agents),
                                       live=lambda: {c.call_id for c in tracker.active() + tracker.recent()})
            writer.after_resync = reconciler.run_once
        transcriber = TranscriptionWorker(store, bus.publish, clock, engine=config.speech.engine,
                                          model=config.speech_model, threads=config.speech.threads,
                                          workers=config.speech.workers, attempts=config.speech.attempts,
                                          max_seconds=config.speech.max_seconds)
        writer.transcription_language, writer.after_voicemail = config.speech.language, transcriber.wake
        # "wait": the store never loses a step; its queue is deep enough for bursts of calls.
        bus.subscribe_queued("store", writer.on_event, *store_calls.EVENTS, on_full="wait", maxsize=10_000)
    if "subscriber" in faults:
        def faulty(event: Any) -> None:
            raise FaultySubscriberError(f"fault injected on {type(event).__name__}")

        async def faulty_queued(event: Any) -> None:
            raise FaultySubscriberError(f"fault injected on {type(event).__name__}")

        bus.subscribe("fault: inline", faulty)
        bus.subscribe_queued("fault: queued", faulty_queued, on_full="drop")
    view = ReadModel(lambda: queue_control.config, ami, bus, tracker, presence, queue_control, book, sessions,
                     liveness, flows, clock, store=store,
                     extra=lambda: {"pump": {"events": pump.events, "tracker_errors": pump.tracker_errors},
                                    "security": guard.describe(clock())})
    accounts = store.accounts if store is not None else None
    live = LiveHub(lambda: queue_control.config, view, tracker, presence, store,
                   accounts.today if accounts is not None else None, clock)
    bus.subscribe("web", live.on_event, *live_mod.EVENTS)
    desk = None
    if store is not None:
        def agent_state(name: str) -> tuple[bool, bool]:
            agent = presence.agents.get(name)
            return (agent.paused, agent.state(clock()) in ("ringing", "on_call")) if agent else (False, False)

        desk = ChatDesk(store.chats, lambda: queue_control.config, bus.publish, clock, pages=live.agents_online,
                        agent_state=agent_state)
        bus.subscribe("chat", desk.on_event, ev.AgentStateChanged, ev.CallEnded)
        live.pages_changed = desk.kick
    return Callcenter(config, ami, bus, tracker, presence, queue_control, book, dialer, sessions, liveness, pump,
                      view, flows, guard, bouncer, recordings, store, writer,
                      tuple(k for k in (routing_keeper, callback_keeper) if k is not None), transcriber, accounts,
                      live, store.messages if store is not None else None, chat=desk)


# Sections a running system cannot change: they move sockets or folders.
RESTART_ONLY = ("runtime_dir", "ivr_flows", "sip", "ami", "api", "store", "speech", "email", "sms")
# (chat is live: its limits, queue, origins and canned replies are read from the config in force.)


async def reload_asterisk_config(ami: AmiPort) -> None:
    """Make a running Asterisk read its rendered config again (PJSIP, queues, dialplan); calls in
    progress are not touched. Errors: AmiError."""
    for command in ("module reload res_pjsip.so", "queue reload parameters", "dialplan reload"):
        await ami.send(actions.command(command), timeout=15)


class ConfigReloader:
    """Apply an edited callcenter.yaml live: agents, queues, DIDs, trunk, routing.

    The new file is validated first (a broken one changes nothing, and says where it is broken);
    then Asterisk's config is rendered again and reloaded module by module (PJSIP, queues,
    dialplan) — calls in progress are not touched — and the parts take the new settings.
    Whatever goes wrong (an unreadable file, a render error, AMI down meanwhile) is refused with
    its reason in `error`, the log and `callcenter status`, and the watcher keeps watching (docs/design.md#11).
    """

    def __init__(self, path: Path, app: Callcenter, install: AsteriskInstall) -> None:
        self.path, self.app, self.install = path, app, install
        self.error = ""
        self.error_id = ""
        self.reloads = 0
        self._seen = self._stat()
        self._lock = asyncio.Lock()  # the file watcher and `callcenter config reload` may both ask

    def _stat(self) -> str:
        """What the file says (a hash): saving it unchanged reloads nothing."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    async def reload(self) -> dict[str, Any]:
        """Apply the file now; `{"reloaded": bool, ...}` with `error_id` and `error` when refused."""
        async with self._lock:
            try:
                return await self._reload()
            except AmiError as exc:
                # Asterisk was not reachable for the reload: try again at the next look.
                self._seen = ""
                return self._refused(f"not applied, Asterisk unreachable ({exc}); will retry", "ami-unavailable")
            except CallcenterError as exc:
                return self._refused(str(exc), exc.error_id)
            except Exception as exc:  # noqa: BLE001 - a bad edit must never stop the controller
                log.exception("config reload failed")
                return self._refused(f"{type(exc).__name__}: {exc}", "reload-failed")

    def _refused(self, reason: str, error_id: str) -> dict[str, Any]:
        if (error_id, reason) != (self.error_id, self.error):  # a retry that fails alike is not logged again
            log.error("config NOT reloaded: %s: %s", error_id, reason)
        self.error, self.error_id = reason, error_id
        return {"reloaded": False, "error": self.error, "error_id": error_id}

    async def _reload(self) -> dict[str, Any]:
        self._seen = self._stat()
        old = self.app.config
        # Off the event loop: a large or hostile file must not stall the calls (and is bounded anyway).
        new = await asyncio.to_thread(load_config, self.path)
        check_sounds(new, sound_finder(self.install.sysroot, self.install.data_dir))
        moved = [k for k in RESTART_ONLY if getattr(new, k) != getattr(old, k)]
        if moved:
            raise ConfigError(f"changing {', '.join(moved)} needs a restart (callcenter run again)",
                              file=str(self.path), error_id="needs-restart")
        creds = Credentials.load_or_create(new.runtime_dir, new.agents)
        render(self.install, new, creds, banned=self.app.guard.banned)
        await reload_asterisk_config(self.app.ami)
        await self.app.apply_config(new, *flow_context(new, self.install))
        if self.app.accounts is not None:  # new agents get their web login, removed ones lose it
            await sync_logins(self.app.accounts, new, creds)
        self.error = self.error_id = ""
        self.reloads += 1
        log.info("config reloaded: %d agents, %d queues, %d DIDs", len(new.agents), len(new.queues), len(new.dids))
        return {"reloaded": True, "agents": list(new.agents), "queues": list(new.queues), "dids": list(new.dids)}

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._stat() != self._seen:
                await self.reload()


async def _watch_asterisk(asterisk: AsteriskProcess) -> None:
    """Restart Asterisk if it dies: calls already lost cannot be saved, the next ones can."""
    failures = 0
    while True:
        await asyncio.sleep(0.5)
        if asterisk.alive():
            failures = 0
            continue
        failures += 1
        log.error("Asterisk died (%s); restarting it. Last log lines:\n%s", asterisk.exit_status(),
                  asterisk.log_tail(10))
        await asyncio.sleep(min(5.0, 0.5 * failures))
        asterisk.start()


class ControllerDied(CallcenterError):
    def __init__(self, reason: str) -> None:
        super().__init__("controller-died", f"the controller stopped on an error: {reason}; Asterisk keeps "
                         "running with the calls (callers take the dialplan fallback); `callcenter run` adopts it",
                         {"reason": reason})


async def _guarded(coro: Any, name: str) -> None:
    """A long-running watcher that logs a failure and restarts instead of ending the app."""
    backoff = 1.0
    while True:
        try:
            await coro()
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the crash policy (docs/design.md#11)
            log.exception("%s failed; restarting it in %g s", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)


def faults_from_env() -> frozenset[str]:
    """CALLCENTER_FAULTS=subscriber: faults injected on purpose, for the crash-policy tests."""
    import os
    return frozenset(f.strip() for f in os.environ.get("CALLCENTER_FAULTS", "").split(",") if f.strip())


async def run(config: Config, *, out: TextIO = sys.stdout) -> None:
    """Start the whole system and run until SIGINT/SIGTERM (which stop Asterisk too).

    Errors: AsteriskStartError, PortInUse, FlowsInvalid, AmiLoginRefused at start; ControllerDied
    if the controller fails later (Asterisk is left running)."""
    t0 = time.monotonic()
    creds = Credentials.load_or_create(config.runtime_dir, config.agents)
    install = find_asterisk()
    check_port_free("REST API", config.api.bind, config.api.port)
    dirs = render(install, config, creds)
    check_sounds(config, sound_finder(install.sysroot, install.data_dir))
    flows = flow_library(config, install, dirs)
    if not flows.reload():
        raise FlowsInvalid(flows.errors)
    # Before Asterisk: a broken store.url stops here, with its key.
    store = await open_store(config, (dirs.recordings, dirs.voicemail))
    await import_callbacks(store, config.runtime_dir / "callbacks.json")
    callback_rows = [CallbackRequest(**row) for row in await store.routing_state.callback_requests()]
    routing_document = await import_routing(store, config.runtime_dir / "routing.json")
    asterisk = AsteriskProcess(install, dirs)
    adopted = asterisk.adopt()
    if not adopted:
        check_port_free("SIP", config.sip.bind, config.sip.port, "udp")
        check_port_free("AMI", config.ami.bind, config.ami.port)
        asterisk.start()
    ami = AmiClient(config.ami.bind, config.ami.port, config.ami.username, creds.ami_secret,
                    action_timeout=config.ami.action_timeout, ping_interval=config.ami.ping_interval,
                    record_to=Path(config.ami.record) if config.ami.record else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api = None
    smtp: asyncio.AbstractServer | None = None
    parts: Callcenter | None = None
    died: BaseException | None = None
    try:
        await wait_until_booted(asterisk, ami)
        if adopted:  # it still runs the config of its own start: callcenter.yaml may have changed since
            await reload_asterisk_config(ami)
        async def apply_bans(banned: list[str]) -> None:
            render(install, parts_config(), Credentials.load(config.runtime_dir), banned=banned)
            await ami.send(actions.command("module reload res_pjsip.so"), timeout=15)

        parts = build(config, ami=ami, flows=flows, mailbox=VoicemailBox(dirs.voicemail, install.inner),
                      faults=faults_from_env(), apply_bans=apply_bans, store=store, recordings_dir=dirs.recordings,
                      cdr_file=dirs.cdr, callback_requests=callback_rows, routing_document=routing_document)

        def parts_config() -> Config:
            assert parts is not None
            return parts.config
        reloader = ConfigReloader(Path(config.source), parts, install)
        if parts.accounts is not None:
            logins = await sync_logins(parts.accounts, config, creds)
            if any(logins.values()):
                log.info("web logins: %(created)d created, %(updated)d updated, %(disabled)d disabled", logins)
        parts.sms = sms_provider(config, creds)
        if parts.writer is not None and parts.messages is not None:
            messages, running = parts.messages, parts
            parts.writer.after_ended = lambda record, row: missed_call_sms(
                record, row, config=lambda: running.config, messages=messages, provider=lambda: running.sms)
        api = await start_api(make_app(parts, creds.api_token, reload_config=reloader.reload,
                                       config_status=lambda: {"reloads": reloader.reloads, "error": reloader.error,
                                                              "error_id": reloader.error_id},
                                       sms_token=creds.sms_token),
                              config.api.bind, config.api.port)
        if parts.messages is not None and config.email.enabled:
            running_parts = parts
            parts.intake = MailIntake(parts.messages, config.runtime_dir, parts.bus.publish, topic=config.email.topic,
                                      max_attachment_bytes=config.email.max_attachment_bytes,
                                      settings=lambda: running_parts.config.email)
            try:
                smtp = await serve_mail(parts.intake, config.email.smtp_bind, config.email.smtp_port,
                                        config.email.max_bytes)
            except OSError as exc:  # calls matter more than mail: the controller runs on, and says so
                parts.intake.problem = f"cannot listen on {config.email.smtp_bind}:{config.email.smtp_port}: " \
                                       f"{exc.strerror or exc}"
                log.error("email: %s; no email until this is fixed (email.smtp_port)", parts.intake.problem)
            intake = parts.intake
            if config.email.imap_host:
                parts.imap = ImapPoller(lambda: running_parts.config.email,
                                        lambda: Credentials.imap_password(config.runtime_dir), intake.take)
            extra, imap = parts.view.extra, parts.imap
            parts.view.extra = lambda: {**extra(), "email": {  # `callcenter status`
                "smtp": f"{config.email.smtp_bind}:{config.email.smtp_port}", "problem": intake.problem,
                "received": intake.received, "quarantined": intake.quarantined,
                "imap": imap.describe() if imap is not None else None}}
        (config.runtime_dir / CONTROLLER_FILE).write_text(json.dumps(
            {"api": f"http://{config.api.bind}:{config.api.port}", "pid": os.getpid()}))
        print(banner(config, creds, install, asterisk, dirs, time.monotonic() - t0, adopted), file=out, flush=True)
        died = await _supervise(((ami.run(), "ami"), (parts.run(), "controller"),
                                 (_guarded(lambda: _watch_asterisk(asterisk), "asterisk watch"), "asterisk-watch"),
                                 (_guarded(flows.watch, "flow watcher"), "flows"),
                                 (_guarded(reloader.watch, "config watcher"), "config")), stop)
        if died is not None:
            log.critical("the controller died: %r; Asterisk (pid %s) keeps running with its calls; callers "
                         "take the dialplan fallback until `callcenter run` adopts it", died, asterisk.pid,
                         exc_info=died)
    finally:
        deliberate = died is None  # a stop signal, or a failed start: Asterisk stops too
        if parts is not None:
            if died is not None:
                await _release_callers(parts)
            await parts.liveness.clear_heartbeat()
        await ami.close()
        if api is not None:
            await api.cleanup()
        if smtp is not None:
            smtp.close()
            await smtp.wait_closed()
        await store.close()
        if deliberate:
            await asyncio.to_thread(asterisk.stop)
        with contextlib.suppress(Exception):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        print("callcenter stopped" if deliberate else "callcenter controller died; Asterisk left running",
              file=out, flush=True)
    if died is not None:
        raise ControllerDied(f"{type(died).__name__}: {died}")


def sms_provider(config: Config, creds: Credentials) -> SmsProvider:
    """`sms.provider`: dev (replies kept on the ticket, nothing sent) or twilio."""
    if config.sms.provider == "twilio":
        return TwilioSms(config.sms.twilio_api_url, config.sms.twilio_account_sid, creds.sms_token(),
                         config.sms.from_number)
    return DevSms()


async def open_store(config: Config, recording_roots: tuple[Path, ...] = ()) -> TicketCore:
    """The store at config.store_url, migrated to this code's schema (Alembic; idempotent).
    Errors: StoreError `bad-store-url`, `store-unavailable`, `store-not-migrated`."""
    await asyncio.to_thread(store_db.upgrade, config.store_url)
    store = TicketCore.build(config.store_url, store_policy(config.store, recording_roots))
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    log.info("store: %s", store_db.describe(config.store_url))
    return store


async def import_callbacks(store: TicketCore, path: Path) -> int:
    """One time: the requests of a callbacks.json (kept before the store existed) go into the
    store, and the file is renamed *.imported. Returns how many."""
    if not path.exists():
        return 0
    try:
        requests = read_callbacks_file(path)
    except (ValueError, TypeError) as exc:  # never dropped silently: set aside, said
        path.rename(path.with_name(path.name + ".broken"))
        log.error("%s is not a list of callback requests (%s); kept as %s.broken, nothing imported", path, exc,
                  path.name)
        return 0
    for request in requests:
        await store.routing_state.save_callback(dataclasses.asdict(request))
    path.rename(path.with_name(path.name + ".imported"))
    log.info("imported %d callback requests from %s into the store", len(requests), path)
    return len(requests)


async def import_routing(store: TicketCore, path: Path) -> str | None:
    """The routing state's text from the store; one time, a routing.json (kept before the store
    existed) goes into it and the file is renamed *.imported (QueueControl checks the text)."""
    text = await store.routing_state.document(ROUTING_DOCUMENT)
    if text is None and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        await store.routing_state.save_document({"id": ROUTING_DOCUMENT, "body": text})
        path.rename(path.with_name(path.name + ".imported"))
        log.info("imported the routing state from %s into the store", path)
    return text


async def _supervise(coros: Any, stop: asyncio.Event) -> BaseException | None:
    """Run the tasks until `stop`; returns None then, or the error that ended one of them."""
    died: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as tasks:
            for coro, name in coros:
                tasks.create_task(coro, name=name)
            await stop.wait()
            log.info("stopping")
            raise _Stop
    except* _Stop:
        pass
    except* Exception as group:
        died = group.exceptions[0]
    return died


async def _release_callers(parts: Callcenter) -> None:
    """A dying controller lets go of the callers it drives: the dialplan takes them on (fallback)."""
    for agi in list(parts.sessions.channels.values()):
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await agi.release()


class _Stop(Exception):
    """Raised inside the task group to end it on a stop signal."""
