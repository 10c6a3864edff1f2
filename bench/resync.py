"""Benchmark: resync convergence, the time until the controller's picture matches Asterisk's
(budget <= 2 s). Prints figures; not a test.

    .venv/bin/python -m bench.resync                    # (a) 5 Asterisk restarts, (b) 3 controller restarts
    .venv/bin/python -m bench.resync --rounds 2         # 2 rounds of each
    .venv/bin/python -m bench.resync --only asterisk    # or --only controller

Run from the repository root. It starts its own `callcenter run` (real Asterisk 22 + controller)
from a temporary folder (bench/_harness.py: SIP 35060, AMI 35038, API 38080, RTP 37000-37999;
SipPhones on 50000+) and stops it at the end (SIGTERM: the controller stops Asterisk too).
Config: queue `support` (agent1, agent2), queue `sales` (agent3), DID 8005550501 (no flow: beep,
then `support`).

The known state, set up before every round with fresh trunk callers: agent1..agent3 registered
(SipPhones), agent2 paused with the reason "lunch" (POST /api/agents/agent2/pause), one caller
connected to agent1 through `support` (AgentConnect), two callers waiting in `support`
(QueueCallerJoin; agent1 is busy, ringinuse=no, agent2 paused, agent3 not a member). The round
starts only once the controller's picture matches Asterisk's (so the state is known on both sides).

"The picture matches" is checked by polling, back to back, Asterisk through the benchmark's own AMI
connection (QueueStatus, PJSIPShowContacts, DeviceStateList, CoreShowChannels, Status with CC_DID)
and then the controller's REST API (/api/queues, /api/agents, /api/calls), at two levels:
  core: per queue, the members (QueueMember vs /api/queues members) and each member's pause state
        and reason (Paused/PausedReason vs /api/agents paused + the member's pause_reason); per
        agent, registered (a PJSIPShowContacts contact vs /api/agents registered); per queue, the
        number of waiting callers (QueueEntry vs /api/queues waiting); the number of live channels
        (CoreShowChannel vs the channels of /api/calls active).
  full: core, plus each agent's state (what Asterisk implies: logged_out without contact,
        unreachable if every contact is Unreachable, ringing/on_call from the device state or the
        member's InCall, paused, ready; vs /api/agents state), the waiting callers' uniqueids, the
        channel names, and per call (caller leg = Uniqueid == Linkedid): connected to agentN (a
        PJSIP/agentN leg Up in the caller's bridge), its DID (CC_DID) and queue, or queued in the
        queue its Queue() runs, vs /api/calls active (state, agent, did, queue).
A level has converged at the end of the first poll of a run of matching polls that lasts --stable
seconds (default 1); a mismatch after a match is counted as a flap (and printed).

(a) Asterisk restart (--rounds, default 5): SIGKILL Asterisk (the controller notices within 0.5 s,
    waits 0.5 s and starts a new one; the calls are lost). The benchmark reconnects its own AMI
    connection (a login try every 50 ms) and the clock starts when `FullyBooted` of the new Asterisk
    arrives on it (Asterisk sends it right after the login answer when already booted). Measured
    from there to the picture matching; also the controller's own `resync.last_duration` (its
    FullyBooted to done) and, from /api/status, when its AMI connection came back and when its
    resync ended, on the same clock.
(b) controller restart (--rounds, default 3): SIGKILL the controller only (Asterisk keeps running
    with the calls), start `callcenter run` again (it adopts Asterisk). Measured from just before
    the process start to (1) the ready banner in its output and (2) the picture matching.
The pyVoIP test phones tear calls down ~32 s after answer: every round places fresh calls and
hangs them up at its end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench._harness import (
    PHONE_PORTS,
    REPO,
    SIP_PORT,
    AmiWatch,
    BenchSystem,
    PortAllocator,
    SipPhone,
    exit_on_sigterm,
    percentile,
)


BUDGET = 2.0  # seconds
DID = "8005550501"
AGENT_QUEUE = {"agent1": "support", "agent2": "support", "agent3": "sales"}
QUEUES = ("support", "sales")
PAUSED_AGENT, PAUSE_REASON = "agent2", "lunch"
QUEUES_YAML = ("  support: {strategy: ringall, ring_timeout: 10, wrapup: 0}\n"
               "  sales: {strategy: ringall, ring_timeout: 10, wrapup: 0}\n")
AGENTS_YAML = ('  agent1: {full_name: Ada Agent, extension: "1001", queues: [support]}\n'
               '  agent2: {full_name: Bea Agent, extension: "1002", queues: [support]}\n'
               '  agent3: {full_name: Cy Agent, extension: "1003", queues: [sales]}\n')
DIDS_YAML = f'  "{DID}": {{name: Resync, greeting: beep, queue: support}}\n'
BUSY_DEVICE = frozenset({"INUSE", "BUSY", "ONHOLD", "RINGINUSE"})  # as callcenter/routing/presence.py
UNREACHABLE = frozenset({"Unreachable", "Unavailable"})


# -- plumbing ---------------------------------------------------------------------------------------

def new_watch(system: BenchSystem, patience: float = 60.0) -> AmiWatch:
    """The harness's AmiWatch, its login retried every 50 ms (not 0.5 s) for `patience` s, so a
    restarted Asterisk is seen as soon as it opens its AMI port."""
    watch = AmiWatch("127.0.0.1", system.config.ami.port, system.config.ami.username, system.creds.ami_secret,
                     retry=0.05, patience=patience)
    return watch.start(timeout=patience + 10)


def rows(reply: Any, event: str) -> list[dict[str, Any]]:
    items = reply if isinstance(reply, list) else [reply]
    return [dict(m) for m in items if hasattr(m, "get") and m.get("Event") == event]


def agent_of(name: str) -> str:
    """'PJSIP/agent1' or 'PJSIP/agent1-0000000a' → 'agent1' (one of ours), else ''."""
    tech, _, rest = (name or "").partition("/")
    if tech.upper() != "PJSIP":
        return ""
    rest = re.sub(r"-[0-9a-f]{8}$", "", rest)
    return rest if rest in AGENT_QUEUE else ""


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def fmt(seconds: float | None) -> str:
    return "   n/a " if seconds is None else f"{seconds:6.3f}"


def stats(values: list[float], budget: float | None = BUDGET) -> str:
    if not values:
        return "no samples"
    p50, mx = percentile(values, 50), max(values)
    text = f"p50 {p50:.3f} s, max {mx:.3f} s, min {min(values):.3f} s (n={len(values)})"
    if budget:
        text += f"; p50 {p50 / budget:.2f}x, max {mx / budget:.2f}x the {budget:g} s budget"
    return text


def short(diffs: dict[str, tuple[Any, Any]], limit: int = 6) -> str:
    parts = [f"{k}: asterisk={a!r} api={c!r}" for k, (a, c) in list(diffs.items())[:limit]]
    more = len(diffs) - limit
    return "; ".join(parts) + (f"; (+{more} more)" if more > 0 else "")


# -- the two pictures -------------------------------------------------------------------------------

def asterisk_picture(watch: AmiWatch) -> dict[str, Any]:
    qs, contacts, devices, channels, status = watch.send_all(
        {"Action": "QueueStatus"}, {"Action": "PJSIPShowContacts"}, {"Action": "DeviceStateList"},
        {"Action": "CoreShowChannels"}, {"Action": "Status", "Variables": "CC_DID"})
    dids: dict[str, str] = {}
    for m in rows(status, "Status"):
        for key, value in m.items():
            for item in value if isinstance(value, list) else [value]:
                if str(key) == "Variable" and str(item).startswith("CC_DID="):
                    val = str(item).partition("=")[2]
                    dids[str(m.get("Uniqueid", ""))] = "" if val == "(null)" else val
    return {"queues": qs, "contacts": contacts, "devices": devices, "channels": channels, "dids": dids}


def api_picture(api: Callable[..., Any]) -> dict[str, Any]:
    return {"queues": api("/api/queues"), "agents": api("/api/agents"), "calls": api("/api/calls?limit=1")["active"]}


def compare(a: dict[str, Any], c: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(core differences, further differences of the full level): name → (Asterisk's, the API's)."""
    core: dict[str, Any] = {}
    full: dict[str, Any] = {}

    def check(bucket: dict[str, Any], key: str, want: Any, got: Any) -> None:
        if want != got:
            bucket[key] = (want, got)

    members: dict[str, dict[str, dict[str, Any]]] = {q: {} for q in QUEUES}
    entries: dict[str, list[str]] = {q: [] for q in QUEUES}
    for m in rows(a["queues"], "QueueMember"):
        agent = agent_of(m.get("StateInterface") or m.get("Location", "")) or m.get("Name", "")
        members.setdefault(m.get("Queue", ""), {})[agent] = m
    for e in rows(a["queues"], "QueueEntry"):
        entries.setdefault(e.get("Queue", ""), []).append(e.get("Uniqueid", ""))
    contacts: dict[str, list[str]] = {}
    for r in rows(a["contacts"], "ContactList"):
        name = r.get("Endpoint") or str(r.get("ObjectName", "")).partition(";@")[0]
        contacts.setdefault(name, []).append(str(r.get("Status", "")))
    devices = {agent_of(d.get("Device", "")): d.get("State", "") for d in rows(a["devices"], "DeviceStateChange")}
    channels = rows(a["channels"], "CoreShowChannel")

    api_queues = {q["name"]: q for q in c["queues"]}
    api_agents = {x["name"]: x for x in c["agents"]}

    def member_pause(m: dict[str, Any]) -> tuple[bool, str]:
        paused = str(m.get("Paused", "0")) == "1"
        return paused, (str(m.get("PausedReason", "")) if paused else "")

    for q in QUEUES:
        am = members.get(q, {})
        cq = api_queues.get(q, {"members": [], "waiting": None, "callers": []})
        cm = {m["agent"]: m for m in cq.get("members", [])}
        check(core, f"members[{q}]", sorted(am), sorted(cm))
        for agent in sorted(set(am) & set(cm)):
            paused = bool(api_agents.get(agent, {}).get("paused"))
            check(core, f"pause[{q}/{agent}]", member_pause(am[agent]),
                  (paused, cm[agent].get("pause_reason", "") if paused else ""))
        check(core, f"waiting[{q}]", len(entries.get(q, [])), cq.get("waiting"))
        check(full, f"waiting-ids[{q}]", sorted(entries.get(q, [])),
              sorted(x.get("uniqueid", "") for x in cq.get("callers", [])))
    for agent in AGENT_QUEUE:
        check(core, f"registered[{agent}]", bool(contacts.get(agent)), api_agents.get(agent, {}).get("registered"))
    api_channels = sorted(name for call in c["calls"] for name in call.get("channels", []))
    check(core, "channels", len(channels), len(api_channels))
    check(full, "channel-names", sorted(ch.get("Channel", "") for ch in channels), api_channels)

    # Each agent's state, as Asterisk implies it (the rules of callcenter/routing/presence.py).
    for agent in AGENT_QUEUE:
        mine = [rows_[agent] for rows_ in members.values() if agent in rows_]
        statuses = contacts.get(agent, [])
        device = devices.get(agent, "UNKNOWN")
        if not statuses:
            want = "logged_out"
        elif all(s in UNREACHABLE for s in statuses):
            want = "unreachable"
        elif device == "RINGING":
            want = "ringing"
        elif device in BUSY_DEVICE or any(str(m.get("InCall", "0")) == "1" for m in mine):
            want = "on_call"
        elif any(member_pause(m)[0] for m in mine):
            want = "paused"
        else:
            want = "ready"
        check(full, f"state[{agent}]", want, api_agents.get(agent, {}).get("state"))

    # Per call: connected to whom, with which DID, or queued where.
    expected: dict[str, tuple[Any, ...]] = {}
    for caller in channels:
        lid = caller.get("Linkedid", "")
        if caller.get("Uniqueid") != lid:
            continue
        queue = caller.get("ApplicationData", "").split(",")[0] if caller.get("Application") == "Queue" else None
        bridge = caller.get("BridgeId", "")
        agent = next((agent_of(leg.get("Channel", "")) for leg in channels
                      if leg is not caller and leg.get("Linkedid") == lid and bridge and leg.get("BridgeId") == bridge
                      and leg.get("ChannelStateDesc") == "Up" and agent_of(leg.get("Channel", ""))), None)
        state = "connected" if agent else "queued" if queue else "?"
        expected[lid] = (state, agent, a["dids"].get(lid, ""), queue)
    got: dict[str, tuple[Any, ...]] = {}
    for call in c["calls"]:
        if call.get("call_id") in expected and expected[call["call_id"]][0] == "?":
            got[call["call_id"]] = expected[call["call_id"]]  # neither connected nor queued: not compared
        else:
            got[call.get("call_id", "")] = (call.get("state"), call.get("agent"), call.get("did"), call.get("queue"))
    for call_id in sorted(set(expected) | set(got)):
        check(full, f"call[{call_id}]", expected.get(call_id), got.get(call_id))
    return core, full


