"""The callers in the controller's hands: one task per channel parked in AGI(agi:async).

An inline bus subscriber (`on_event`): `AsyncAGIStart` starts a task that runs the DID's flow
(or resumes one, or takes a queue-callback request); `AsyncAGIExec` results go to the waiting
command; `AsyncAGIEnd` / `Hangup` / a lost AMI connection fail what is pending. While a caller is
ours, its dialplan watchdog (TIMEOUT(absolute)) is pushed forward every few seconds; if this
process dies, the watchdog fires and the caller takes the dialplan fallback.

A failure in one caller's task is logged and that caller released to the dialplan fallback:
it never stops the other calls or the controller (docs/design.md#11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable, Coroutine

from callcenter.core import events as ev
from callcenter.ami import actions
from callcenter.ami.agi import AgiChannel, AgiCommandFailed, AgiHangup, quote_arg
from callcenter.ami.client import AmiError, AmiTimeout
from callcenter.core.events import AmiDisconnectedEvent
from callcenter.ami.port import AmiPort
from callcenter.ami.events import AgiEnded, AgiExecuted, AgiStarted, ChannelHungUp, caller_text
from callcenter.asterisk.render import WATCHDOG
from callcenter.core.bus import Bus
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core.errors import CallcenterError
from callcenter.ivr import runner as ivr_runner
from callcenter.ivr.flows import FlowLibrary
from callcenter.ivr.runner import Dialing, VoicemailBox
from callcenter.ivr.stepper import Action, Dial, Finished, FlowRun, Returned, ToQueue
from callcenter.routing.callbacks import dialable
from callcenter.routing.dialer import CallbackDialer

KEEPALIVE_INTERVAL = 4.0  # seconds; well inside the dialplan's WATCHDOG
CUSTOMER_LOOKUP_TIMEOUT = 0.5  # seconds a caller may wait for the store before the flow starts

log = logging.getLogger(__name__)

# The AMI events this feature subscribes to.
EVENTS = (AgiStarted, AgiExecuted, AgiEnded, ChannelHungUp, AmiDisconnectedEvent)


def dialing_for(config: Config) -> Dialing:
    return Dialing({a.extension: n for n, a in config.agents.items()}, config.trunk.name)


class IvrSessions:
    """Drives every caller parked in AsyncAGI; `run()` owns their tasks."""

    def __init__(self, config: Config, ami: AmiPort, bus: Bus, tracker: CallTracker, *,
                 flows: FlowLibrary | None, mailbox: VoicemailBox, callbacks: CallbackDialer,
                 clock: Callable[[], float],
                 customer_facts: Callable[[str], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.config, self.ami, self.bus, self.tracker = config, ami, bus, tracker
        self.customer_facts = customer_facts
        self.flows, self.mailbox, self.callbacks, self.clock = flows, mailbox, callbacks, clock
        self.dialing = dialing_for(config)
        self.channels: dict[str, AgiChannel] = {}  # uniqueid → channel in our hands
        self.sessions: dict[str, FlowRun] = {}  # caller uniqueid → its flow, while it may come back
        self.failures = 0
        self._tasks: asyncio.TaskGroup | None = None

    def apply_config(self, config: Config) -> None:
        self.config, self.dialing = config, dialing_for(config)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            await asyncio.Event().wait()  # until cancelled; the tasks are the callers'

    # -- the bus ------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """Inline subscriber (ordered with the AMI stream)."""
        if isinstance(event, AgiStarted):
            agi = AgiChannel(self.ami, event.channel, event.uniqueid, event.linkedid, event.env)
            self.channels[event.uniqueid] = agi
            self._spawn(self._drive(agi), f"call {event.linkedid}", agi)
        elif isinstance(event, AgiExecuted):
            running = self.channels.get(event.uniqueid)
            if running is not None:
                running.on_executed(event.command_id, event.result)
        elif isinstance(event, (AgiEnded, ChannelHungUp)):
            gone = self.channels.pop(event.uniqueid, None)
            if gone is not None:
                gone.end()
            if isinstance(event, ChannelHungUp):
                self.sessions.pop(event.uniqueid, None)
        elif isinstance(event, AmiDisconnectedEvent):
            # Commands in flight are lost with the connection; the callers' tasks end, and the
            # resync releases what Asterisk still has parked once we are back.
            for agi in self.channels.values():
                agi.end()
            self.channels.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str, agi: AgiChannel) -> None:
        """A per-caller task whose failure is logged, counted, and ends in the fallback."""
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except AgiHangup:
                log.info("%s: caller hung up", name)
                self.tracker.end_ivr(agi.linkedid, "caller hung up")  # however early it happened
            except Exception:
                self.failures += 1
                log.exception("%s failed; releasing the caller to the dialplan fallback", name)
                with contextlib.suppress(Exception):
                    await agi.release()
        if self._tasks is None:
            coro.close()
            raise RuntimeError("IvrSessions.run() is not running")
        self._tasks.create_task(guarded(), name=name)

    # -- driving one caller -------------------------------------------------------------------

    def _did_of(self, agi: AgiChannel) -> str:
        """The configured DID the caller dialed (`+` and `00` forms are the same DID), else as dialed."""
        call = self.tracker.get(agi.linkedid)
        dialed = call.did if call and call.did else agi.env.get("agi_dnid", "")
        return self.config.did_for(dialed) or dialed

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
        self.tracker.set_did(agi.linkedid, number)
        if not did.flow or self.flows is None:
            # No flow for this number: the greeting, then the queue (decided here, so it is recorded).
            self.tracker.note(agi.linkedid, f"greeting:{did.greeting}")
            await agi.command(f"STREAM FILE {quote_arg(did.greeting)} \"\"", timeout=120)
            await ivr_runner.set_variables(agi, CC_NEXT="queue", CC_NEXT_QUEUE=did.queue, CC_NEXT_TIMEOUT="",
                                           CC_RESUME="")
            await agi.release()
            return
        flows = self.flows.current  # the version this call keeps to its end
        caller_id = caller_text(agi.env.get("agi_callerid"))
        run = FlowRun(flows, did.flow, caller_id=caller_id, did=number, customer=await self._customer(caller_id))
        # The flow's language picks Asterisk's sounds (hello-world in en, fr, ...) for this channel.
        await ivr_runner.set_variables(agi, **{"CHANNEL(language)": flows.flows[did.flow].language})
        await self._run(agi, run, run.start(self.clock()))

    async def _customer(self, caller_id: str) -> dict[str, Any]:
        """What the store knows of the caller, for `branch: - {if: customer.tags, contains: vip}`.
        A slow or failing store must not hold the caller: after CUSTOMER_LOOKUP_TIMEOUT seconds, or
        on any error, the caller is treated as unknown (logged)."""
        if self.customer_facts is None:
            return {}
        try:
            async with asyncio.timeout(CUSTOMER_LOOKUP_TIMEOUT):
                return await self.customer_facts(caller_id)
        except Exception as exc:  # noqa: BLE001 - the call goes on without the facts
            log.warning("customer lookup for %r failed (%s); the flow sees an unknown caller", caller_id,
                        type(exc).__name__ or exc)
            return {}

    async def _resume(self, agi: AgiChannel, status: str, where: str) -> None:
        """Back from a queue that overflowed or a transfer nobody answered: the flow goes on."""
        session = self.sessions.get(agi.uniqueid)
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
        caller_id = caller_text(agi.env.get("agi_callerid"))
        run = FlowRun(flows, flow_name, caller_id=caller_id, did=self._did_of(agi), start_node=node,
                      customer=await self._customer(caller_id))
        await self._run(agi, run, run.start(self.clock()))

    async def _run(self, agi: AgiChannel, run: FlowRun, action: Action) -> None:
        """Run the flow until it lets go of the caller; keep it if it may come back (resume)."""
        self.sessions[agi.uniqueid] = run
        logged = len(run.path)

        def record(end: str = "", voicemail: str = "") -> None:
            nonlocal logged
            for step in run.path[logged:]:
                log.info("call %s: ivr %s", agi.linkedid, step)
            logged = len(run.path)
            self.tracker.ivr(agi.linkedid, flow=run.flow_name, version=run.flows.version, path=run.path,
                             variables=run.variables, end=end, voicemail=voicemail)

        async def voicemail(path: str, seconds: float, empty: str) -> None:
            record(voicemail=path)
            await self.bus.publish(ev.VoicemailRecorded(agi.linkedid, path, seconds, run.caller_id, run.did,
                                                        self.clock(), empty))

        record()
        try:
            last = await ivr_runner.run_until_released(agi, run, action, self.dialing, self.mailbox, self.clock,
                                                       on_step=record, on_voicemail=voicemail)
        except AgiHangup:
            record(end="caller hung up")
            self.sessions.pop(agi.uniqueid, None)
            log.info("call %s: caller hung up in the flow", agi.linkedid)
            return
        except (AgiCommandFailed, CallcenterError) as exc:
            log.error("call %s: %s; releasing the caller to the fallback", agi.linkedid, exc)
            record(end=f"error: {exc.error_id}")
            self.sessions.pop(agi.uniqueid, None)
            with contextlib.suppress(CallcenterError):
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
            self.sessions.pop(agi.uniqueid, None)

    async def _take_callback(self, agi: AgiChannel, queue: str) -> None:
        """A waiting caller pressed *: keep their place, thank them, hang up."""
        call = self.tracker.get(agi.linkedid)
        number = caller_text(agi.env.get("agi_callerid"))
        if not dialable(number):
            # A withheld or non-dialable number cannot be called back: say so, back into the queue
            # (the dialplan re-enters it; the caller keeps waiting).
            log.info("call %s: callback refused, caller ID %r cannot be dialed", agi.linkedid, number)
            self.tracker.note(agi.linkedid, "callback-refused")
            await ivr_runner.play(agi, (("file", "feature-not-avail-line"),), "")
            await ivr_runner.set_variables(agi, CC_CALLBACK="refused")
            await agi.release()
            return
        joined_at = call.queued_at if call and call.queued_at else self.clock()
        request = await self.callbacks.request(queue, number, joined_at, agi.linkedid)
        self.tracker.note(agi.linkedid, f"callback-requested:{request.id}")
        log.info("call %s: %s asked to be called back from queue %s (request %s)", agi.linkedid, number, queue,
                 request.id)
        await ivr_runner.play(agi, (("file", "auth-thankyou"), ("file", "vm-goodbye")), "")
        await agi.release()

    async def _keepalive(self, agi: AgiChannel) -> None:
        """Push the dialplan's watchdog forward while this caller is in our hands."""
        # Never after the release: the dialplan clears the watchdog then, and a late push would
        # throw the caller out of the queue when it fires.
        while not (agi.ended or agi.released):
            try:
                await self.ami.send(actions.setvar(agi.channel, "TIMEOUT(absolute)", str(WATCHDOG)))
            except AmiTimeout:
                # A loaded Asterisk answers late: the push may still land, and the next one must
                # not wait (giving up here let the watchdog throw waiting callers to the fallback).
                continue
            except AmiError:
                return  # the channel is gone (or AMI is); nothing to keep alive
            await asyncio.sleep(KEEPALIVE_INTERVAL)

    async def release_parked(self, parked: list[actions.LiveChannel]) -> int:
        """After a (re)connect: callers parked in AGI that no task of ours drives (a previous
        controller's) go back to the dialplan, which sends them on (fallback: greeting, queue)."""
        released = 0
        for ch in parked:
            if ch.uniqueid in self.channels:
                continue
            try:
                await AgiChannel(self.ami, ch.channel, ch.uniqueid, ch.linkedid, {}).release()
                released += 1
            except AmiError as exc:
                log.warning("could not release parked caller %s: %s", ch.channel, exc)
        return released
