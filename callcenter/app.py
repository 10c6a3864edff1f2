"""The whole system in one place.

`build(config, ...)` wires every feature around one AMI connection and one bus from the config
and its ports (the AMI client, the clock, the ticket store, the credentials, the flows, our
Asterisk): each feature's `feature.py` builds its parts and subscribes them; cross-feature needs
are constructor arguments or events (docs/design.md#10). Unit tests and benches call `build()`
with a fake AMI client and clock. Nothing is assigned to the built parts afterwards.

`run(config)` is what `make run` / `callcenter run` does, process work only: secrets, the rendered
Asterisk config, our own Asterisk (or the one a killed controller left running), the AMI
connection, `build()`, the web server, signals and supervision. Only SIGINT/SIGTERM stop Asterisk:
if the controller itself dies, Asterisk keeps the calls (callers take the dialplan fallback) and
the next start adopts it (docs/design.md#11). No module-level engines or singletons.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO, TypeVar

from aiohttp import web

from callcenter.ami.client import AmiClient
from callcenter.ami.port import AmiPort
from callcenter.asterisk import supervise
from callcenter.asterisk.feature import AsteriskFeature
from callcenter.asterisk.install import AsteriskInstall, find_asterisk
from callcenter.asterisk.process import AsteriskProcess, check_port_free
from callcenter.asterisk.reload import ConfigReloader, reload_asterisk_config
from callcenter.asterisk.render import InstanceDirs, render
from callcenter.calls.feature import CallsFeature
from callcenter.cli import banner
from callcenter.channels.chat.feature import ChatFeature
from callcenter.channels.email.feature import EmailFeature
from callcenter.channels.replies import RepliesFeature
from callcenter.channels.sms.feature import SmsFeature
from callcenter.channels.sms.provider import SmsProvider
from callcenter.config import CONTROLLER_FILE, Config, check_sounds
from callcenter.core.bus import Bus
from callcenter.core.credentials import Credentials
from callcenter.core.errors import CallcenterError
from callcenter.core.feature import Feature
from callcenter.core.keeper import Keeper
from callcenter.core.pump import Pump
from callcenter.core.tasks import guarded
from callcenter.deps import Deps
from callcenter.inbox.feature import InboxFeature
from callcenter.ivr.feature import IvrFeature, flow_library
from callcenter.ivr.flows import FlowLibrary
from callcenter.ivr.prompts import sound_finder
from callcenter.ivr.runner import VoicemailBox
from callcenter.routing.feature import RoutingFeature
from callcenter.routing.stored import StoredRouting, stored_state
from callcenter.softphone.feature import SoftphoneFeature
from callcenter.tickets.store import policy as store_policy
from callcenter.tickets.core import TicketCore
from callcenter.tickets.feature import TicketsFeature, open_core, sla_of
from callcenter.voicemail.feature import VoicemailFeature
from callcenter.web import server
from callcenter.web.server import SystemRoutes
from callcenter.workspace.feature import WorkspaceFeature

log = logging.getLogger("callcenter")
F = TypeVar("F", bound=Feature)


class FaultySubscriberError(RuntimeError):
    """Raised on purpose by the `subscriber` fault (CALLCENTER_FAULTS), to test the crash policy."""


class FlowsInvalid(CallcenterError):
    def __init__(self, problems: list[Any]) -> None:
        super().__init__("invalid-flows", "the IVR flows have errors; nothing started:\n" +
                         "\n".join(f"  {p}" for p in problems), {"errors": [str(p) for p in problems]})


class ControllerDied(CallcenterError):
    def __init__(self, reason: str) -> None:
        super().__init__("controller-died", f"the controller stopped on an error: {reason}; Asterisk keeps "
                         "running with the calls (callers take the dialplan fallback); `callcenter run` adopts it",
                         {"reason": reason})


class Current:
    """The configuration in force: what `Deps.config()` returns; a live reload replaces it."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self) -> Config:
        return self.config


