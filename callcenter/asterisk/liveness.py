"""Liveness: the heartbeat the dialplan trusts, and the true picture after every (re)connect.

Heartbeat: AstDB `callcenter/heartbeat` = now, every HEARTBEAT_INTERVAL s; the dialplan hands a
caller to the controller only while it is fresh (asterisk-config/extensions.conf.j2).

Resync (docs/design.md#12): each time the AMI connection comes up, wait for Asterisk's
`FullyBooted` (AMI accepts a login before app_queue is loaded: docs/asterisk.md#fullybooted), then read back
Asterisk's truth and rebuild from it, step by step:
  1. channels (CoreShowChannels + each channel's CC_DID): call records settle and adopted calls
     are rebuilt with their agent, DID and queue; parked AGI callers nobody drives are released;
     callback attempts whose result was lost are settled;
  2. queues: members and pauses put back from the kept routing state (QueueAdd/QueuePause), then
     QueueStatus read back;
  3. device states (DeviceStateList) and registrations (PJSIPShowContacts): agents' presence and
     the queues' waiting lists are rebuilt.
A step that fails is retried with backoff until it succeeds (or a newer connection takes over);
`describe()` shows where it stands (`callcenter status`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from callcenter.core import events as ev
from callcenter.ami import actions
from callcenter.ami.client import AmiError
from callcenter.core.events import AmiConnected, AmiDisconnectedEvent
from callcenter.ami.port import AmiPort
from callcenter.ami.events import AsteriskBooted, AsteriskShuttingDown
from callcenter.asterisk.render import HEARTBEAT_INTERVAL
from callcenter.core.bus import Bus
from callcenter.calls.tracker import DID_VARIABLE, CallTracker
from callcenter.ivr.sessions import IvrSessions
from callcenter.routing.queues import QueueControl
from callcenter.routing.dialer import CallbackDialer
from callcenter.routing.presence import Presence

log = logging.getLogger(__name__)

BOOT_WAIT = 20.0  # seconds to wait for FullyBooted before resyncing anyway (and retrying)
RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

EVENTS = (AmiConnected, AmiDisconnectedEvent, AsteriskBooted, AsteriskShuttingDown)
ResyncState = Literal["idle", "waiting-for-boot", "running", "retrying", "done"]


@dataclass
class ResyncStatus:
    state: ResyncState = "idle"
    step: str = ""
    attempts: int = 0
    last_error: str = ""
    resyncs: int = 0  # completed
    last_resync_at: float | None = None
    last_duration: float | None = None  # seconds from FullyBooted (or connect) to done
    history: list[str] = field(default_factory=list)


class Liveness:
    """The heartbeat loop and the resync after every AMI (re)connect (a bus subscriber)."""

    def __init__(self, ami: AmiPort, bus: Bus, tracker: CallTracker, presence: Presence, queues: QueueControl,
                 sessions: IvrSessions, dialer: CallbackDialer, agents: Callable[[], list[str]],
                 clock: Callable[[], float]) -> None:
        self.ami, self.bus, self.tracker, self.presence = ami, bus, tracker, presence
        self.queues, self.sessions, self.dialer, self.agents, self.clock = queues, sessions, dialer, agents, clock
        self.status = ResyncStatus()
        self._booted = asyncio.Event()
        self._connect_seen = asyncio.Event()
        self._generation = 0  # one per connection: a resync of an older connection stops

    # -- the bus --------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        if isinstance(event, AmiConnected):
            self._generation += 1
            self._booted.clear()
            self._connect_seen.set()
            log.info("AMI connected (protocol %s); waiting for FullyBooted, then resynchronizing",
                     event.asterisk_version)
        elif isinstance(event, AsteriskBooted):
            self._booted.set()
        elif isinstance(event, AmiDisconnectedEvent):
            self._generation += 1
            self._booted.clear()
        elif isinstance(event, AsteriskShuttingDown):
            log.warning("Asterisk is shutting down (restart=%s)", event.restart)

    # -- loops ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Resync after every connect; heartbeat meanwhile."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._heartbeat(), name="heartbeat")
            while True:
                await self._connect_seen.wait()
                self._connect_seen.clear()
                await self.resync(self._generation)

    async def _heartbeat(self) -> None:
        """Tell the dialplan we are alive (AstDB callcenter/heartbeat = now)."""
        while True:
            if self.ami.state == "connected":
                try:
                    await self.ami.send(actions.db_put("callcenter", "heartbeat", str(int(self.clock()))))
                except AmiError as exc:
                    log.warning("heartbeat not written: %s", exc)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def clear_heartbeat(self) -> None:
        """On a stop: new callers go to the fallback at once, not after the heartbeat ages."""
        try:
            await self.ami.send(actions.db_del("callcenter", "heartbeat", timeout=2))
        except AmiError:
            pass

    # -- resync ---------------------------------------------------------------------------------

    async def resync(self, generation: int) -> None:
        """Wait for FullyBooted, then run each step until it succeeds (backoff between tries)."""
        st = self.status
        st.state, st.step, st.attempts, st.last_error = "waiting-for-boot", "", 0, ""
        try:
            async with asyncio.timeout(BOOT_WAIT):
                await self._booted.wait()
        except TimeoutError:
            log.warning("no FullyBooted within %g s; resynchronizing anyway (steps are retried)", BOOT_WAIT)
        started = asyncio.get_running_loop().time()
        st.state = "running"
        found: dict[str, Any] = {}
        for step in (self._channels, self._queues, self._devices):
            tries = 0
            while True:
                if self._generation != generation:
                    log.info("resync of an older connection abandoned (a newer one resyncs)")
                    return
                st.step = step.__name__.strip("_")
                try:
                    await step(found)
                    break
                except (AmiError, OSError) as exc:
                    tries += 1
                    st.attempts += 1
                    st.state, st.last_error = "retrying", f"{st.step}: {exc}"
                    delay = RETRY_BACKOFF[min(tries - 1, len(RETRY_BACKOFF) - 1)]
                    log.warning("resync step %s failed (%s); retrying in %g s", st.step, exc, delay)
                    await asyncio.sleep(delay)
                    st.state = "running"
        st.state, st.step = "done", ""
        st.resyncs += 1
        st.last_resync_at = self.clock()
        st.last_duration = round(asyncio.get_running_loop().time() - started, 3)
        summary = (f"{found['channels']} live channels, {found['ended']} calls ended while away, "
                   f"{found['released']} parked callers released, {found['waiting']} callers waiting, "
                   f"{found['registered']} agents registered")
        st.history = (st.history + [summary])[-5:]
        log.info("resync done in %.3f s: %s", st.last_duration, summary)
        await self.bus.publish(ev.PictureRebuilt(found["channels"], found["ended"], self.clock()))

    async def _channels(self, found: dict[str, Any]) -> None:
        channels = await self.ami.send(actions.core_show_channels())
        variables = await self.ami.send(actions.channel_variables(DID_VARIABLE))
        channels = [actions.LiveChannel(**{**c.__dict__, "variables": variables.get(c.uniqueid, {})})
                    for c in channels]
        changes = self.tracker.resync(channels, self.clock(), agents=self.agents())
        for change in changes:
            await self.bus.publish(change)
        parked = [c for c in channels if c.application == "AGI" and c.application_data.startswith("agi:async")]
        found["released"] = await self.sessions.release_parked(parked)
        self.dialer.settle_lost(channels)
        found["channels"] = len(channels)
        found["ended"] = sum(isinstance(c, ev.CallEnded) for c in changes)

    async def _queues(self, found: dict[str, Any]) -> None:
        found["queue_status"] = await self.queues.restore()

    async def _devices(self, found: dict[str, Any]) -> None:
        devices = await self.ami.send(actions.device_state_list())
        contacts = await self.ami.send(actions.pjsip_show_contacts())
        for change in self.presence.rebuild(found["queue_status"], devices, contacts, self.clock()):
            await self.bus.publish(change)
        found["waiting"] = sum(len(q.waiting) for q in self.presence.queues.values())
        found["registered"] = sum(a.registered for a in self.presence.agents.values())

    def describe(self) -> dict[str, Any]:
        st = self.status
        return {"state": st.state, "step": st.step, "attempts": st.attempts, "last_error": st.last_error,
                "resyncs": st.resyncs, "last_resync_at": st.last_resync_at, "last_duration": st.last_duration,
                "last": st.history[-1] if st.history else ""}