# -- convergence ------------------------------------------------------------------------------------

class Converged:
    def __init__(self) -> None:
        self.at: float | None = None  # end of the first poll of the stable matching run
        self.since: float | None = None
        self.flaps: list[tuple[float, dict[str, Any]]] = []
        self.last_diff: dict[str, Any] = {}
        self.diff_before: dict[str, Any] = {}  # what differed in the last poll before the match

    def feed(self, diffs: dict[str, Any], t: float, stable: float) -> None:
        if self.at is not None:
            return
        if diffs:
            if self.since is not None:
                self.flaps.append((t, diffs))
            self.since, self.last_diff = None, diffs
        elif self.since is None:
            self.since, self.diff_before = t, self.last_diff
        if self.since is not None and t - self.since >= stable:
            self.at = self.since


class StatusTracker:
    """Watches /api/status until a resync newer than `after` is done; its times on our clock."""

    def __init__(self, api: Callable[..., Any], after: int) -> None:
        self.api, self.after = api, after
        self.offset = time.time() - time.monotonic()  # epoch → monotonic
        self.done: dict[str, Any] | None = None
        self.next_poll = 0.0

    def poll(self) -> None:
        now = time.monotonic()
        if self.done is not None or now < self.next_poll:
            return
        self.next_poll = now + 0.05
        try:
            data = self.api("/api/status")
        except Exception:  # noqa: BLE001 - not up (yet)
            return
        r = data.get("resync", {})
        if r.get("resyncs", 0) > self.after and r.get("state") == "done":
            self.done = {"seen_at": now, "last_duration": r.get("last_duration"), "last": r.get("last", ""),
                         "attempts": r.get("attempts"), "last_error": r.get("last_error"),
                         "resync_at": (r["last_resync_at"] - self.offset) if r.get("last_resync_at") else None,
                         "connected_at": ((data["ami"]["connected_since"] - self.offset)
                                          if data.get("ami", {}).get("connected_since") else None)}