@dataclass
class App:
    """The built system: `start()`, then `run()` until cancelled, then `stop()`."""

    current: Current
    ami: AmiPort
    bus: Bus
    pump: Pump
    calls: CallsFeature
    routing: RoutingFeature
    ivr: IvrFeature
    asterisk: AsteriskFeature
    store: TicketCore | None  # the ticket store the store-side features share
    others: tuple[Feature, ...]  # the features on the store (voicemail, tickets, workspace, channels)
    web: web.Application  # every feature's routes behind one middleware (web/server.py)
    token: str  # the API token the web app takes
    reloader: ConfigReloader | None = None  # live reloads of callcenter.yaml (a controller with our Asterisk)

    @property
    def config(self) -> Config:
        return self.current()

    @property
    def features(self) -> tuple[Feature, ...]:
        return (self.calls, self.routing, self.ivr, self.asterisk, *self.others)

    def feature(self, kind: type[F]) -> F | None:
        """The built feature of that class (None: not built, e.g. without a store)."""
        return next((f for f in self.others if isinstance(f, kind)), None)

    async def start(self) -> None:
        """What must be ready before the system is announced (logins synced, chats loaded, SMTP bound)."""
        for feature in self.features:
            await feature.start()

    async def run(self) -> None:
        """The bus, the pump and every feature's work, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.bus.run(), name="bus")
            for feature in self.features:
                for coro, name in feature.tasks():
                    tasks.create_task(coro, name=name)
            if self.reloader is not None:
                tasks.create_task(guarded(self.reloader.watch, "config watcher"), name="config")
            tasks.create_task(self.pump.run(), name="pump")

    async def stop(self) -> None:
        for feature in reversed(self.features):
            with contextlib.suppress(Exception):
                await feature.stop()

    async def apply_config(self, config: Config) -> None:
        """Take an edited configuration (already validated and loaded into Asterisk)."""
        self.current.config = config
        for feature in self.features:
            await feature.apply_config()

    async def status(self) -> dict[str, Any]:
        """`/api/status`: the kernel's numbers, then each feature's part (top-level keys)."""
        data: dict[str, Any] = {
            "controller": {"tasks": len(asyncio.all_tasks()), "events_seen": self.ami.events_seen,
                           "translate_errors": self.ami.translate_errors, "events_published": self.bus.published,
                           "subscriber_errors": self.bus.errors},
            "subscribers": self.bus.stats(), "pump": {"events": self.pump.events,
                                                      "tracker_errors": self.pump.tracker_errors},
            "flows": None, "store": None, "transcription": None}
        for feature in self.features:
            for key, value in (await feature.describe()).items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key].update(value)
                else:
                    data[key] = value
        if self.reloader is not None:
            data["config"] = self.reloader.describe()
        return data


def build(config: Config, *, ami: AmiPort, clock: Callable[[], float] = time.time, tickets: TicketCore | None = None,
          credentials: Credentials | None = None, flows: FlowLibrary | None = None,
          install: AsteriskInstall | None = None, dirs: InstanceDirs | None = None,
          stored_routing: StoredRouting = StoredRouting(), sms_provider: SmsProvider | None = None,
          faults: frozenset[str] = frozenset()) -> App:
    """Wire every feature around `ami` and one bus.

    Ports: `tickets` (an opened store: every call and message lands on its customer's file; None:
    the call path alone), `credentials` (secrets.yaml: the API token, web logins, provider
    secrets), `flows` (the IVR flows), `install` and `dirs` (our own Asterisk and its folders:
    recordings, voicemail, the CDR, renders for bans and live reloads), `stored_routing` (what the
    store keeps of routing), `sms_provider` (default: from `sms.provider`). `faults` (tests only;
    CALLCENTER_FAULTS) adds subscribers that raise on every event (`subscriber`)."""
    current = Current(config)
    bus = Bus()
    deps = Deps(config=current, clock=clock, bus=bus, ami=ami, tickets=tickets)
    calls = CallsFeature(deps, dirs.recordings if dirs is not None else None)

    async def ticket_exists(ticket_id: int) -> object:
        assert tickets is not None
        return await tickets.tickets.get(ticket_id)

    routing = RoutingFeature(
        deps, calls.tracker, callback_requests=stored_routing.callback_requests, routing_document=stored_routing.document,
        routing_keeper=Keeper("routing state", tickets.routing_state.save_document) if tickets is not None else None,
        callback_keeper=Keeper("callback requests", tickets.routing_state.save_callback) if tickets is not None else None,
        ticket_exists=ticket_exists if tickets is not None else None)
    ivr = IvrFeature(deps, calls.tracker, routing.dialer, flows=flows, install=install,
                     mailbox=VoicemailBox(dirs.voicemail, install.inner) if dirs is not None and install is not None
                     else None)
    asterisk = AsteriskFeature(deps, calls.tracker, routing.presence, routing.queue_control, ivr.sessions, routing.dialer,
                               apply_bans=supervise.ban_applier(install, current, ami) if install is not None else None)
    pump = Pump(ami.events, bus, (calls.tracker, routing.presence), routing.presence, clock,
                event_time=lambda: ami.event_time)
    others = _store_features(deps, tickets, calls, routing, credentials, sms_provider, dirs)
    _add_faults(bus, faults)
    token = credentials.api_token if credentials is not None else secrets.token_urlsafe(32)

    async def apply(new: Config) -> None:
        await app.apply_config(new)

    reloader = ConfigReloader(Path(config.source), install, ami, current, apply,
                              lambda: sorted(asterisk.guard.banned)) if install is not None else None
    system = SystemRoutes(lambda: ami.state, lambda: app.status(), reloader.reload if reloader is not None else None)
    workspace = next((f for f in others if isinstance(f, WorkspaceFeature)), None)
    chat = next((f for f in others if isinstance(f, ChatFeature)), None)
    # What holds sockets open is closed first, else the web server waits for each before it stops.
    closers = tuple(f.stop for f in (workspace, chat) if f is not None)
    routes = [*system.table(), *(r for f in (calls, routing, ivr, asterisk, *others) for r in f.routes())]
    web_app = server.make_app(routes, token=token, session_of=workspace.session_of if workspace else _no_session,
                              agents=lambda: frozenset(current().agents),
                              on_shutdown=closers)
    app = App(current, ami, bus, pump, calls, routing, ivr, asterisk, store=tickets, others=tuple(others), web=web_app,
              token=token, reloader=reloader)
    return app


async def _no_session(cookie: str) -> dict[str, Any] | None:
    """Without a store there are no web logins: every page session is unknown."""
    return None


def _store_features(deps: Deps, core: TicketCore | None, calls: CallsFeature, routing: RoutingFeature,
                    credentials: Credentials | None, sms_provider: SmsProvider | None, dirs: InstanceDirs | None
                    ) -> list[Feature]:
    """The features that need the ticket store (none without one), in the order they start. A new
    channel is one more line here (and its settings section in config.py, its commands in cli/main.py)."""
    if core is None:
        return []
    runtime_dir = deps.config().runtime_dir
    tickets = TicketsFeature(deps, core, recordings=calls.recordings, tracker=calls.tracker,
                             cdr_file=dirs.cdr if dirs is not None else None)
    workspace = WorkspaceFeature(deps, core, routing=routing.service, tracker=calls.tracker,
                                 presence=routing.presence, calls=calls.service, credentials=credentials,
                                 call_log=tickets.log.describe, call_stored=tickets.log.stored)
    email = EmailFeature(deps, core, imap_password=lambda: Credentials.imap_password(runtime_dir))
    sms = SmsFeature(deps, core, auth_token=credentials.sms_token if credentials is not None else lambda: "",
                     provider=sms_provider)
    chat = ChatFeature(deps, core, pages=workspace.live.agents_online, availability=routing.service.availability,
                       call=routing.service.call_customer)
    inbox = InboxFeature(deps, core, tracker=calls.tracker, pages=workspace.live.agents_online,
                         availability=routing.service.availability, chats=lambda: chat.desk.live.values(),
                         push=workspace.live.send, watched=lambda: bool(workspace.live.clients),
                         search=core.search.tickets)
    softphone = SoftphoneFeature(deps, queues=routing.queue_control, presence=routing.presence,
                                 sip_password=lambda agent: Credentials.load(runtime_dir).agent_passwords.get(agent, ""))
    return [VoicemailFeature(deps, core), tickets, workspace, softphone, sms, email,
            RepliesFeature({"sms": sms.service.reply, "email": email.service.reply}, core.tickets), chat, inbox]


def _add_faults(bus: Bus, faults: frozenset[str]) -> None:
    if "subscriber" not in faults:
        return

    def faulty(event: Any) -> None:
        raise FaultySubscriberError(f"fault injected on {type(event).__name__}")

    async def faulty_queued(event: Any) -> None:
        raise FaultySubscriberError(f"fault injected on {type(event).__name__}")

    bus.subscribe("fault: inline", faulty)
    bus.subscribe_queued("fault: queued", faulty_queued, on_full="drop")


def faults_from_env() -> frozenset[str]:
    """CALLCENTER_FAULTS=subscriber: faults injected on purpose, for the crash-policy tests."""
    return frozenset(f.strip() for f in os.environ.get("CALLCENTER_FAULTS", "").split(",") if f.strip())


async def run(config: Config, *, out: TextIO = sys.stdout) -> None:
    """Start the whole system and run until SIGINT/SIGTERM (which stop Asterisk too).

    Errors: AsteriskStartError, PortInUse, FlowsInvalid, AmiLoginRefused at start; ControllerDied
    if the controller fails later (Asterisk is left running)."""
    t0 = time.monotonic()
    creds = Credentials.load_or_create(config.runtime_dir, config.agents, config.supervisors)
    install = find_asterisk()
    check_port_free("REST API", config.api.bind, config.api.port)
    dirs = render(install, config, creds)
    check_sounds(config, sound_finder(install.sysroot, install.data_dir))
    flows = flow_library(config, install, dirs)
    if not flows.reload():
        raise FlowsInvalid(flows.errors)
    # Before Asterisk: a broken store.url stops here, with its key.
    store = await open_core(config.store_url, store_policy(config.store, (dirs.recordings, dirs.voicemail),
                                                           sla_of(config)))
    asterisk, adopted = _our_asterisk(config, install, dirs)
    ami = AmiClient(config.ami.bind, config.ami.port, config.ami.username, creds.ami_secret,
                    action_timeout=config.ami.action_timeout, ping_interval=config.ami.ping_interval,
                    record_to=Path(config.ami.record) if config.ami.record else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app: App | None = None
    api: web.AppRunner | None = None
    died: BaseException | None = None
    try:
        await supervise.wait_until_booted(asterisk, ami)
        if adopted:  # it still runs the config of its own start: callcenter.yaml may have changed since
            await reload_asterisk_config(ami)
        app = build(config, ami=ami, tickets=store, credentials=creds, flows=flows, install=install, dirs=dirs,
                    stored_routing=await stored_state(store, config.runtime_dir), faults=faults_from_env())
        await app.start()
        api = await server.start(app.web, config.api.bind, config.api.port)
        (config.runtime_dir / CONTROLLER_FILE).write_text(json.dumps(
            {"api": f"http://{config.api.bind}:{config.api.port}", "pid": os.getpid()}))
        print(banner.running(config, creds, install, asterisk, dirs, time.monotonic() - t0, adopted), file=out,
              flush=True)
        died = await _supervise(((ami.run(), "ami"), (app.run(), "controller"),
                                 (guarded(lambda: supervise.watch(asterisk), "asterisk watch"), "asterisk-watch")), stop)
        if died is not None:
            log.critical("the controller died: %r; Asterisk (pid %s) keeps running with its calls; callers "
                         "take the dialplan fallback until `callcenter run` adopts it", died, asterisk.pid,
                         exc_info=died)
    finally:
        await _shut_down(app, ami, api, store, died)
        deliberate = died is None  # a stop signal, or a failed start: Asterisk stops too
        if deliberate:
            await asyncio.to_thread(asterisk.stop)
        with contextlib.suppress(Exception):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        print("callcenter stopped" if deliberate else "callcenter controller died; Asterisk left running",
              file=out, flush=True)
    if died is not None:
        raise ControllerDied(f"{type(died).__name__}: {died}")


def _our_asterisk(config: Config, install: AsteriskInstall, dirs: InstanceDirs) -> tuple[AsteriskProcess, bool]:
    """The Asterisk of this runtime folder: the one a killed controller left running (adopted:
    True), else a new one, once its ports are free. Errors: PortInUse, AsteriskStartError."""
    asterisk = AsteriskProcess(install, dirs)
    adopted = asterisk.adopt()
    if not adopted:
        check_port_free("SIP", config.sip.bind, config.sip.port, "udp")
        check_port_free("AMI", config.ami.bind, config.ami.port)
        if config.sip.ws_port:  # Asterisk's HTTP server: the browser softphone's WebSocket
            check_port_free("softphone WebSocket", config.sip.bind, config.sip.ws_port)
        asterisk.start()
    return asterisk, adopted


async def _shut_down(app: App | None, ami: AmiClient, api: web.AppRunner | None, store: TicketCore,
                     died: BaseException | None) -> None:
    """Let go in order: a dying controller releases its callers to the dialplan (fallback); new
    callers go to the fallback at once (the heartbeat is cleared); then the features, AMI, the
    web server and the store."""
    if app is not None and died is not None:
        await _release_callers(app)
    if app is not None:
        await app.stop()
    await ami.close()
    if api is not None:
        await api.cleanup()
    await store.close()


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


async def _release_callers(app: App) -> None:
    """A dying controller lets go of the callers it drives: the dialplan takes them on (fallback)."""
    for agi in list(app.ivr.sessions.channels.values()):
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await agi.release()


class _Stop(Exception):
    """Raised inside the task group to end it on a stop signal."""

