"""The controller's live state: it consumes the AMI stream, tracks calls and drives callers.

One consumer reads the ordered event stream (so each call's events are handled in order), feeds
the pure call tracker, and hands channels that enter AsyncAGI to a per-call task. Around it:
the AstDB heartbeat the dialplan checks before trusting us with a caller, and the
resynchronization that runs each time the AMI connection is (re)established.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable

from callcenter.ami.agi import AgiChannel, AgiCommandFailed, AgiHangup, quote_arg
from callcenter.ami.client import AmiClient, AmiConnected, AmiDisconnectedEvent, AmiError
from callcenter.ami.events import (AgiEnded, AgiExecuted, AgiStarted, AsteriskShuttingDown, ChannelHungUp,
                                   OriginateFinished, translate)
from callcenter.asterisk.render import HEARTBEAT_INTERVAL, WATCHDOG
from callcenter.calls.tracker import CallTracker, LiveChannel
from callcenter.config import Config
from callcenter.errors import CallcenterError
from callcenter.ivr import runner as ivr_runner
from callcenter.ivr.flows import FlowLibrary
from callcenter.ivr.runner import Dialing, VoicemailBox
from callcenter.ivr.validate import Context
from callcenter.ivr.stepper import Action, Dial, Finished, FlowRun, Returned, ToQueue
from callcenter.routing.callbacks import CallbackBook, due
from callcenter.routing.control import QueueControl
from callcenter.routing.presence import Presence

KEEPALIVE_INTERVAL = 4.0  # seconds; well inside the dialplan's WATCHDOG

log = logging.getLogger(__name__)


def dialing_for(config: Config) -> Dialing:
    return Dialing({a.extension: n for n, a in config.agents.items()}, config.trunk.name)


def live_channels(reply: list[Any]) -> list[LiveChannel]:
    """CoreShowChannels' answer → LiveChannel list."""
    out = []
    for m in reply:
        if str(m.get("Event", "")) != "CoreShowChannel":
            continue
        out.append(LiveChannel(
            channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""), linkedid=m.get("Linkedid", ""),
            caller_id=m.get("CallerIDNum", ""), caller_name=m.get("CallerIDName", ""), context=m.get("Context", ""),
            exten=m.get("Exten", ""), state=m.get("ChannelStateDesc", ""),
            duration=_seconds(m.get("Duration", "0")), application=m.get("Application", ""),
            application_data=m.get("ApplicationData", "")))
    return out


def _seconds(hms: str) -> int:
    """'01:02:03' → 3723."""
    total = 0
    for part in str(hms).split(":"):
        total = total * 60 + int(part or 0)
    return total


