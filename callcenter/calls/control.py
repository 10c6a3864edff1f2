"""Live call control (docs/call-control.md): hold / resume, mute, hang up, blind and attended
transfers, three-way calls and small conferences, and supervisors' monitoring. What the routes
and the CLI call; Asterisk does the media.

How, in Asterisk's terms:
- hold: the customer's and the agent's channels are redirected out of their bridge at once
  (AMI Redirect with ExtraChannel): the customer to [cc-hold] (music on hold), the agent to
  [cc-held] (silence); resume bridges them again (AMI Bridge). A phone's own hold key works too
  (Asterisk plays the music); both count as hold time (the call tracker's hold music).
- transfers: Asterisk's own BlindTransfer and Atxfer on the agent's channel, to [cc-transfer];
  an attended transfer completes when the consulting agent leaves, is cancelled with
  CancelAtxfer, and becomes a three-way call with the *3 feature (atxferthreeway) pressed on
  their behalf. A phone's Transfer key (SIP REFER) and its # / *2 keys reach the same places.
- conference: the added party's phone is called (Originate) into [cc-join], which puts it in the
  agent's bridge (BridgeAdd); a bridge of more than two mixes (bridge_softmix).
- monitoring: the supervisor's phone is called into [cc-monitor]: ChanSpy on the agent's channel;
  switching mode presses ChanSpy's 4 / 5 / 6 on the supervisor's channel.

Errors (error ids): `unknown-call`, `not-on-call`, `forbidden`, `bad-target`, `bad-number`,
`unknown-agent`, `unknown-queue`, `agent-unavailable`, `no-outbound-trunk`, `on-hold`,
`not-on-hold`, `in-conference`, `no-consultation`, `unknown-party`, `unknown-phone`,
`phone-unavailable`, `no-answer`, `bad-mode`, `not-monitoring`. A refused request leaves the call
as it was."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Callable

from callcenter.ami import actions
from callcenter.ami import control as ami_control
from callcenter.ami.events import ChannelHungUp, OriginateFinished
from callcenter.ami.port import AmiPort
from callcenter.calls import rules
from callcenter.calls.rules import Target
from callcenter.calls.tracker import CallTracker
from callcenter.config import Config
from callcenter.core.endpoints import PHONES, endpoint_of_channel, phone_endpoint, phone_interface
from callcenter.core.errors import Conflict, NotFound, Refused, TimedOut, UnknownCall
from callcenter.core.events import CallRecord

log = logging.getLogger(__name__)

TRANSFER_CONTEXT = "cc-transfer"
# How long a supervisor's phone rings for a monitor request, and a conference party's.
RING_SECONDS = 30


@dataclass
class _Held:
    customer: str  # channel names
    agent: str
    agent_name: str


class CallControl:
    """Commands on live calls. `actor`: the agent acting (an agent acts on their own leg;
    supervisors and the CLI name one, or act as the agent who has the customer)."""

    def __init__(self, ami: AmiPort, tracker: CallTracker, config: Callable[[], Config],
                 clock: Callable[[], float]) -> None:
        self.ami, self.tracker, self.config, self.clock = ami, tracker, config, clock
        self._held: dict[str, _Held] = {}  # call id → who is held
        self._consulting: dict[str, tuple[str, str]] = {}  # call id → (agent, target label)
        self._muted: set[str] = set()  # channel names
        self._originated: dict[str, asyncio.Future[bool]] = {}  # our Originate ids → answered?
        self._tasks: set[asyncio.Task[None]] = set()
        self._ringing_spies: dict[str, str] = {}  # spied channel → the supervisor's ringing channel (uniqueid)
        self._beeps: dict[str, str] = {}  # monitor session → its beeping Local channel (uniqueid)

    # -- reading ------------------------------------------------------------------------------

    def picture(self, call_id: str) -> dict[str, Any]:
        """Who is on a live call and where: each live channel with its person, its bridge, on hold
        or not; whether it is held by the controller or in a consultation."""
        call = self._call(call_id)
        people = self._people()
        talking = self._conversations(call)
        parties = []
        for uniqueid, channel in sorted(call.channels.items()):
            if channel.startswith("Local/"):
                continue
            endpoint = endpoint_of_channel(channel)
            who = endpoint if endpoint in people else (call.caller_id if uniqueid == call.call_id else channel)
            parties.append({"party": who, "uniqueid": uniqueid, "channel": channel,
                            "role": "agent" if endpoint in self.config().agents else
                            "supervisor" if endpoint in people else "customer",
                            "bridge": self.tracker.bridge_of(uniqueid), "conversation": talking.get(uniqueid, ""),
                            "on_hold": self.tracker.on_hold(uniqueid),
                            "muted": channel in self._muted})
        consulting = self._consulting.get(call_id)
        return {"call_id": call_id, "parties": parties, "held": self._holding(call) is not None,
                "consultation": {"agent": consulting[0], "target": consulting[1]} if consulting else None}

    # -- hold, mute, hang up -------------------------------------------------------------------

    async def hold(self, call_id: str, actor: str | None) -> dict[str, Any]:
        call, agent, leg_channel = self._acting(call_id, actor)
        if self._holding(call) is not None:
            raise Conflict("on-hold", f"call {call_id} is already on hold")
        customer = self._only_customer(call)
        await self.ami.send(ami_control.redirect(customer, "cc-hold", "s", extra_channel=leg_channel,
                                                 extra_context="cc-held", extra_exten="s"))
        self._held[call_id] = _Held(customer, leg_channel, agent)
        return self.picture(call_id)

    async def resume(self, call_id: str, actor: str | None) -> dict[str, Any]:
        call, _, _ = self._acting(call_id, actor)
        held = self._holding(call)
        if held is None:
            raise Conflict("not-on-hold", f"call {call_id} is not on hold")
        await self._bridge_again(held)
        del self._held[call_id]
        return self.picture(call_id)

    async def _bridge_again(self, held: _Held) -> None:
        await self.ami.send(actions.setvar(held.customer, "CC_RESUMED", "1"))  # ([cc-hold]: then no requeue)
        await self.ami.send(ami_control.bridge(held.agent, held.customer))

    async def mute(self, call_id: str, actor: str | None, muted: bool) -> dict[str, Any]:
        """Mute the agent's microphone: the customer no longer hears them (the agent still hears)."""
        _, _, channel = self._acting(call_id, actor)
        await self.ami.send(ami_control.mute_audio(channel, muted))
        (self._muted.add if muted else self._muted.discard)(channel)
        return self.picture(call_id)

    async def hangup(self, call_id: str, actor: str | None) -> dict[str, Any]:
        """The agent leaves the call (a two-party call ends; a conference goes on without them). A
        held customer is not left alone with the music: their channel ends too."""
        call, _, channel = self._acting(call_id, actor)
        held = self._holding(call)
        self._held.pop(call_id, None)
        await self.ami.send(ami_control.hangup(channel))
        if held is not None and held.customer in call.channels.values():
            await self.ami.send(ami_control.hangup(held.customer))
        return {"call_id": call_id, "hung_up": channel}

    # -- transfers ----------------------------------------------------------------------------

    def target(self, text: str) -> Target:
        config = self.config()
        return rules.parse_target(text, {n: a.extension for n, a in config.agents.items()}, config.queues,
                                  trunk=bool(config.trunk.host))

    async def transfer(self, call_id: str, actor: str | None, to: str, *, attended: bool = False,
                       note: str = "") -> dict[str, Any]:
        """Blind: the customer goes to `to` at once and the agent's leg ends. Attended: the agent
        consults `to` while the customer hears music; then `finish()`."""
        call, agent, channel = self._acting(call_id, actor)
        target = self.target(to)
        if target.kind == "agent":
            await self._check_reachable(target.name, "agent-unavailable")
            if target.name == agent:
                raise Refused("bad-target", f"{agent} cannot transfer a call to themselves")
        if call_id in self._consulting:
            raise Conflict("in-consultation", f"call {call_id} is already in a consultation")
        if attended and self._holding(call) is not None:
            raise Conflict("on-hold", "an attended transfer starts from a conversation: resume first")
        if attended and len(rules.customer_channels(call, self._people())) + len(self._live_legs(call)) > 2:
            raise Conflict("in-conference", "an attended transfer starts from a two-party call")
        if note or target.kind == "agent":
            call.handoff = {"from": agent, "to": target.label, "note": note[:2000]}
        held = self._holding(call)
        self._held.pop(call_id, None)
        if not attended:
            if held is not None:  # the customer waits in [cc-hold], not in a bridge: send them on
                # (BLINDTRANSFER as Asterisk's own transfer sets it: nobody answers → back to the queue)
                await self.ami.send(actions.setvar(held.customer, "BLINDTRANSFER", held.agent))
                await self.ami.send(ami_control.redirect(held.customer, TRANSFER_CONTEXT, target.exten))
                await self.ami.send(ami_control.hangup(held.agent))
                self.tracker.note_transfer(call_id, "blind", agent, target.label, self.clock())
            else:
                await self.ami.send(ami_control.blind_transfer(channel, TRANSFER_CONTEXT, target.exten))
            return {"call_id": call_id, "transferred": target.label, "kind": "blind"}
        # Asterisk's Atxfer presses the atxfer feature and then the extension as DTMF on the agent's
        # behalf (manager.c), so it can only dial digits: the target waits in a variable the
        # consultation inherits, and the digit "*" of [cc-transfer] dials it.
        await self.ami.send(actions.setvar(channel, "__CC_XFER", target.exten))
        await self.ami.send(ami_control.attended_transfer(channel, TRANSFER_CONTEXT, "*"))
        self._consulting[call_id] = (agent, target.label)
        self.tracker.expect_consultation(call_id, target.label)
        return {"call_id": call_id, "consulting": target.label, "kind": "attended"}

    async def finish(self, call_id: str, actor: str | None, action: str) -> dict[str, Any]:
        """End a consultation: `complete` (the customer goes to the target, the agent leaves),
        `cancel` (back to the customer) or `conference` (all three talk)."""
        if action not in ("complete", "cancel", "conference"):
            raise Refused("bad-request", 'action must be "complete", "cancel" or "conference"')
        call, agent, channel = self._acting(call_id, actor)
        consulting = self._consulting.get(call_id) or self._consultation_seen(call, agent)
        if consulting is None or consulting[0] != agent:
            raise Conflict("no-consultation", f"{agent} has no attended transfer going on call {call_id}")
        # What Asterisk says now wins over what we asked for: the customer may have hung up, or the
        # target (then the agent is back with the customer).
        customers = list(rules.customer_channels(call, self._people()))
        talking = self._conversations(call)
        if not customers:
            self._consulting.pop(call_id, None)
            raise Conflict("customer-gone", f"the customer of call {call_id} hung up: nobody to hand over")
        if talking.get(customers[0]) and talking.get(customers[0]) == talking.get(rules.live_leg(call, agent).uniqueid):
            self._consulting.pop(call_id, None)
            raise Conflict("no-consultation", f"{agent} is back with the customer: the consultation is over")
        if action == "complete":
            await self.ami.send(ami_control.hangup(channel))
        elif action == "cancel":
            await self.ami.send(ami_control.cancel_attended_transfer(channel))
        else:
            for digit in "*3":  # atxferthreeway (features.conf.j2)
                await self.ami.send(ami_control.receive_dtmf(channel, digit))
        self._consulting.pop(call_id, None)
        return {"call_id": call_id, "consultation": action, "target": consulting[1]}

    # -- conference -----------------------------------------------------------------------------

    async def add_party(self, call_id: str, actor: str | None, to: str) -> dict[str, Any]:
        """Call `to` (an agent or a number) into the agent's conversation; returns when they
        answered. Errors besides the transfer's: `no-answer`."""
        call, agent, channel = self._acting(call_id, actor)
        if self._holding(call) is not None:
            raise Conflict("on-hold", f"resume call {call_id} before adding a party")
        target = self.target(to)
        if target.kind == "queue":
            raise Refused("bad-target", "a conference adds an agent or a number, not a queue")
        dial = await self._check_reachable(target.name, "agent-unavailable") if target.kind == "agent" else \
            f"PJSIP/{target.name}@{self.config().trunk.name}"
        hotline = next(iter(self.config().dids), "")
        caller_id = f'"{call.caller_name or call.caller_id}" <{call.caller_id}>' if target.kind == "agent" else \
            f"<{hotline}>"
        uniqueid = f"conf-{secrets.token_hex(6)}"
        self.tracker.expect_join(uniqueid, call_id, by=agent)
        await self._originate(uniqueid, dial, "cc-join", "s", caller_id, {"CC_JOIN": channel})
        changed = self.tracker.note_transfer(call_id, "conference", agent, target.label, self.clock())
        return {"call_id": call_id, "added": target.label, "step": changed is not None}

    async def drop_party(self, call_id: str, actor: str | None, party: str) -> dict[str, Any]:
        """Hang up one party: an agent's name, a number, or a channel's uniqueid (`picture()`)."""
        call = self._call(call_id)
        self._acting(call_id, actor)
        for p in self.picture(call_id)["parties"]:
            if party in (p["party"], p["uniqueid"]):
                await self.ami.send(ami_control.hangup(p["channel"]))
                return {"call_id": call_id, "dropped": p["party"]}
        raise NotFound("unknown-party", f"nobody called {party!r} is on call {call.call_id}")

    # -- monitoring ---------------------------------------------------------------------------

    async def monitor(self, call_id: str, phone: str, mode: str, supervisor: str) -> dict[str, Any]:
        """Ring `phone` (a supervisor's or an agent's) and let it monitor the agent who has the
        customer, in `mode`. Returns once the phone answered; `no-answer` if it did not."""
        if mode not in rules.MONITOR_MODES:
            raise Refused("bad-mode", f"mode must be one of {', '.join(rules.MONITOR_MODES)}")
        call = self._call(call_id)
        agent = rules.owner(call)
        if not agent:
            raise NotFound("not-on-call", f"no agent talks on call {call_id} yet")
        config = self.config()
        if phone not in config.supervisors and phone not in config.agents:
            raise NotFound("unknown-phone", f"no supervisor's or agent's phone called {phone!r}")
        if phone == agent:
            raise Refused("bad-target", f"{phone} is on the call being monitored")
        device = await self._check_reachable(phone, "phone-unavailable")
        spied = call.channels[rules.live_leg(call, agent).uniqueid]
        uniqueid = f"spy-{secrets.token_hex(6)}"
        self.tracker.expect_monitor(uniqueid, call_id, supervisor or phone, mode)
        self._ringing_spies[spied] = uniqueid
        try:
            await self._originate(uniqueid, device, "cc-monitor", mode, f'"Monitor {agent}" <{agent}>',
                                  {"CC_SPY": spied})
        except Conflict:
            if self._ringing_spies.pop(spied, None) is None:  # it was hung up because the call ended
                raise Conflict("call-ended", f"call {call_id} ended while {phone} rang") from None
            raise
        self._ringing_spies.pop(spied, None)
        if spied not in call.channels.values():
            await self._quietly(ami_control.hangup(uniqueid))
            raise Conflict("call-ended", f"call {call_id} ended while {phone} rang")
        beep = config.routing.monitor_beep_seconds
        if beep:  # the parties are told (where the law wants it): a beep while the session lasts
            beeper = f"beep-{secrets.token_hex(6)}"
            self.tracker.ignore(beeper, f"{beeper}-2")
            await self.ami.send(actions.originate(
                action_id=beeper, other_id=f"{beeper}-2", channel="Local/beeps@cc-beep", context="cc-beep", exten="spy",
                caller_id="", variables={"CC_SPY": spied, "CC_BEEP_EVERY": str(beep)}))
            self._beeps[uniqueid] = beeper
        return {"call_id": call_id, "monitor": uniqueid, "agent": agent, "phone": phone, "mode": mode,
                "beep_seconds": beep}

    async def monitor_mode(self, call_id: str, monitor: str, mode: str) -> dict[str, Any]:
        if mode not in rules.MONITOR_MODES:
            raise Refused("bad-mode", f"mode must be one of {', '.join(rules.MONITOR_MODES)}")
        session = self.tracker.monitor_of(monitor)
        if session is None or session.get("ended_at") is not None:
            raise NotFound("not-monitoring", f"no monitor session {monitor!r} on call {call_id}")
        # Asterisk finds a channel by its uniqueid where it wants a name (ast_channel_get_by_name).
        await self.ami.send(ami_control.receive_dtmf(monitor, rules.MODE_DIGIT[mode]))
        self.tracker.monitor_mode(monitor, mode)
        return {"call_id": call_id, "monitor": monitor, "mode": mode}

    def on_event(self, event: Any) -> None:
        """Bus subscriber: our Originates' results; a monitor session's end stops its beep."""
        if isinstance(event, OriginateFinished):
            future = self._originated.pop(event.action_id, None)
            if future is not None and not future.done():
                future.set_result(event.success)
        elif isinstance(event, ChannelHungUp):
            self._muted.discard(event.channel)
            if event.uniqueid == event.linkedid:  # the call's first leg: no consultation outlives it
                self._consulting.pop(event.linkedid, None)
            if event.uniqueid in self._beeps:
                self._spawn(self._quietly(ami_control.hangup(self._beeps.pop(event.uniqueid))))
            for call_id, held in list(self._held.items()):
                # One side of a hold hung up: the agent → the customer goes back to their queue
                # ([cc-hold-return]); the customer → the agent's waiting leg ends.
                if event.channel == held.agent:
                    del self._held[call_id]
                    self._spawn(self._quietly(ami_control.redirect(held.customer, "cc-hold-return", "s")))
                elif event.channel == held.customer:
                    del self._held[call_id]
                    self._spawn(self._quietly(ami_control.hangup(held.agent)))
            spy = self._ringing_spies.pop(event.channel, None)
            if spy is not None:  # the monitored call ended while the supervisor's phone rang
                self._spawn(self._quietly(ami_control.hangup(spy)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, action: Any) -> None:
        """An action on a channel that may be gone meanwhile (then there is nothing left to do)."""
        try:
            await self.ami.send(action)
        except Exception as exc:  # noqa: BLE001 - logged; the channel ended on its own
            log.info("%s not done: %s", action.name, exc)



    # -- internals ----------------------------------------------------------------------------

    def _holding(self, call: CallRecord) -> _Held | None:
        """The call's hold: ours, or one seen in Asterisk at the last resync (a hold made before a
        restart: the customer in [cc-hold], their agent in [cc-held])."""
        held = self._held.get(call.call_id)
        if held is not None or not self.tracker.parked:
            return held
        places = {self.tracker.parked.get(u): (u, ch) for u, ch in call.channels.items()}
        if "cc-hold" in places and "cc-held" in places:
            agent = self.tracker.agent_of(places["cc-held"][1])
            if agent:
                held = self._held[call.call_id] = _Held(places["cc-hold"][1], places["cc-held"][1], agent)
                for uniqueid, _ in places.values():
                    self.tracker.parked.pop(uniqueid, None)
        return held

    def _conversations(self, call: CallRecord) -> dict[str, str]:
        return rules.conversations(call.channels, self.tracker.bridge_of)

    def _consultation_seen(self, call: CallRecord, agent: str) -> tuple[str, str] | None:
        """A consultation this controller did not start (before a restart, or a phone's *2): the
        agent talks with another agent, not with the customer."""
        talking = self._conversations(call)
        mine = talking.get(rules.live_leg(call, agent).uniqueid, "")
        customers = rules.customer_channels(call, self._people())
        if not mine or any(talking.get(u) == mine for u in customers):
            return None
        other = next((x.agent for x in call.legs if x.agent != agent and x.ended_at is None and x.uniqueid
                      and talking.get(x.uniqueid) == mine), None)
        return (agent, other) if other else None

    async def _originate(self, uniqueid: str, channel: str, context: str, exten: str, caller_id: str,
                         variables: dict[str, str]) -> None:
        answered = asyncio.get_running_loop().create_future()
        self._originated[uniqueid] = answered
        try:
            await self.ami.send(actions.originate(action_id=uniqueid, channel=channel, context=context, exten=exten,
                                                  caller_id=caller_id, variables=variables,
                                                  timeout_ms=RING_SECONDS * 1000))
            ok = await asyncio.wait_for(answered, RING_SECONDS + 5)
        except TimeoutError:
            self.tracker.forget(uniqueid)
            raise TimedOut("no-answer", f"{channel} did not answer") from None
        except BaseException:
            self.tracker.forget(uniqueid)
            raise
        finally:
            self._originated.pop(uniqueid, None)
        if not ok:
            self.tracker.forget(uniqueid)
            raise Conflict("no-answer", f"{channel} did not answer")

    def _people(self) -> set[str]:
        config = self.config()
        return set(config.agents) | set(config.supervisors)

    def _call(self, call_id: str) -> CallRecord:
        call = self.tracker.get(call_id)
        if call is None or call.ended_at is not None:
            raise UnknownCall(call_id)
        return call

    def _live_legs(self, call: CallRecord) -> list[str]:
        return [x.agent for x in call.legs if x.ended_at is None and x.answered_at is not None]

    def _acting(self, call_id: str, actor: str | None) -> tuple[CallRecord, str, str]:
        """The live call, the acting agent and their channel's name. Errors: `unknown-call`, `not-on-call`."""
        call = self._call(call_id)
        agent = actor or rules.owner(call)
        if not agent:
            raise NotFound("not-on-call", f"no agent talks on call {call_id} yet")
        leg = rules.live_leg(call, agent)
        return call, agent, call.channels[leg.uniqueid]

    def _only_customer(self, call: CallRecord) -> str:
        customers = rules.customer_channels(call, self._people())
        if len(customers) != 1 or len(self._live_legs(call)) != 1:
            raise Conflict("in-conference", "hold works on a two-party call (a conference has no hold)")
        return next(iter(customers.values()))

    async def _check_reachable(self, person: str, error: str) -> str:
        """The dialable device of `person`'s phone that is registered: their desk phone, else their
        browser's softphone (docs/softphone.md). Errors: `error` (409) if neither is."""
        contacts = await self.ami.send(actions.pjsip_show_contacts())
        live = {c.aor for c in contacts if c.status in ("Reachable", "NonQualified", "Created")}
        for phone in PHONES:
            if phone_endpoint(person, phone) in live:
                return phone_interface(person, phone)
        raise Conflict(error, f"{person}'s phone is not registered (logged out)")