def converge(watch: AmiWatch, api: Callable[..., Any], timeout: float, stable: float,
             tracker: StatusTracker | None = None, extra_done: Callable[[], bool] = lambda: True,
             ) -> tuple[Converged, Converged, list[float]]:
    """Poll both pictures until core and full have converged (and the tracker saw the resync)."""
    core, full = Converged(), Converged()
    durations: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            a = asterisk_picture(watch)
            c = api_picture(api)
            d_core, d_more = compare(a, c)
        except Exception as exc:  # noqa: BLE001 - the API not up yet, AMI busy: not matching
            d_core = d_more = {"(error)": (type(exc).__name__, str(exc)[:160])}
        t1 = time.monotonic()
        durations.append(t1 - t0)
        core.feed(d_core, t1, stable)
        full.feed({**d_core, **d_more}, t1, stable)
        if tracker is not None:
            tracker.poll()
        if core.at is not None and full.at is not None and (tracker is None or tracker.done) and extra_done():
            break
        time.sleep(0.01)
    return core, full, durations


# -- phones and calls -------------------------------------------------------------------------------

class Agents:
    """agent1..agent3's phones, registered; re-REGISTERed when Asterisk lost their contact."""

    def __init__(self, system: BenchSystem, ports: PortAllocator) -> None:
        self.system, self.ports = system, ports
        self.phones: dict[str, SipPhone] = {}
        self.reregistered = 0
        for name in AGENT_QUEUE:
            self.phones[name] = self._phone(name)

    def _phone(self, name: str) -> SipPhone:
        phone = SipPhone(server_port=SIP_PORT, username=name, password=self.system.creds.agent_passwords[name],
                         **self.ports.allocate().as_kwargs())
        phone.start()
        return phone

    def ensure_registered(self, watch: AmiWatch) -> list[str]:
        """REGISTER again the phones Asterisk has no contact of; returns their names."""
        reply = watch.send({"Action": "PJSIPShowContacts"}, as_list=True)
        have = {r.get("Endpoint") for r in rows(reply, "ContactList")}
        missing = [n for n in self.phones if n not in have]
        for name in missing:
            try:
                self.phones[name]._phone.sip.register_blocking(5)
            except Exception:  # noqa: BLE001 - start over with a new phone
                with contextlib.suppress(Exception):
                    self.phones[name].stop()
                self.phones[name] = self._phone(name)
            self.reregistered += 1
        deadline = time.monotonic() + 10
        while missing and time.monotonic() < deadline:
            reply = watch.send({"Action": "PJSIPShowContacts"}, as_list=True)
            if {r.get("Endpoint") for r in rows(reply, "ContactList")} >= set(self.phones):
                break
            time.sleep(0.1)
        return missing

    def drop_calls(self) -> list[threading.Thread]:
        """Hang up whatever calls the phones still have (in threads: a BYE may wait 2 s for its 200)."""
        threads = []
        for phone in self.phones.values():
            with contextlib.suppress(Exception):
                while True:
                    phone.wait_for_incoming(0)  # forget offers nobody took
            for call in phone.calls():
                t = threading.Thread(target=_hangup, args=(call,), daemon=True)
                t.start()
                threads.append(t)
        return threads

    def stop(self) -> None:
        for phone in self.phones.values():
            with contextlib.suppress(Exception):
                phone.stop()