class Controller:
    def __init__(self, config: Config, ami: AmiClient, *, flows: FlowLibrary | None = None,
                 dialing: Dialing | None = None, mailbox: VoicemailBox | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.ami = ami
        self.flows = flows
        self.dialing = dialing or dialing_for(config)
        self.mailbox = mailbox or VoicemailBox(config.runtime_dir / "voicemail", str)
        self.clock = clock
        self.tracker = CallTracker()
        self._agi: dict[str, AgiChannel] = {}  # uniqueid → channel in our hands
        self._sessions: dict[str, FlowRun] = {}  # caller uniqueid → its flow, while it may come back
        self.presence = Presence(config.agents, config.queues,
                                 wrapup={q: s.wrapup for q, s in config.queues.items()},
                                 ring_timeout={q: s.ring_timeout for q, s in config.queues.items()},
                                 auto_pause_after=config.routing.auto_pause_after,
                                 service_level_seconds=config.routing.service_level_seconds)
        self.queue_control = QueueControl(config, ami, config.runtime_dir / "routing.json")
        self.callbacks = CallbackBook(config.runtime_dir / "callbacks.json", config.routing.callback_attempts,
                                      config.routing.callback_retry_seconds)
        self._tasks: asyncio.TaskGroup | None = None
        self.resyncs = 0
        self.last_resync_at: float | None = None
        self.events_seen = 0

    # -- main loops -------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume events and keep the heartbeat until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            tasks.create_task(self._heartbeat(), name="heartbeat")
            tasks.create_task(self._dial_callbacks(), name="callbacks")
            async for item in self.ami.events():
                self._handle(item)

    def _spawn(self, coro: Any, name: str) -> None:
        """Start a per-call task that logs its own failure instead of stopping the controller."""
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except AgiHangup:
                log.info("%s: caller hung up", name)
            except Exception:
                log.exception("%s failed", name)
        assert self._tasks is not None
        self._tasks.create_task(guarded(), name=name)

    def _handle(self, item: Any) -> None:
        if isinstance(item, AmiConnected):
            log.info("AMI connected (protocol %s); resynchronizing", item.asterisk_version)
            self._spawn(self.resync(), "resync")
            self._spawn(self.queue_control.restore(), "restore queues")
            return
        if isinstance(item, AmiDisconnectedEvent):
            # Commands in flight are lost with the connection; the calls' own tasks end and
            # resync settles what Asterisk still has once we are back.
            for agi in self._agi.values():
                agi.end()
            self._agi.clear()
            return
        self.events_seen += 1
        event = translate(item)
        if event is None:
            return
        now = self.clock()
        self.tracker.apply(event, now)
        for decision in self.presence.apply(event, now):
            log.warning("agent %s: %s; pausing", decision.agent, decision.reason)
            self._spawn(self.queue_control.pause(decision.agent, decision.reason), f"auto-pause {decision.agent}")
        if isinstance(event, AgiStarted):
            agi = AgiChannel(self.ami, event.channel, event.uniqueid, event.linkedid, event.env)
            self._agi[event.uniqueid] = agi
            self._spawn(self._drive(agi), f"call {event.linkedid}")
        elif isinstance(event, AgiExecuted):
            agi = self._agi.get(event.uniqueid)
            if agi is not None:
                agi.on_executed(event.command_id, event.result)
        elif isinstance(event, (AgiEnded, ChannelHungUp)):
            agi = self._agi.pop(event.uniqueid, None)
            if agi is not None:
                agi.end()
            if isinstance(event, ChannelHungUp):
                self._sessions.pop(event.uniqueid, None)
        elif isinstance(event, OriginateFinished):
            request = self.callbacks.by_attempt(event.action_id)
            if request is not None:
                self.callbacks.finished(request, event.success, f"reason {event.reason}", now)
                log.info("callback %s to %s: %s", request.id, request.number,
                         "answered" if event.success else f"not answered ({request.state}, reason {event.reason})")
        elif isinstance(event, AsteriskShuttingDown):
            log.warning("Asterisk is shutting down (restart=%s)", event.restart)

    # -- driving one caller -----------------------------------------------------------------

    def _did_of(self, agi: AgiChannel) -> str:
        call = self.tracker.get(agi.linkedid)
        return call.did if call and call.did else agi.env.get("agi_dnid", "")

    async def _drive(self, agi: AgiChannel) -> None:
        """A caller the dialplan hands us: start the DID's flow, or resume one (`resume` args)."""
        args = [agi.env.get(f"agi_arg_{i}", "") for i in (1, 2, 3)]
        keepalive = asyncio.create_task(self._keepalive(agi), name=f"keepalive {agi.linkedid}")
        try:
            if args[0] == "resume":
                await self._resume(agi, status=args[1], where=args[2])
            elif args[0] == "callback":
                await self._take_callback(agi, queue=args[1])
            else:
                await self._start(agi)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    async def _start(self, agi: AgiChannel) -> None:
        number = self._did_of(agi)
        did = self.config.dids.get(number)
        if did is None:
            log.warning("call %s: no DID settings for %s; releasing to the fallback", agi.linkedid, number)
            await agi.release()
            return
        log.info("call %s: caller %s dialed %s", agi.linkedid, agi.env.get("agi_callerid"), number)
        if not did.flow or self.flows is None:
            # No flow for this number: the greeting, then the queue (decided here, so it is recorded).
            self.tracker.note(agi.linkedid, f"greeting:{did.greeting}")
            await agi.command(f"STREAM FILE {quote_arg(did.greeting)} \"\"", timeout=120)
            await ivr_runner.set_variables(agi, CC_NEXT="queue", CC_NEXT_QUEUE=did.queue, CC_NEXT_TIMEOUT="",
                                           CC_RESUME="")
            await agi.release()
            return
        flows = self.flows.current  # the version this call keeps to its end
        run = FlowRun(flows, did.flow, caller_id=agi.env.get("agi_callerid", ""), did=number)
        # The flow's language picks Asterisk's sounds (hello-world in en, fr, ...) for this channel.
        await ivr_runner.set_variables(agi, **{"CHANNEL(language)": flows.flows[did.flow].language})
        await self._run(agi, run, run.start(self.clock()))

    async def _resume(self, agi: AgiChannel, status: str, where: str) -> None:
        """Back from a queue that overflowed or a transfer nobody answered: the flow goes on."""
        session = self._sessions.get(agi.uniqueid)
        if session is not None:
            log.info("call %s: back from the dialplan (%s); flow %s goes on", agi.linkedid, status, where)
            await self._run(agi, session, session.send(Returned(status), self.clock()))
            return
        # A controller that restarted meanwhile: go on at that node of the current version, if it exists.
        flow_name, _, node = where.partition("/")
        flows = self.flows.current if self.flows else None
        if flows is None or flow_name not in flows.flows or node not in flows.flows[flow_name].nodes:
            log.warning("call %s: cannot resume at %r; releasing to the fallback", agi.linkedid, where)
            await agi.release()
            return
        run = FlowRun(flows, flow_name, caller_id=agi.env.get("agi_callerid", ""), did=self._did_of(agi),
                      start_node=node)
        await self._run(agi, run, run.start(self.clock()))

    async def _run(self, agi: AgiChannel, run: FlowRun, action: Action) -> None:
        """Run the flow until it lets go of the caller; keep it if it may come back (resume)."""
        self._sessions[agi.uniqueid] = run
        logged = len(run.path)

        def record(end: str = "", voicemail: str = "") -> None:
            nonlocal logged
            for step in run.path[logged:]:
                log.info("call %s: ivr %s", agi.linkedid, step)
            logged = len(run.path)
            self.tracker.ivr(agi.linkedid, flow=run.flow_name, version=run.flows.version, path=run.path,
                             variables=run.variables, end=end, voicemail=voicemail)

        record()
        try:
            last = await ivr_runner.run_until_released(agi, run, action, self.dialing, self.mailbox, self.clock,
                                                       note=lambda step: record(voicemail=step.partition(":")[2]))
            # note("") after each step keeps the record's path live; note("voicemail:<file>") adds the message.
        except AgiHangup:
            record(end="caller hung up")
            self._sessions.pop(agi.uniqueid, None)
            log.info("call %s: caller hung up in the flow", agi.linkedid)
            return
        except AgiCommandFailed as exc:
            log.error("call %s: %s; releasing the caller to the fallback", agi.linkedid, exc)
            record(end=f"error: {exc.error_id}")
            self._sessions.pop(agi.uniqueid, None)
            await ivr_runner.set_variables(agi, CC_NEXT="", CC_RESUME="")
            await agi.release()
            return
        if isinstance(last, ToQueue):
            record(end=f"queue {last.queue}")
            log.info("call %s: to queue %s (priority %d, max wait %s)", agi.linkedid, last.queue, last.priority,
                     last.max_wait or "-")
        elif isinstance(last, Dial):
            record(end=f"transfer {last.kind} {last.target}")
            log.info("call %s: transfer to %s %s", agi.linkedid, last.kind, last.target)
        else:
            record(end=last.reason if isinstance(last, Finished) else str(last))
        if not getattr(last, "resume", ""):
            self._sessions.pop(agi.uniqueid, None)

    async def _take_callback(self, agi: AgiChannel, queue: str) -> None:
        """A waiting caller pressed *: keep their place, thank them, hang up."""
        call = self.tracker.get(agi.linkedid)
        number = agi.env.get("agi_callerid", "")
        joined_at = call.queued_at if call and call.queued_at else self.clock()
        request = self.callbacks.request(queue, number, joined_at, self.clock(), agi.linkedid)
        self.tracker.note(agi.linkedid, f"callback-requested:{request.id}")
        log.info("call %s: %s asked to be called back from queue %s (request %s)", agi.linkedid, number, queue,
                 request.id)
        await ivr_runner.play(agi, (("file", "auth-thankyou"), ("file", "vm-goodbye")), "")
        await agi.release()

    async def _dial_callbacks(self) -> None:
        """Every second: dial the callback requests whose turn it is (callbacks.due)."""
        while True:
            await asyncio.sleep(1.0)
            if self.ami.state != "connected" or not self.callbacks.open():
                continue
            try:
                await self._dial_due_callbacks()
            except Exception:  # one bad round must not stop the callbacks (nor the controller)
                log.exception("callback dialing failed; trying again in a second")

    async def _dial_due_callbacks(self) -> None:
        """Dial the requests `due()` picks: one Originate each, never re-sent."""
        rows = self.queues()
        free = {q["name"]: q["agents_available"] for q in rows}
        oldest = {name: min((t for t, _ in numbers.waiting.values()), default=None)
                  for name, numbers in self.presence.queues.items()}
        for request in due(self.callbacks.open(), free, oldest, self.clock()):
            attempt = self.callbacks.start_attempt(request)
            log.info("callback %s: calling %s back for queue %s (attempt %d)", request.id, request.number,
                     request.queue, request.attempts)
            try:
                await self.ami.send({
                    "Action": "Originate", "ActionID": attempt, "ChannelId": attempt,
                    "Channel": f"PJSIP/{request.number}@{self.config.trunk.name}", "Context": "cc-callback",
                    "Exten": "s", "Priority": "1", "Timeout": "30000", "Async": "true",
                    "CallerID": f"\"{request.queue}\" <{next(iter(self.config.dids), '')}>",
                    "Variable": [f"CC_CB_QUEUE={request.queue}", f"CC_CB_ID={request.id}"]})
            except AmiError as exc:
                # Sent or not, we cannot tell: the request stays `dialing` until the Originate's
                # own result, or the next resync, says whether that channel exists. Never re-sent.
                log.warning("callback %s: %s; waiting for Asterisk to say what happened", request.id, exc)

    async def _keepalive(self, agi: AgiChannel) -> None:
        """Push the dialplan's watchdog forward while this caller is in our hands."""
        # Never after the release: the dialplan clears the watchdog then, and a late push would
        # throw the caller out of the queue when it fires.
        while not (agi.ended or agi.released):
            try:
                await self.ami.send({"Action": "Setvar", "Channel": agi.channel, "Variable": "TIMEOUT(absolute)",
                                     "Value": str(WATCHDOG)})
            except AmiError:
                return  # the channel is gone (or AMI is); nothing to keep alive
            await asyncio.sleep(KEEPALIVE_INTERVAL)

    # -- heartbeat and resync ---------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Tell the dialplan we are alive (AstDB callcenter/heartbeat = now)."""
        while True:
            if self.ami.state == "connected":
                try:
                    await self.ami.send({"Action": "DBPut", "Family": "callcenter", "Key": "heartbeat",
                                         "Val": str(int(self.clock()))})
                except AmiError as exc:
                    log.warning("heartbeat not written: %s", exc)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def clear_heartbeat(self) -> None:
        """On a clean stop: new callers go to the fallback at once, not after the heartbeat ages."""
        try:
            await self.ami.send({"Action": "DBDel", "Family": "callcenter", "Key": "heartbeat"}, timeout=2,
                                check=False)
        except AmiError:
            pass

    async def resync(self) -> None:
        """After (re)connecting: settle call records with Asterisk's live channels, and release
        callers parked in AGI that no task of ours drives (a previous controller's) to the dialplan."""
        reply = await self.ami.send({"Action": "CoreShowChannels"}, timeout=10)
        channels = live_channels(reply if isinstance(reply, list) else [reply])
        ended = self.tracker.resync(channels, self.clock())
        released = 0
        for ch in channels:
            if ch.application == "AGI" and ch.application_data.startswith("agi:async") and ch.uniqueid not in self._agi:
                try:
                    await AgiChannel(self.ami, ch.channel, ch.uniqueid, ch.linkedid, {}).release()
                    released += 1
                except AmiError as exc:
                    log.warning("could not release parked caller %s: %s", ch.channel, exc)
        live = {ch.uniqueid for ch in channels}
        for request in self.callbacks.open():
            if request.state == "dialing":
                # Its result may have been lost with the connection: the channel tells the truth.
                answered = request.attempt_id in live
                self.callbacks.finished(request, answered, "" if answered else "lost during a reconnect",
                                        self.clock())
        self.resyncs += 1
        self.last_resync_at = self.clock()
        log.info("resync: %d live channels, %d calls ended while away, %d parked callers released",
                 len(channels), len(ended), released)

    async def apply_config(self, config: Config, flow_context: Context, required_flows: dict[str, str]) -> None:
        """Take an edited configuration (already validated and loaded into Asterisk)."""
        self.config = config
        self.dialing = dialing_for(config)
        self.presence.update(config.agents, config.queues, {q: s.wrapup for q, s in config.queues.items()},
                             {q: s.ring_timeout for q, s in config.queues.items()})
        self.queue_control.apply_config(config)
        await self.queue_control.restore()
        if self.flows is not None:
            self.flows.context, self.flows.required = flow_context, required_flows
            await asyncio.to_thread(self.flows.reload)

    # -- queries for the API ----------------------------------------------------------------

    async def asterisk_info(self) -> dict[str, Any]:
        """Version and uptime from Asterisk itself."""
        settings = await self.ami.send({"Action": "CoreSettings"})
        status = await self.ami.send({"Action": "CoreStatus"})
        started = time.mktime(time.strptime(f"{status.get('CoreStartupDate')} {status.get('CoreStartupTime')}",
                                            "%Y-%m-%d %H:%M:%S"))
        return {"version": settings.get("AsteriskVersion", ""), "started_at": started,
                "uptime_seconds": max(0, int(self.clock() - started)),
                "current_calls": int(status.get("CoreCurrentCalls", 0) or 0)}

    def queues(self) -> list[dict[str, Any]]:
        """Per queue: settings, members with their state, callers waiting, live numbers."""
        now = self.clock()
        out = []
        for name, settings in self.config.queues.items():
            members = []
            for agent, penalty in sorted(self.queue_control.state.members.get(name, {}).items()):
                state = self.presence.agents[agent].as_dict(now)
                pause = self.queue_control.state.paused.get(agent)
                if pause and pause["queue"] not in ("", name):
                    state["state"], state["pause_reason"] = ("ready" if state["state"] == "paused"
                                                             else state["state"]), ""
                members.append({"agent": agent, "penalty": penalty, "state": state["state"],
                                "pause_reason": state["pause_reason"]})
            numbers = self.presence.queues[name].as_dict(now, self.presence.service_level_seconds)
            numbers["callbacks"] = [{"id": r.id, "number": r.number, "state": r.state, "attempts": r.attempts,
                                     "kept_wait_seconds": round(now - r.joined_at, 1)} for r in self.callbacks.open(name)]
            out.append({**numbers, "strategy": settings.strategy, "wrapup": settings.wrapup, "members": members,
                        "agents_logged_in": sum(m["state"] != "logged_out" for m in members),
                        "agents_available": sum(m["state"] == "ready" for m in members)})
        return out

    def agents(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{**self.presence.agents[name].as_dict(now), "extension": a.extension, "full_name": a.full_name,
                 "queues": self.queue_control.memberships(name),
                 "pause": self.queue_control.state.paused.get(name)}
                for name, a in self.config.agents.items()]

    async def status(self) -> dict[str, Any]:
        asterisk: dict[str, Any] = {"reachable": False}
        queues = self.queues()
        if self.ami.state == "connected":
            try:
                asterisk = {"reachable": True, **await self.asterisk_info()}
            except CallcenterError as exc:
                asterisk = {"reachable": False, "error": str(exc)}
        return {
            "asterisk": asterisk,
            "ami": {"state": self.ami.state, "connected": self.ami.state == "connected",
                    "connected_since": self.ami.connected_since, "last_error": self.ami.last_error,
                    "resyncs": self.resyncs, "last_resync_at": self.last_resync_at},
            "calls": {"active": len(self.tracker.active()), "in_controller": len(self._agi),
                      "in_flows": len(self._sessions)},
            "controller": {"tasks": len(asyncio.all_tasks()), "events_seen": self.events_seen},
            "queues": [{k: q[k] for k in ("name", "strategy", "agents_logged_in", "agents_available", "waiting",
                                          "longest_wait_seconds")} for q in queues],
            "flows": ({"version": self.flows.current.version, "names": sorted(self.flows.current.flows),
                       "errors": [str(p) for p in self.flows.errors]} if self.flows else None),
        }