def event_of(name: str, caller_id: str) -> Callable[[dict[str, str]], bool]:
    return lambda e: e.get("Event") == name and e.get("CallerIDNum") == caller_id


def _hangup(call: Any) -> None:
    with contextlib.suppress(Exception):
        call.hangup()


def _stop(phone: SipPhone) -> None:
    with contextlib.suppress(Exception):
        phone.stop()


class Callers:
    """The round's trunk callers: one connected to agent1, two waiting in `support`."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.phones: list[SipPhone] = []
        self.calls: list[Any] = []
        self.ids: list[str] = []

    def place(self, watch: AmiWatch, agents: Agents, ports: PortAllocator) -> None:
        agent1 = agents.phones["agent1"]
        got: dict[str, Any] = {}

        def answer() -> None:
            try:
                offer = agent1.wait_for_incoming(20)
                offer.answer()
                got["call"] = offer
            except Exception as exc:  # noqa: BLE001 - reported below
                got["error"] = exc
        for i in range(3):
            cid = f"5557{self.tag}{i:02d}"
            phone = SipPhone(server_port=SIP_PORT, caller_id=cid, **ports.allocate().as_kwargs())
            phone.start()
            self.phones.append(phone)
            self.ids.append(cid)
            mark = watch.mark()
            answerer = None
            if i == 0:
                answerer = threading.Thread(target=answer, daemon=True)
                answerer.start()
            self.calls.append(phone.call(DID, timeout=10))
            if i == 0:
                watch.wait_for(event_of("AgentConnect", cid), 25, start=mark, what=f"AgentConnect of {cid}")
                assert answerer is not None
                answerer.join(5)
                if "error" in got:
                    raise RuntimeError(f"agent1 did not answer: {got['error']}")
            else:
                watch.wait_for(event_of("QueueCallerJoin", cid), 20, start=mark, what=f"QueueCallerJoin of {cid}")

    def drop(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=_stop, args=(p,), daemon=True) for p in self.phones]
        for t in threads:
            t.start()
        return threads


def wait_no_channels(watch: AmiWatch, timeout: float = 10) -> int:
    """Until Asterisk has no channel left (hangs up leftovers after `timeout`); returns how many were left."""
    deadline = time.monotonic() + timeout
    left: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        left = rows(watch.send({"Action": "CoreShowChannels"}, as_list=True), "CoreShowChannel")
        if not left:
            return 0
        time.sleep(0.1)
    for ch in left:
        with contextlib.suppress(Exception):
            watch.send({"Action": "Hangup", "Channel": ch.get("Channel", "")}, as_list=False)
    time.sleep(1)
    return len(left)


def ensure_paused(watch: AmiWatch, api: Callable[..., Any]) -> None:
    reply = watch.send({"Action": "QueueStatus", "Queue": AGENT_QUEUE[PAUSED_AGENT]}, as_list=True)
    for m in rows(reply, "QueueMember"):
        if agent_of(m.get("StateInterface") or m.get("Location", "")) == PAUSED_AGENT:
            if str(m.get("Paused")) == "1" and m.get("PausedReason") == PAUSE_REASON:
                return
    api(f"/api/agents/{PAUSED_AGENT}/pause", {"reason": PAUSE_REASON})


def prepare_round(watch: AmiWatch, api: Callable[..., Any], agents: Agents, ports: PortAllocator, tag: str,
                  stable: float) -> tuple[Callers, str]:
    """The known state, on both sides. Returns the callers and a note ('' if the pictures matched)."""
    wait_no_channels(watch)
    for t in agents.drop_calls():
        t.join(3)
    missing = agents.ensure_registered(watch)
    ensure_paused(watch, api)
    callers = Callers(tag)
    callers.place(watch, agents, ports)
    core, full, _ = converge(watch, api, timeout=10, stable=min(stable, 0.5))
    note = "" if full.at is not None else f"before the kill the pictures differed: {short(full.last_diff)}"
    if missing:
        note = (note + "; " if note else "") + f"re-REGISTERed {', '.join(missing)} (no contact in Asterisk)"
    return callers, note


# -- (a) Asterisk restart -----------------------------------------------------------------------------

def asterisk_rounds(system: BenchSystem, watch: AmiWatch, api: Callable[..., Any], agents: Agents, ports: PortAllocator,
                    args: argparse.Namespace) -> tuple[AmiWatch, dict[str, list[float]]]:
    out: dict[str, list[float]] = {k: [] for k in ("core", "full", "last_duration", "ctl_connect", "ctl_done",
                                                   "boot", "kill_connect")}
    print(f"(a) Asterisk restart: {args.asterisk_rounds} rounds", flush=True)
    print("    times in s after the bench's AMI saw FullyBooted: ctl AMI up / ctl resync done (/api/status), "
          "picture matches core / full; last_duration = the controller's own", flush=True)
    for i in range(args.asterisk_rounds):
        callers = None
        try:
            callers, note = prepare_round(watch, api, agents, ports, f"1{i}", args.stable)
            before = api("/api/status")["resync"]["resyncs"]
            old_pid = system.asterisk_pid() or None
            if old_pid is None:
                raise RuntimeError("no Asterisk pid file")
            watch.stop()
            t_kill = time.monotonic()
            os.kill(old_pid, signal.SIGKILL)
            while not process_gone(old_pid):
                time.sleep(0.005)
            watch = new_watch(system)
            t_boot, _ = watch.wait_for(lambda e: e.get("Event") == "FullyBooted", 60, what="FullyBooted")
            tracker = StatusTracker(api, before)
            core, full, polls = converge(watch, api, args.timeout, args.stable, tracker)
            new_pid = system.asterisk_pid() or None
            system.started_asterisk_pid = new_pid
            r = tracker.done or {}
            rel = {k: (r[k] - t_boot) if r.get(k) is not None else None for k in ("connected_at", "resync_at")}
            c_at = core.at - t_boot if core.at is not None else None
            f_at = full.at - t_boot if full.at is not None else None
            print(f"  round {i + 1}: pid {old_pid} → {new_pid}; kill → FullyBooted {t_boot - t_kill:5.2f} s | "
                  f"ctl AMI up {fmt(rel['connected_at'])}, resync done {fmt(rel['resync_at'])} "
                  f"(last_duration {fmt(r.get('last_duration'))}) | match core {fmt(c_at)}, full {fmt(f_at)}"
                  f"{f' = {f_at / BUDGET:.2f}x budget' if f_at is not None else ''} | poll p50 "
                  f"{percentile(polls, 50) * 1000:.0f} ms", flush=True)
            if note:
                print(f"      note: {note}", flush=True)
            if r.get("attempts"):
                print(f"      resync retried {r['attempts']}x; last error: {r.get('last_error')}", flush=True)
            for name, conv in (("core", core), ("full", full)):
                if conv.at is None:
                    print(f"      {name} NEVER matched within {args.timeout:g} s; last difference: "
                          f"{short(conv.last_diff, 12)}", flush=True)
                for t, d in conv.flaps:
                    print(f"      {name} flapped at +{t - t_boot:.3f} s: {short(d)}", flush=True)
                if args.verbose and conv.at is not None:
                    print(f"      {name}: last difference before the match: {short(conv.diff_before)}", flush=True)
            if args.verbose and r:
                print(f"      resync: {r.get('last')}", flush=True)
            out["boot"].append(t_boot - t_kill)
            if r.get("connected_at") is not None:
                out["kill_connect"].append(r["connected_at"] - t_kill)
            if c_at is not None:
                out["core"].append(c_at)
            if f_at is not None:
                out["full"].append(f_at)
            if r.get("last_duration") is not None:
                out["last_duration"].append(float(r["last_duration"]))
            for key, val in (("ctl_connect", rel["connected_at"]), ("ctl_done", rel["resync_at"])):
                if val is not None:
                    out[key].append(val)
        except Exception as exc:  # noqa: BLE001 - reported, next round
            print(f"  round {i + 1}: {type(exc).__name__}: {exc}", flush=True)
            if not watch._thread.is_alive():
                watch = new_watch(system)
        finally:
            threads = callers.drop() if callers is not None else []
            threads += agents.drop_calls()
            for th in threads:
                th.join(5)
    return watch, out


# -- (b) controller restart ---------------------------------------------------------------------------

def start_controller(system: BenchSystem) -> tuple[float, subprocess.Popen[str], int]:
    """`callcenter run` again, as BenchSystem.start does, its output appended to the same log."""
    offset = system.log_path.stat().st_size
    out = open(system.log_path, "a")  # noqa: SIM115 - the child writes it
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "--config", str(system.config_path), "run"],
                            stdout=out, stderr=subprocess.STDOUT, env=system.env, cwd=REPO, text=True)
    out.close()
    system.proc = proc
    return t0, proc, offset


class BannerWatch:
    """Stamps when the ready banner shows up in the new controller's output (file polled every 5 ms)."""

    def __init__(self, path: Path, offset: int, proc: subprocess.Popen[str]) -> None:
        self.path, self.offset, self.proc = path, offset, proc
        self.at: float | None = None
        self.line = ""
        self.exited: int | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                text = f.read().decode(errors="replace")
            m = re.search(r"callcenter is running \(([^)]*)\)", text)
            if m:
                self.at, self.line = time.monotonic(), m.group(0)
                return
            if self.proc.poll() is not None:
                self.exited = self.proc.returncode
                return
            time.sleep(0.005)

    def seen(self) -> bool:
        return self.at is not None or self.exited is not None

    def stop(self) -> None:
        self._stop = True
        self._thread.join(2)


def controller_rounds(system: BenchSystem, watch: AmiWatch, api: Callable[..., Any], agents: Agents, ports: PortAllocator,
                      args: argparse.Namespace) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("banner", "core", "full", "last_duration", "ctl_done",
                                                   "own_ready")}
    print(f"(b) controller restart: {args.controller_rounds} rounds", flush=True)
    print("    times in s after the new `callcenter run` started: ready banner, ctl resync done (/api/status), "
          "picture matches core / full", flush=True)
    for i in range(args.controller_rounds):
        callers = None
        try:
            callers, note = prepare_round(watch, api, agents, ports, f"5{i}", args.stable)
            assert system.proc is not None
            ast_before = system.asterisk_pid() or None
            system.proc.kill()
            system.proc.wait(10)
            t0, proc, offset = start_controller(system)
            banner = BannerWatch(system.log_path, offset, proc)
            tracker = StatusTracker(api, 0)
            core, full, polls = converge(watch, api, args.timeout, args.stable, tracker, extra_done=banner.seen)
            banner.stop()
            if banner.exited is not None:
                raise RuntimeError(f"callcenter run exited ({banner.exited}):\n{system.log_tail()}")
            r = tracker.done or {}
            b_at = banner.at - t0 if banner.at is not None else None
            done_at = r["resync_at"] - t0 if r.get("resync_at") is not None else None
            c_at = core.at - t0 if core.at is not None else None
            f_at = full.at - t0 if full.at is not None else None
            adopted = "adopted" in banner.line and f"pid {ast_before}" in banner.line
            own = re.search(r"ready in ([0-9.]+) s", banner.line)
            if own:
                out["own_ready"].append(float(own.group(1)))
            print(f"  round {i + 1}: banner {fmt(b_at)} ({'adopted' if adopted else 'NOT adopted: ' + banner.line}) "
                  f"| resync done {fmt(done_at)} (last_duration {fmt(r.get('last_duration'))}) | match core "
                  f"{fmt(c_at)}, full {fmt(f_at)}"
                  f"{f' = {f_at / BUDGET:.2f}x budget' if f_at is not None else ''} | poll p50 "
                  f"{percentile(polls, 50) * 1000:.0f} ms", flush=True)
            if note:
                print(f"      note: {note}", flush=True)
            for name, conv in (("core", core), ("full", full)):
                if conv.at is None:
                    print(f"      {name} NEVER matched within {args.timeout:g} s; last difference: "
                          f"{short(conv.last_diff, 12)}", flush=True)
                for t, d in conv.flaps:
                    print(f"      {name} flapped at +{t - t0:.3f} s: {short(d)}", flush=True)
                if args.verbose and conv.at is not None:
                    print(f"      {name}: last difference before the match: {short(conv.diff_before)}", flush=True)
            if args.verbose and r:
                print(f"      resync: {r.get('last')}", flush=True)
            for key, val in (("banner", b_at), ("core", c_at), ("full", f_at), ("ctl_done", done_at),
                             ("last_duration", r.get("last_duration"))):
                if val is not None:
                    out[key].append(float(val))
        except Exception as exc:  # noqa: BLE001 - reported, next round
            print(f"  round {i + 1}: {type(exc).__name__}: {exc}", flush=True)
        finally:
            threads = callers.drop() if callers is not None else []
            for th in threads:
                th.join(5)
            for th in agents.drop_calls():
                th.join(5)
    return out


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, help="rounds of each part (default: 5 Asterisk, 3 controller restarts)")
    parser.add_argument("--only", choices=("asterisk", "controller"), help="run one part only")
    parser.add_argument("--stable", type=float, default=1.0,
                        help="seconds the pictures must keep matching to count as converged (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on a round after this many s (30)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="what differed just before each match")
    args = parser.parse_args()
    args.asterisk_rounds = 5 if args.rounds is None else args.rounds
    args.controller_rounds = 3 if args.rounds is None else args.rounds
    if args.only == "asterisk":
        args.controller_rounds = 0
    elif args.only == "controller":
        args.asterisk_rounds = 0
    exit_on_sigterm()

    started = time.monotonic()
    system = BenchSystem(DIDS_YAML, {}, keep=args.keep, queues_yaml=QUEUES_YAML, agents_yaml=AGENTS_YAML)
    watch: AmiWatch | None = None
    agents: Agents | None = None
    ports = PortAllocator(**PHONE_PORTS)
    results_a: dict[str, list[float]] = {}
    results_b: dict[str, list[float]] = {}
    try:
        print(f"starting callcenter in {system.dir} ...", flush=True)
        system.start()
        print(f"ready in {system.ready_seconds:.1f} s (controller pid {system.proc.pid if system.proc else '?'}, "
              f"Asterisk pid {system.started_asterisk_pid})", flush=True)
        watch = new_watch(system)
        api = functools.partial(system.call, timeout=5)
        agents = Agents(system, ports)
        if args.asterisk_rounds:
            watch, results_a = asterisk_rounds(system, watch, api, agents, ports, args)
        if args.controller_rounds:
            results_b = controller_rounds(system, watch, api, agents, ports, args)
        print()
        print(f"== resync convergence (budget {BUDGET:g} s; a level counts once it held {args.stable:g} s) ==")
        if args.asterisk_rounds:
            a = results_a
            print(f"(a) Asterisk SIGKILLed, {args.asterisk_rounds} rounds; from the bench's FullyBooted:")
            print(f"  picture matches, core:           {stats(a['core'])}")
            print(f"  picture matches, full:           {stats(a['full'])}")
            print(f"  controller resync.last_duration: {stats(a['last_duration'])}")
            print(f"  controller AMI reconnected:      {stats(a['ctl_connect'], None)}")
            print(f"  controller resync done:          {stats(a['ctl_done'], None)}")
            print(f"  (kill → FullyBooted:             {stats(a['boot'], None)})")
            print(f"  (kill → controller AMI up:       {stats(a['kill_connect'], None)})")
        if args.controller_rounds:
            b = results_b
            print(f"(b) controller SIGKILLed and started again, {args.controller_rounds} rounds; from the process start:")
            print(f"  ready banner:                    {stats(b['banner'], None)}")
            print(f"  (its own 'ready in', 0.1 s steps: {stats(b['own_ready'], None)})")
            print(f"  controller resync done:          {stats(b['ctl_done'], None)}")
            print(f"  picture matches, core:           {stats(b['core'])}")
            print(f"  picture matches, full:           {stats(b['full'])}")
            print(f"  controller resync.last_duration: {stats(b['last_duration'])}")
        if agents is not None and agents.reregistered:
            print(f"agent phones re-REGISTERed after lost contacts: {agents.reregistered}")
        sys.stdout.flush()
    finally:
        if agents is not None:
            agents.stop()
        if watch is not None:
            watch.stop()
        log_text = system.log_tail(1_000_000)
        errors = [line for line in log_text.splitlines() if re.search(r"\b(ERROR|CRITICAL|Traceback)\b", line)]
        warns = [line for line in log_text.splitlines() if re.search(r"\bWARNING\b", line)]
        print(f"controller log: {len(errors)} error lines, {len(warns)} warning lines")
        for line in errors[:8]:
            print(f"  {line[:300]}")
        for line in warns[:8]:
            print(f"  {line[:300]}")
        system.stop()
        print(f"total run time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
