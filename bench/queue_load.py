"""Benchmark: queues, agents and presence under load (prints figures; not a test).

    .venv/bin/python -m bench.queue_load                    # parts 1 and 2, defaults below
    .venv/bin/python -m bench.queue_load --presses 5 --callers 20 --max-wait 20
    .venv/bin/python -m bench.queue_load --only unpause     # or --only load
    .venv/bin/python -m bench.queue_load --only ivr         # part 3: 1,000 callers at 50/s, SQLite
    .venv/bin/python -m bench.queue_load --only ivr --store postgresql --callers 2000 --rate 100

Run from the repository root. It starts its own `callcenter run` (real Asterisk 22 + controller)
from a temporary folder (bench/_harness.py: SIP 35060, AMI 35038, API 38080, RTP 37000-37999;
SipPhones on 50000+; SIPp on 36060, its media port 36100) and stops it at the end. The config has
two queues: `unpause` (agent `agent0` alone; DID 8005550301, no flow: beep, then the queue) and
`load` (agents agent1..agentN; DID 8005550302 with the flow `loadflow`:
`queue: {name: load, max_wait: --max-wait}`, `next:` a `hangup` node, i.e. the overflow).

Part 1, "time from an agent unpausing to the next waiting call ringing them" (--presses rounds):
agent0 (a registered SipPhone, password from <runtime>/secrets.yaml) is paused through the REST API
(POST /api/agents/agent0/pause {"reason": "bench"}). A fresh trunk caller calls, and once AMI
QueueCallerJoin for it arrived plus --settle + random(0..--jitter) seconds, the benchmark sends
POST /api/agents/agent0/unpause. Measured, on one time.monotonic() clock:
  - from sending the unpause request, and from its HTTP response arriving,
  - to (a) AMI AgentCalled (MemberName agent0, that caller) arriving on the benchmark's own AMI
    connection, and (b) the INVITE arriving at agent0's phone (stamped by a thread blocked in
    SipPhone.wait_for_incoming, which the phone's SIP receive thread wakes).
Then agent0 answers and hangs up after 0.3 s (--agent-action answer, the default) or rejects the
offer with 486 (reject); it is paused again, the caller hangs up, and the next round starts.

Part 2, "--callers callers waiting on --agents agents (SIPp)": agent1..N are registered SipPhones;
each offer is answered after --ring seconds and hung up after --talk seconds (one thread per offer;
an agent already busy with a call rejects a second simultaneous offer with 486). SIPp (uac
scenario written to the temp folder) places --callers calls without auth to DID 8005550302, From
user 55590000NN (distinct per call, CSV injection), --rate calls per second, all concurrent; each
call answers 1xx/200 with ACK, then waits for Asterisk's BYE (agent hung up, or the flow's
overflow → hangup) and answers it 200. A call that gets no BYE within max-wait + 90 s sends its
own BYE and counts as lost.
Per caller the outcome is taken from AMI (QueueCallerJoin, AgentConnect, QueueCallerAbandon,
QueueCallerLeave, Hangup) and checked against the controller's records (GET /api/calls: queue,
agent, hung_up_by, ivr_end) and its queue numbers (GET /api/queues: offered/answered/abandoned/
overflowed): answered, overflowed, abandoned, failed (SIP failure, never joined), lost (anything
else: no end seen, or mismatching records). CPU: utime+stime from /proc/<pid>/stat of the
controller (the `python -m callcenter.cli ... run` process) and of Asterisk, before SIPp starts and
after the last call ended, divided by that wall time (100% = one core).

Part 3, "the demo IVR under load" (--only ivr; not in the default run): --callers (default 1000)
SIPp callers at --rate (default 50/s) walk the demo hotline, press 2 and wait in `support`, with
the store on: SQLite in the runtime folder (default) or, with --store postgresql, a private cluster
(tests/support/pgcluster.py, 127.0.0.1:15632, i.e. CALLCENTER_TEST_PORT_BASE + 632) whose URL goes
in the config's store.url. The config adds: DID 8005550100 → flow `hotline`, a copy of
ivr_flows/hotline.yaml whose queue nodes' max_wait is --max-wait (default 3600 s, so nobody
overflows to voicemail during the run); queues `support` (as the demo's: ringall, ring 15 s, wrap-up
5 s, position announced) and `sales`; agents ivr1..N (--ivr-agents, default 2) in `support`,
registered SipPhones paused through the API (reason "bench") so callers wait (0: no agent at all);
Asterisk's RTP range --rtp-ports (default 19000-24999: 3,000 calls at two ports each, clear of the
demo's 10000-10999, the tests' 15000/25000 blocks and the ports above). The bench raises its open
files limit (inherited by the controller, Asterisk and SIPp) to the hard limit.
The callers: SIPp from 127.0.0.1:36060 (media port 36100), From user 55591NNNNN (distinct, CSV
injection), INVITE with SDP offering PCMU and telephone-event/8000 (pt 101) on [media_port]; after
the ACK a pause of the press time, then DTMF 2 as RFC 4733 RTP (play_pcap_audio of SIPp's
/usr/share/sip-tester/dtmf_2833_2.pcap: 10 packets, 140 ms), then on the line until Asterisk's BYE
(answered 200; its own BYE only after arrivals + --settle-timeout + 600 s). SIPp sends no other
audio, so Asterisk's Answer() waits its 500 ms for a first media frame and each AGI command is
picked up ~0.1 s late: the idle and the loaded figures share both.
Idle first: --idle-calls (default 5, after one uncounted warm-up) callers one at a time, no key
press, each hung up by the bench (AMI Hangup) once its first prompt has played. The press time
(--press-after overrides it) is the idle p50 of answer → first prompt + 1 s: the first prompt is the
greeting, and the menu prompt (which takes keys) starts the moment it ends (the `hours` and
`vip_check` nodes take no time), so the caller presses 2 a second into the menu, as one who knows it.
Measured from the bench's own AMI connection: it logs in as the controller's AMI user, so the same
eventfilter applies (asterisk-config/manager.conf.j2 drops Newexten, VarSet, DTMFBegin, AGIExecStart
/ AGIExecEnd...); it uses Newchannel (the caller's arrival: CallerIDNum, Uniqueid), Newstate Up (the
answer), AsyncAGIStart, AsyncAGIExec (the first for the Uniqueid = the first prompt played to its
end: nothing subtracted), DTMFEnd (Received), QueueCallerJoin / QueueCallerLeave /
QueueCallerAbandon (queue `support`), AgentCalled and Hangup. Times are on Asterisk's clock (each
event's Timestamp, timestampevents = yes), and on the bench's (time.monotonic() when the event
arrived) as a cross-check; arrival → first prompt p50/p95 loaded vs idle and their ratio, also
answer → and AsyncAGIStart → first prompt, and how many callers' key press came before their menu
(DTMFEnd before the first AsyncAGIExec).
Outcomes: callers with a QueueCallerJoin in `support`; the peak waiting at once (the bench's count
of joins minus leaves, Asterisk's Count header, GET /api/queues/support `waiting` every 2 s); per
caller from GET /api/calls?limit=2N+200 (taken before the hang-up; `ivr_path`, `ivr_end`, `path`):
support (pressed 2), operator (menu failed after no-input / invalid: the flow's failure path, also
into `support`), other ends, no flow (the dialplan fallback), SIP failures and calls never answered
(SIPp's log), and how many paths hold `no-input`, `invalid:`.
The window runs from SIPp's start until every caller that arrived is in the queue or hung up and
the store backlog has read 0 for 2 s, or --settle-timeout (default 180 s) after the last arrival.
CPU (utime+stime, /proc/<pid>/stat) of the controller and Asterisk over the window, over the
arrivals alone and over the hang-up, as % of one core; SIPp's, the bench's own and the whole
machine's (/proc/stat) over the window, since all share the machine's cores. The store backlog:
GET /api/status every 0.5 s (bench/_harness.py StatusPoller): `store.backlog` when the controller
reports one, else `subscribers.store.queued` (the store writer's bus queue, core/bus.py `stats()`);
its peak, the time from the last arrival (the last Newchannel, bench clock) until it first reads 0
and until it is 0 for good, the writer's dropped count, and how long /api/status took to answer.
Then the bench hangs every caller up (AMI Hangup, Channel /^PJSIP.carrier-/), SIPp answers the BYEs
and ends, and the backlog of the hang-ups is followed the same way. Last, the controller's error
and warning lines during part 3 with the most frequent warning texts (numbers and quoted strings
blanked: "customer lookup for '…' failed (TimeoutError)"), and Asterisk's own warnings.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench._harness import (
    PHONE_PORTS,
    REPO,
    RTP_PORTS,
    SIP_PORT,
    AmiWatch,
    BenchSystem,
    PortAllocator,
    SipPhone,
    StatusPoller,
    asterisk_log,
    cpu_seconds,
    exit_on_sigterm,
    log_summary,
    machine_cpu_seconds,
    percentile,
    raise_open_files,
    summary,
)
from callcenter.asterisk.install import find_asterisk

UNPAUSE_DID, LOAD_DID = "8005550301", "8005550302"
SIPP_PORT, SIPP_MEDIA_PORT = 36060, 36100


# -- plumbing -------------------------------------------------------------------------------------

def config_yaml(args: argparse.Namespace) -> tuple[str, str, str, dict[str, str]]:
    queues = (f"  unpause: {{strategy: {args.unpause_strategy}, ring_timeout: 15, retry: {args.unpause_retry}}}\n"
              f"  load: {{strategy: {args.strategy}, ring_timeout: {args.ring_timeout}, wrapup: {args.wrapup}}}\n")
    agents = '  agent0: {full_name: Pat Paused, extension: "1000", queues: [unpause]}\n'
    for i in range(1, args.agents + 1):
        agents += f'  agent{i}: {{full_name: Agent {i}, extension: "{1000 + i}", queues: [load]}}\n'
    dids = (f'  "{UNPAUSE_DID}": {{name: Unpause, greeting: beep, queue: unpause}}\n'
            f'  "{LOAD_DID}": {{name: Load, flow: loadflow, greeting: beep, queue: load}}\n')
    flow = f"""\
name: loadflow
entry: wait
nodes:
  wait:
    queue: {{name: load, max_wait: {args.max_wait}}}
    next: overflow
  overflow:
    hangup: ~
"""
    return queues, agents, dids, {"loadflow": flow}


def agent_phone(system: BenchSystem, ports: PortAllocator, name: str) -> SipPhone:
    phone = SipPhone(server_port=SIP_PORT, username=name, password=system.creds.agent_passwords[name],
                     **ports.allocate().as_kwargs())
    phone.start()
    return phone


def wait_registered(watch: AmiWatch, names: list[str], timeout: float = 15) -> None:
    """Until PJSIP has a contact for each agent (the queue's device state follows it)."""
    deadline = time.monotonic() + timeout
    for name in names:
        reply = None
        while time.monotonic() < deadline:
            reply = watch.send({"Action": "PJSIPShowContacts"}, check=False, as_list=True)
            if any(m.get("Event") == "ContactList" and m.get("Endpoint") == name for m in reply):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{name}: no PJSIP contact within {timeout:g} s")


# -- part 1: unpause → ringing ----------------------------------------------------------------------

def unpause_rounds(system: BenchSystem, watch: AmiWatch, api: Callable[..., Any], ports: PortAllocator,
                   args: argparse.Namespace) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("sent_called", "ret_called", "sent_invite", "ret_invite",
                                                   "request")}
    agent = agent_phone(system, ports, "agent0")
    try:
        wait_registered(watch, ["agent0"])
        api("/api/agents/agent0/pause", {"reason": "bench"})
        for i in range(args.warmup + args.presses):
            counted = i >= args.warmup
            caller_id = f"5558{i:06d}"
            caller = SipPhone(server_port=SIP_PORT, caller_id=caller_id, **ports.allocate().as_kwargs())
            caller.start()
            call = None
            try:
                mark = watch.mark()
                call = caller.call(UNPAUSE_DID, timeout=10)
                _, join = watch.wait_for(lambda e: e.get("Event") == "QueueCallerJoin"
                                         and e.get("CallerIDNum") == caller_id, 20, start=mark,
                                         what=f"QueueCallerJoin {caller_id}")
                time.sleep(args.settle + random.uniform(0, args.jitter))
                if watch.find(lambda e: e.get("Event") == "AgentCalled" and e.get("CallerIDNum") == caller_id,
                              start=mark):
                    print(f"  round {i}: agent0 was offered the call while paused!", flush=True)
                got: dict[str, Any] = {}

                def stamp() -> None:
                    with contextlib.suppress(TimeoutError):
                        got["offer"] = agent.wait_for_incoming(15)
                        got["t"] = time.monotonic()
                waiter = threading.Thread(target=stamp, daemon=True)
                waiter.start()
                mark2 = watch.mark()
                t_sent = time.monotonic()
                api("/api/agents/agent0/unpause", {})
                t_ret = time.monotonic()
                t_called, _ = watch.wait_for(lambda e: e.get("Event") == "AgentCalled"
                                             and e.get("MemberName") == "agent0"
                                             and e.get("CallerIDNum") == caller_id, 15, start=mark2,
                                             what=f"AgentCalled agent0 {caller_id}")
                waiter.join(16)
                if "offer" not in got:
                    raise TimeoutError("no INVITE at agent0")
                offer, t_invite = got["offer"], got["t"]
                if counted:
                    out["request"].append((t_ret - t_sent) * 1000)
                    out["sent_called"].append((t_called - t_sent) * 1000)
                    out["ret_called"].append((t_called - t_ret) * 1000)
                    out["sent_invite"].append((t_invite - t_sent) * 1000)
                    out["ret_invite"].append((t_invite - t_ret) * 1000)
                    if args.verbose:
                        print(f"  round {i}: unpause HTTP {out['request'][-1]:.1f} ms; AgentCalled "
                              f"+{out['sent_called'][-1]:.1f} ms, INVITE +{out['sent_invite'][-1]:.1f} ms "
                              "(from sending)", flush=True)
                if args.agent_action == "answer":
                    offer.answer()
                    watch.wait_for(lambda e: e.get("Event") == "AgentConnect" and e.get("CallerIDNum") == caller_id,
                                   10, start=mark2, what="AgentConnect")
                    time.sleep(0.3)
                    offer.hangup()
                else:
                    offer.hangup()  # 486 Busy Here while ringing
                api("/api/agents/agent0/pause", {"reason": "bench"})
                if call.state != "ended":
                    call.hangup()
                watch.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == join.get("Channel"),
                               10, start=mark, what="caller's Hangup")
                for c in agent.calls():  # a retry racing the pause
                    with contextlib.suppress(Exception):
                        c.hangup()
            except Exception as exc:  # noqa: BLE001 - reported, next round
                print(f"  round {i}: {type(exc).__name__}: {exc}", flush=True)
                with contextlib.suppress(Exception):
                    api("/api/agents/agent0/pause", {"reason": "bench"})
            finally:
                if call is not None:
                    with contextlib.suppress(Exception):
                        call.hangup()
                caller.stop()
            time.sleep(args.gap)
            if not args.verbose and (i + 1) % 10 == 0:
                print(f"  {i + 1}/{args.warmup + args.presses} rounds", flush=True)
    finally:
        agent.stop()
    return out


# -- part 2: callers on a few agents (SIPp) ------------------------------------------------------

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="queue caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: SIPp queue_load
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><log message="[field0] answered"/></action></nop>
  <recv request="BYE" timeout="{hold_ms}" ontimeout="selfbye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <nop next="done"><action><log message="[field0] bye-received"/></action></nop>
  <label id="selfbye"/>
  <nop><action><log message="[field0] no-bye-timeout"/></action></nop>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <label id="done"/>
</scenario>
"""


class Agents:
    """Registered agent phones that answer after `ring` s and hang up after `talk` s, in threads."""

    def __init__(self, phones: dict[str, SipPhone], ring: float, talk: float) -> None:
        self.phones, self.ring, self.talk = phones, ring, talk
        self.stop = threading.Event()
        self.busy = {name: False for name in phones}
        self.lock = threading.Lock()
        self.answered = {name: 0 for name in phones}
        self.rejected_busy = {name: 0 for name in phones}
        self.missed = {name: 0 for name in phones}  # offers that ended before the answer
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._listen, args=(n,), daemon=True) for n in phones]
        self.workers: list[threading.Thread] = []

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _listen(self, name: str) -> None:
        phone = self.phones[name]
        while not self.stop.is_set():
            try:
                offer = phone.wait_for_incoming(0.5)
            except TimeoutError:
                continue
            t = threading.Thread(target=self._handle, args=(name, offer), daemon=True)
            t.start()
            self.workers.append(t)

    def _handle(self, name: str, offer: Any) -> None:
        with self.lock:
            busy = self.busy[name]
            if not busy:
                self.busy[name] = True
        if busy:
            self.rejected_busy[name] += 1
            with contextlib.suppress(Exception):
                offer.hangup()
            return
        try:
            time.sleep(self.ring)
            if offer.state != "ringing":
                self.missed[name] += 1
                return
            try:
                offer.answer()
            except Exception:  # noqa: BLE001 - cancelled meanwhile
                self.missed[name] += 1
                return
            self.answered[name] += 1
            if self.stop.wait(self.talk) and offer.state == "ended":
                return
            if offer.state != "ended":
                offer.hangup()
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            with self.lock:
                self.busy[name] = False

    def close(self) -> None:
        self.stop.set()
        for t in self.threads + self.workers:
            t.join(5)


def sipp_load(system: BenchSystem, watch: AmiWatch, api: Callable[..., Any], ports: PortAllocator,
              args: argparse.Namespace) -> None:
    names = [f"agent{i}" for i in range(1, args.agents + 1)]
    phones = {name: agent_phone(system, ports, name) for name in names}
    agents = Agents(phones, args.ring, args.talk)
    work = system.dir / "sipp"
    work.mkdir()
    caller_ids = [f"55590{i:05d}" for i in range(1, args.callers + 1)]
    (work / "callers.csv").write_text("SEQUENTIAL\n" + "".join(f"{c};\n" for c in caller_ids))
    hold_ms = int((args.max_wait + 90) * 1000)
    (work / "uac.xml").write_text(SCENARIO.replace("{hold_ms}", str(hold_ms)))
    try:
        wait_registered(watch, names)
        members = api("/api/queues/load")
        print(f"  queue load: {[(m['agent'], m.get('state')) for m in members.get('members', [])]}", flush=True)
        agents.start()
        time.sleep(1)
        before = api("/api/queues/load")
        mark = watch.mark()
        ctl_pid, ast_pid = system.proc.pid if system.proc else None, system.started_asterisk_pid
        cpu0 = cpu_seconds(ctl_pid), cpu_seconds(ast_pid)
        t0 = time.monotonic()
        cmd = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(work / "uac.xml"), "-inf", str(work / "callers.csv"),
               "-s", LOAD_DID, "-i", "127.0.0.1", "-p", str(SIPP_PORT), "-mp", str(SIPP_MEDIA_PORT),
               "-m", str(args.callers), "-l", str(args.callers), "-r", str(args.rate), "-rp", "1000",
               "-timeout", f"{args.max_wait + 150}s", "-nostdin",
               "-trace_logs", "-log_file", str(work / "calls.log"),
               "-trace_err", "-error_file", str(work / "errors.log"),
               "-trace_screen", "-screen_file", str(work / "screen.log")]
        print(f"  {' '.join(cmd)}", flush=True)
        sipp = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        progress_at = time.monotonic() + 10
        while sipp.poll() is None:
            time.sleep(0.5)
            if time.monotonic() >= progress_at:
                progress_at += 10
                with contextlib.suppress(Exception):
                    q = api("/api/queues/load")
                    print(f"  +{time.monotonic() - t0:4.0f} s: waiting {q.get('waiting')}, answered "
                          f"{q.get('answered') - before.get('answered', 0)}, overflowed "
                          f"{q.get('overflowed', 0) - before.get('overflowed', 0)}", flush=True)
        sipp_err = sipp.stderr.read() if sipp.stderr else ""
        t_sipp = time.monotonic()
        # The last Hangup events and records settle just after SIPp's last 200 to BYE.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if not [c for c in api("/api/calls")["active"] if c.get("did") == LOAD_DID]:
                    break
            time.sleep(0.2)
        t1 = time.monotonic()
        cpu1 = cpu_seconds(ctl_pid), cpu_seconds(ast_pid)
        wall = t1 - t0
        time.sleep(1)
        after = api("/api/queues/load")
        records = api(f"/api/calls?limit={args.callers * 4 + 100}")
    finally:
        agents.close()
        for phone in phones.values():
            phone.stop()

    # -- outcomes -----------------------------------------------------------------------------
    events = watch.events[mark:]
    by_caller: dict[str, dict[str, Any]] = {c: {"events": []} for c in caller_ids}
    channel_of: dict[str, str] = {}
    for e in events:
        cid = e.get("CallerIDNum", "")
        if cid in by_caller and e.get("Event") in ("QueueCallerJoin", "AgentConnect", "QueueCallerAbandon",
                                                   "QueueCallerLeave", "AgentCalled", "AgentRingNoAnswer"):
            by_caller[cid]["events"].append(e.get("Event"))
            if e.get("Event") == "QueueCallerJoin":
                channel_of[e.get("Channel", "")] = cid
            if e.get("Event") == "QueueCallerAbandon":
                by_caller[cid]["abandon_hold"] = int(e.get("HoldTime") or 0)
    for e in events:
        if e.get("Event") == "Hangup" and e.get("Channel") in channel_of:
            by_caller[channel_of[e["Channel"]]]["hangup"] = e.get("Cause-txt", e.get("Cause", ""))
    with open(work / "ami-events.jsonl", "w") as f:  # for --keep
        for t, e in watch.find(lambda e: True, mark):
            f.write(json.dumps({"t": round(t - t0, 4), **e}) + "\n")
    log_lines = (work / "calls.log").read_text().splitlines() if (work / "calls.log").exists() else []
    sipp_log: dict[str, list[str]] = {}
    for line in log_lines:
        m = re.match(r"\s*(\d+) (\S+)", line)
        if m:
            sipp_log.setdefault(m.group(1), []).append(m.group(2))
    recs = {r["caller_id"]: r for r in records["active"] + records["recent"] if r.get("did") == LOAD_DID}

    # Asterisk's app_queue reports a max-wait timeout (Queue()'s timeout, EXITWITHTIMEOUT) with
    # QueueCallerAbandon too: an overflow is that event with HoldTime >= max_wait for a caller who did
    # not hang up (the flow went on to its hangup node: ivr_end "hangup", hung up by "system").
    counts = {k: 0 for k in ("answered", "overflowed", "abandoned", "failed", "lost")}
    flagged_abandoned_overflows = 0
    problems: list[str] = []
    for cid in caller_ids:
        info, evs = by_caller[cid], by_caller[cid]["events"]
        rec, slog = recs.get(cid), sipp_log.get(cid, [])
        if "QueueCallerJoin" not in evs:
            counts["failed"] += 1
            problems.append(f"{cid}: never joined the queue (SIPp: {slog or 'nothing logged'}; record: "
                            f"{rec and {k: rec[k] for k in ('state', 'hangup_cause_text', 'ivr_end', 'path')}})")
            continue
        ended = "hangup" in info and "bye-received" in slog
        if "AgentConnect" in evs:
            outcome = "answered"
            ok = rec is not None and bool(rec.get("agent")) and rec.get("hung_up_by") == "agent"
        elif "QueueCallerAbandon" in evs and info.get("abandon_hold", 0) >= args.max_wait - 1:
            outcome = "overflowed"
            ok = rec is not None and rec.get("ivr_end") == "hangup" and not rec.get("agent") \
                and rec.get("hung_up_by") == "system"
            flagged_abandoned_overflows += bool(rec and rec.get("abandoned"))
        elif "QueueCallerAbandon" in evs:
            outcome = "abandoned"
            ok = rec is not None and rec.get("hung_up_by") == "caller"
        else:
            outcome, ok = "lost", False
        if not ended or "no-bye-timeout" in slog or rec is None or rec.get("state") != "ended":
            ok = False
        if ok:
            counts[outcome] += 1
        else:
            counts["lost"] += 1
            problems.append(f"{cid}: {outcome}? AMI {evs} hangup={info.get('hangup')!r}; SIPp {slog}; record "
                            f"{rec and {k: rec.get(k) for k in ('state', 'agent', 'hung_up_by', 'ivr_end', 'abandoned', 'path')}}")

    def delta(key: str) -> int:
        return int(after.get(key, 0)) - int(before.get(key, 0))

    print()
    print(f"== {args.callers} callers waiting on {args.agents} agents (SIPp; {args.strategy}, max_wait "
          f"{args.max_wait} s, agents answer after {args.ring:g} s, talk {args.talk:g} s) ==")
    print(f"SIPp exit code {sipp.returncode}; ran {t_sipp - t0:.1f} s" + (f"; stderr: {sipp_err.strip()[:300]}"
                                                                         if sipp_err.strip() else ""))
    print("outcome per caller (AMI, checked against /api/calls records): " +
          ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"/api/queues load (delta over the run): offered {delta('offered')}, answered {delta('answered')}, "
          f"abandoned {delta('abandoned')}, overflowed {delta('overflowed')}; waiting now {after.get('waiting')}; "
          f"service level {after.get('service_level')}, ASA {after.get('average_speed_of_answer')}, "
          f"AHT {after.get('average_handle_time')}")
    hung = {}
    for r in recs.values():
        hung[r.get("hung_up_by") or "-"] = hung.get(r.get("hung_up_by") or "-", 0) + 1
    if flagged_abandoned_overflows or (delta("abandoned") and delta("abandoned") == delta("overflowed")):
        print(f"note: the controller counts each overflow as abandoned too (Asterisk sends QueueCallerAbandon on "
              f"the max_wait timeout): /api/queues abandoned {delta('abandoned')} vs real abandons "
              f"{counts['abandoned']}; {flagged_abandoned_overflows} overflowed call records have abandoned=true")
    print(f"call records for the DID: {len(recs)} (hung_up_by: {hung}; ivr_end: "
          f"{ {e: sum(1 for r in recs.values() if r.get('ivr_end') == e) for e in {r.get('ivr_end') for r in recs.values()}} })")
    print(f"agents: answered {agents.answered}, offers ended before answer {agents.missed}, "
          f"rejected while busy {agents.rejected_busy}" + (f", errors {agents.errors[:3]}" if agents.errors else ""))
    pauses = [e for e in watch.events[mark:] if e.get("Event") == "QueueMemberPause" and e.get("Paused") == "1"]
    rna = sum(1 for e in watch.events[mark:] if e.get("Event") == "AgentRingNoAnswer")
    print(f"AgentRingNoAnswer {rna}; agents paused during the run: "
          f"{[(e.get('MemberName'), e.get('PausedReason') or e.get('Reason')) for e in pauses] or 'none'}")
    if cpu0[0] is not None and cpu1[0] is not None:
        print(f"controller CPU (pid {ctl_pid}): {cpu1[0] - cpu0[0]:.2f} s over {wall:.1f} s wall = "
              f"{100 * (cpu1[0] - cpu0[0]) / wall:.1f}% of one core")
    if cpu0[1] is not None and cpu1[1] is not None:
        print(f"Asterisk CPU (pid {ast_pid}): {cpu1[1] - cpu0[1]:.2f} s over {wall:.1f} s wall = "
              f"{100 * (cpu1[1] - cpu0[1]) / wall:.1f}% of one core")
    for p in problems[:20]:
        print(f"  ! {p}")
    errs = (work / "errors.log").read_text() if (work / "errors.log").exists() else ""
    if errs.strip():
        print(f"SIPp error log ({len(errs.splitlines())} lines), first lines:")
        print("\n".join("    " + line for line in errs.strip().splitlines()[:10]))


# -- part 3: the demo IVR under load (SIPp callers pressing 2) ------------------------------------

HOTLINE_DID = "8005550100"  # the demo's DID (callcenter.yaml); its flow: the shipped ivr_flows/hotline.yaml
IVR_QUEUE = "support"
IVR_CALLER_PREFIX, IDLE_CALLER_PREFIX = "55591", "55592"  # + 5 digits: distinct per call
IVR_RTP_PORTS = "19000-24999"  # 3,000 calls (RTP + RTCP each); below the tests' second system (25000+)
DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_2.pcap"  # SIPp's packaged RFC 4733 '2' (pt 101, 10 packets, 140 ms)
PRESS_MARGIN = 1.0  # s after the idle menu start: a caller who knows the menu presses 2 as it begins

IVR_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="hotline caller presses 2">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: SIPp queue_load ivr
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><log message="[field0] answered"/></action></nop>
{press}  <recv request="BYE" timeout="{hold_ms}" ontimeout="selfbye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <nop next="done"><action><log message="[field0] bye-received"/></action></nop>
  <label id="selfbye"/>
  <nop><action><log message="[field0] no-bye-timeout"/></action></nop>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <label id="done"/>
</scenario>
"""

PRESS_STEP = """  <pause milliseconds="{press_ms}"/>
  <nop><action><exec play_pcap_audio="{pcap}"/><log message="[field0] pressed"/></action></nop>
"""


def ivr_scenario(press_ms: int | None, hold_ms: int) -> str:
    """The caller: INVITE (PCMU + telephone-event/8000 pt 101 on [media_port]), ACK, then (press_ms
    given) a pause and DTMF 2 as RFC 4733 RTP from SIPp's pcap, then on the line until Asterisk's BYE
    (the bench hangs everyone up), its own BYE after hold_ms."""
    press = PRESS_STEP.replace("{press_ms}", str(press_ms)).replace("{pcap}", DTMF_PCAP) if press_ms else ""
    return IVR_SCENARIO.replace("{press}", press).replace("{hold_ms}", str(hold_ms))


def hotline_flow(max_wait: int) -> str:
    """The shipped demo flow with every queue node's max_wait set to `max_wait` (its own 300 s could
    send waiting callers on to voicemail during a long run)."""
    text = (REPO / "ivr_flows" / "hotline.yaml").read_text()
    changed, n = re.subn(r"(queue: \{name: \w+, priority: \d+), max_wait: \d+\}", rf"\1, max_wait: {max_wait}}}", text)
    if not n or f"name: {IVR_QUEUE}, priority: 0, max_wait: {max_wait}" not in changed:
        raise SystemExit("ivr_flows/hotline.yaml: no `support` queue node with a max_wait to lengthen; the bench "
                         "needs updating")
    return "# Copied by bench/queue_load.py from ivr_flows/hotline.yaml; queue max_wait lengthened.\n" + changed


def ivr_config(args: argparse.Namespace) -> tuple[str, str, str]:
    """Queues, agents and DIDs for part 3, as the demo's (callcenter.yaml): `support` (ringall, ring 15 s,
    wrap-up 5 s, position announced) and `sales` (the flow names both); agents ivr1..N in `support`."""
    queues = (f"  {IVR_QUEUE}: {{strategy: ringall, ring_timeout: 15, wrapup: 5, announce_position: true}}\n"
              "  sales: {strategy: leastrecent}\n")
    agents = "".join(f'  ivr{i}: {{full_name: IVR Agent {i}, extension: "{2000 + i}", queues: [{IVR_QUEUE}]}}\n'
                     for i in range(1, args.ivr_agents + 1))
    dids = f'  "{HOTLINE_DID}": {{name: Demo hotline, flow: hotline, greeting: hello-world, queue: {IVR_QUEUE}}}\n'
    return queues, agents, dids


def _ts(e: dict[str, str]) -> float | None:
    """Asterisk's own time of an event (its Timestamp header, timestampevents = yes), epoch s."""
    with contextlib.suppress(TypeError, ValueError):
        return float(e["Timestamp"])
    return None


@dataclasses.dataclass
class IvrCaller:
    """What the bench's AMI connection saw of one caller: bench clock (time.monotonic() on arrival
    of the event) and Asterisk's clock (the event's Timestamp) for each step."""

    caller_id: str
    uniqueid: str = ""
    channel: str = ""
    arrived: float | None = None  # Newchannel
    arrived_ts: float | None = None
    answered_ts: float | None = None  # Newstate Up
    agi_ts: float | None = None  # AsyncAGIStart
    prompt: float | None = None  # the first AsyncAGIExec: the greeting played to its end
    prompt_ts: float | None = None
    execs: int = 0
    digits: str = ""  # DTMFEnd, Received
    digit_ts: float | None = None
    joined: float | None = None  # QueueCallerJoin, queue support
    joined_ts: float | None = None
    join_queue: str = ""
    left: bool = False  # QueueCallerLeave / QueueCallerAbandon
    hangup: str = ""  # Hangup's Cause-txt
    offered: int = 0  # AgentCalled (never, with the agents paused)


class IvrWatch:
    """Follows the bench's AMI events for a set of caller IDs, incrementally (`update()` reads what
    arrived since the last call), with the count waiting in the queue and its peak."""

    def __init__(self, watch: AmiWatch, caller_ids: list[str], start: int) -> None:
        self.watch = watch
        self.callers = {c: IvrCaller(c) for c in caller_ids}
        self.by_uid: dict[str, IvrCaller] = {}
        self.cursor = start
        self.waiting = self.peak_waiting = self.peak_count = 0  # count: Asterisk's own (QueueCallerJoin Count)
        self.last_arrival: float | None = None

    def update(self) -> None:
        events, arrived = self.watch.events, self.watch.arrived_times
        end = len(events)
        for i in range(self.cursor, end):
            e, t = events[i], arrived[i]
            name = e.get("Event", "")
            if name == "Newchannel":
                c = self.callers.get(e.get("CallerIDNum", ""))
                if c is not None and c.uniqueid == "" and e.get("Uniqueid"):
                    c.uniqueid, c.channel = e["Uniqueid"], e.get("Channel", "")
                    c.arrived, c.arrived_ts = t, _ts(e)
                    self.by_uid[c.uniqueid] = c
                    self.last_arrival = t
                continue
            c = self.by_uid.get(e.get("Uniqueid", ""))
            if c is None:
                continue
            if name == "Newstate" and e.get("ChannelStateDesc") == "Up" and c.answered_ts is None:
                c.answered_ts = _ts(e)
            elif name == "AsyncAGIStart" and c.agi_ts is None:
                c.agi_ts = _ts(e)
            elif name == "AsyncAGIExec":
                c.execs += 1
                if c.prompt is None:
                    c.prompt, c.prompt_ts = t, _ts(e)
            elif name == "DTMFEnd" and e.get("Direction", "Received") == "Received":
                c.digits += e.get("Digit", "")
                if c.digit_ts is None:
                    c.digit_ts = _ts(e)
            elif name == "QueueCallerJoin":
                if c.joined is None:
                    c.joined, c.joined_ts, c.join_queue = t, _ts(e), e.get("Queue", "")
                if e.get("Queue") == IVR_QUEUE:
                    self.waiting += 1
                    self.peak_waiting = max(self.peak_waiting, self.waiting)
                    with contextlib.suppress(ValueError):
                        self.peak_count = max(self.peak_count, int(e.get("Count", "0")))
            elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
                c.left = True
                if e.get("Queue") == IVR_QUEUE:
                    self.waiting -= 1
            elif name == "AgentCalled":
                c.offered += 1
            elif name == "Hangup":
                c.hangup = e.get("Cause-txt") or e.get("Cause", "") or "hung up"
        self.cursor = end

    def arrived(self) -> list[IvrCaller]:
        return [c for c in self.callers.values() if c.arrived is not None]

    def settled(self, c: IvrCaller) -> bool:
        """In the queue, or gone (hung up)."""
        return c.joined is not None or bool(c.hangup)


def run_sipp(work: Path, tag: str, scenario: str, caller_ids: list[str], calls: int, limit: int, rate: float,
             timeout_s: int) -> subprocess.Popen[str]:
    """Start SIPp (no auth, from 127.0.0.1:SIPP_PORT, media SIPP_MEDIA_PORT) calling the hotline DID."""
    (work / f"{tag}.xml").write_text(scenario)
    (work / f"{tag}.csv").write_text("SEQUENTIAL\n" + "".join(f"{c};\n" for c in caller_ids))
    cmd = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(work / f"{tag}.xml"), "-inf", str(work / f"{tag}.csv"),
           "-s", HOTLINE_DID, "-i", "127.0.0.1", "-p", str(SIPP_PORT), "-mp", str(SIPP_MEDIA_PORT),
           "-m", str(calls), "-l", str(limit), "-r", f"{rate:g}", "-rp", "1000", "-aa",
           "-timeout", f"{timeout_s}s", "-nostdin",
           "-trace_logs", "-log_file", str(work / f"{tag}-calls.log"),
           "-trace_err", "-error_file", str(work / f"{tag}-errors.log"),
           "-trace_screen", "-screen_file", str(work / f"{tag}-screen.log")]
    (work / f"{tag}.cmd").write_text(" ".join(cmd) + "\n")
    return subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_sipp(sipp: subprocess.Popen[str], wait: float) -> str:
    """Wait for SIPp to end by itself (its calls done), else SIGTERM then SIGKILL it; its stderr."""
    try:
        sipp.wait(wait)
    except subprocess.TimeoutExpired:
        print(f"  SIPp (pid {sipp.pid}) still runs {wait:g} s on; stopping it", flush=True)
        sipp.terminate()
        try:
            sipp.wait(10)
        except subprocess.TimeoutExpired:
            sipp.kill()
            sipp.wait(10)
    return sipp.stderr.read() if sipp.stderr else ""


def sipp_log(path: Path) -> dict[str, list[str]]:
    """caller ID → what the scenario logged for it (answered, pressed, bye-received, no-bye-timeout)."""
    out: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"\s*(\d+) (\S+)", line)
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
    return out


def prompt_seconds(system: BenchSystem, flow_text: str) -> dict[str, float]:
    """Length of the flow's greeting and menu prompts, from the WAVs the controller synthesized
    (callcenter/ivr/prompts.py names them by a hash of voice and text); {} when not found."""
    import hashlib
    import wave

    import yaml

    from callcenter.ivr.prompts import PromptSynth
    out: dict[str, float] = {}
    with contextlib.suppress(Exception):
        flow = yaml.safe_load(flow_text)
        voice = PromptSynth.voice_for(flow.get("language", "en"), flow.get("voice", ""))
        texts = {"greeting": flow["nodes"]["welcome"]["play"]["say"],
                 "menu prompt": flow["nodes"]["main_menu"]["menu"]["prompt"][0]["say"]}
        roots = [system.runtime_dir]
        with contextlib.suppress(Exception):
            roots.append(find_asterisk().instance_base(system.runtime_dir))
        for what, text in texts.items():
            digest = hashlib.sha256(f"espeak-ng|{voice}|{text}".encode()).hexdigest()[:20]
            for root in roots:
                found = next(iter(root.rglob(f"{digest}.wav")), None) if root.exists() else None
                if found is not None:
                    with wave.open(str(found)) as w:
                        out[what] = w.getnframes() / w.getframerate()
                    break
    return out


def pcts(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s, max {max(values):.2f} s "
            f"(n={len(values)})")


def idle_calls(system: BenchSystem, watch: AmiWatch, work: Path, args: argparse.Namespace) -> list[IvrCaller]:
    """1 + --idle-calls calls one at a time (the first a warm-up), each hung up by the bench (AMI
    Hangup) once its first prompt ended: the idle system's arrival → first prompt."""
    out = []
    for i in range(args.idle_calls + 1):
        cid = f"{IDLE_CALLER_PREFIX}{i:05d}"
        mark = watch.mark()
        sipp = run_sipp(work, f"idle{i}", ivr_scenario(None, 60_000), [cid], 1, 1, 1, 90)
        follow = IvrWatch(watch, [cid], mark)
        deadline = time.monotonic() + 30
        c = follow.callers[cid]
        while time.monotonic() < deadline and c.prompt is None and sipp.poll() is None:
            time.sleep(0.05)
            follow.update()
        time.sleep(0.2)
        follow.update()
        if c.channel:
            with contextlib.suppress(Exception):
                watch.send({"Action": "Hangup", "Channel": c.channel, "Cause": "16"})
        err = stop_sipp(sipp, 15)
        follow.update()
        if c.prompt is None:
            print(f"  idle call {cid}: no first prompt within 30 s (arrived: {c.arrived is not None}; "
                  f"SIPp exit {sipp.returncode} {err.strip()[:200]})", flush=True)
        if i == 0:
            warm = (c.prompt_ts - c.arrived_ts) if c.prompt_ts and c.arrived_ts else None
            print(f"  warm-up call: arrival → first prompt {warm:.2f} s (not counted)" if warm is not None
                  else "  warm-up call: no figure", flush=True)
        else:
            out.append(c)
        time.sleep(args.idle_gap)
    return out


def classify(cid: str, c: IvrCaller, rec: dict[str, Any] | None, slog: list[str]) -> str:
    """One outcome per caller, from the controller's call record first (ivr_path, ivr_end, path),
    then the bench's AMI view and SIPp's log."""
    if c.arrived is None:
        return "SIP failure (no channel)" if "answered" not in slog else "answered, no channel seen"
    if c.answered_ts is None and "answered" not in slog:
        return "never answered"
    if rec is None:
        return "no call record"
    ivr, end = rec.get("ivr_path") or [], rec.get("ivr_end") or ""
    if not ivr and not rec.get("flow"):
        return "fallback (no flow: controller away?)" if c.joined else "no flow run"
    if "menu-failed" in ivr:
        return "operator (menu failed)" if c.join_queue == IVR_QUEUE else f"menu failed, ended {end!r}"
    if "pressed:2" in ivr and end == f"queue {IVR_QUEUE}":
        return "support (pressed 2)" if c.join_queue == IVR_QUEUE else "pressed 2, no QueueCallerJoin seen"
    if any(p.startswith("pressed:") for p in ivr):
        return f"pressed another key ({[p for p in ivr if p.startswith('pressed:')][0]})"
    if end.startswith("error"):
        return f"flow error ({end})"
    if end:
        return f"flow ended: {end}"
    return "in the flow still"


def tolerant(api: Callable[..., Any], path: str, default: Any) -> Any:
    """GET path with a minute's patience; `default` (and a line saying so) if it fails."""
    try:
        return api(path, timeout=60)
    except Exception as exc:  # noqa: BLE001 - reported; the figures go on without it
        print(f"  GET {path}: {type(exc).__name__}: {exc}", flush=True)
        return default


def ivr_load(system: BenchSystem, watch: AmiWatch, api: Callable[..., Any], ports: PortAllocator,
             args: argparse.Namespace, flow_text: str) -> None:
    work = system.dir / "sipp-ivr"
    work.mkdir()
    names = [f"ivr{i}" for i in range(1, args.ivr_agents + 1)]
    phones = {name: agent_phone(system, ports, name) for name in names}
    log_start = system.log_path.stat().st_size if system.log_path.exists() else 0
    poller: StatusPoller | None = None
    sipp: subprocess.Popen[str] | None = None
    try:
        wait_registered(watch, names)
        for name in names:
            api(f"/api/agents/{name}/pause", {"reason": "bench"})
        time.sleep(0.5)
        members = api(f"/api/queues/{IVR_QUEUE}").get("members", [])
        print(f"  queue {IVR_QUEUE}: {[(m['agent'], m.get('state')) for m in members] or 'no members'}", flush=True)
        lengths = prompt_seconds(system, flow_text)
        if lengths:
            print("  prompt files: " + ", ".join(f"{k} {v:.2f} s" for k, v in lengths.items()), flush=True)

        # -- the idle system: one caller at a time ---------------------------------------------
        print(f"  idle: {args.idle_calls} calls one at a time (+1 warm-up) ...", flush=True)
        idle = idle_calls(system, watch, work, args)
        idle_arrival = [c.prompt_ts - c.arrived_ts for c in idle if c.prompt_ts and c.arrived_ts]
        idle_answer = [c.prompt_ts - c.answered_ts for c in idle if c.prompt_ts and c.answered_ts]
        idle_bench = [c.prompt - c.arrived for c in idle if c.prompt and c.arrived]
        if args.press_after is not None:
            press_after, why = args.press_after, "--press-after"
        elif idle_answer:
            press_after = math.ceil((percentile(idle_answer, 50) + PRESS_MARGIN) * 10) / 10
            why = (f"idle answer → menu start p50 {percentile(idle_answer, 50):.2f} s (the first prompt's end; "
                   f"the menu prompt follows it at once) + {PRESS_MARGIN:g} s")
        else:
            raise SystemExit("no idle figure to time the key press on; give --press-after")
        print(f"  idle arrival → first prompt: {pcts(idle_arrival)}", flush=True)
        print(f"  key press {press_after:.1f} s after the answer ({why})", flush=True)

        # -- the load ---------------------------------------------------------------------------
        caller_ids = [f"{IVR_CALLER_PREFIX}{i:05d}" for i in range(1, args.callers + 1)]
        arrivals_s = args.callers / args.rate
        hold_ms = int((arrivals_s + args.settle_timeout + 600) * 1000)
        before = api(f"/api/queues/{IVR_QUEUE}")
        mark = watch.mark()
        follow = IvrWatch(watch, caller_ids, mark)
        ami_since = watch.client.connected_since if watch.client else None
        poller = StatusPoller(system, interval=0.5, queue=IVR_QUEUE).start()
        time.sleep(1.0)
        ctl_pid, ast_pid = system.proc.pid if system.proc else None, system.started_asterisk_pid
        cpu0, t0 = (cpu_seconds(ctl_pid), cpu_seconds(ast_pid)), time.monotonic()
        gen0 = cpu_seconds(os.getpid()) or 0.0, machine_cpu_seconds()
        sipp = run_sipp(work, "load", ivr_scenario(int(press_after * 1000), hold_ms), caller_ids, args.callers,
                        args.callers, args.rate, hold_ms // 1000 + 120)
        print(f"  {(work / 'load.cmd').read_text().strip()}", flush=True)
        progress_at, last_progress_cpu = t0 + 10, (cpu0, t0)
        cpu_arrivals: tuple[tuple[float | None, float | None], float] | None = None
        t_settled: float | None = None
        why_end = ""
        while True:
            time.sleep(0.5)
            follow.update()
            now = time.monotonic()
            arrived = follow.arrived()
            sipp_done = sipp.poll() is not None
            quiet = follow.last_arrival is None or now - follow.last_arrival > 15
            arrivals_done = len(arrived) == args.callers or sipp_done or (now - t0 > arrivals_s + 30 and quiet)
            if arrivals_done and cpu_arrivals is None:
                cpu_arrivals = ((cpu_seconds(ctl_pid), cpu_seconds(ast_pid)), now)
            if now >= progress_at:
                progress_at += 10
                cpu_now = cpu_seconds(ctl_pid), cpu_seconds(ast_pid)
                (c0, a0), tp = last_progress_cpu
                dt = now - tp
                ctl = f"{100 * (cpu_now[0] - c0) / dt:.0f}%" if cpu_now[0] is not None and c0 is not None else "?"
                ast = f"{100 * (cpu_now[1] - a0) / dt:.0f}%" if cpu_now[1] is not None and a0 is not None else "?"
                last_progress_cpu = (cpu_now, now)
                print(f"  +{now - t0:4.0f} s: arrived {len(arrived)}, first prompt {sum(c.prompt is not None for c in arrived)}, "
                      f"in {IVR_QUEUE} {follow.waiting} (peak {follow.peak_waiting}), store backlog "
                      f"{poller.backlog_now()}; CPU last 10 s: controller {ctl}, Asterisk {ast}", flush=True)
            if not arrivals_done:
                continue
            assert cpu_arrivals is not None
            all_settled = all(follow.settled(c) for c in arrived)
            if all_settled and t_settled is None:
                t_settled = now
            drained = poller.drained_since(follow.last_arrival or t0)
            if all_settled and drained is not None and now - drained >= 2.0:
                why_end = "every caller in the queue or gone, the store backlog 0 for 2 s"
                break
            if now - (follow.last_arrival or t0) > args.settle_timeout:
                why_end = (f"--settle-timeout {args.settle_timeout:g} s after the last arrival: "
                           f"{sum(not follow.settled(c) for c in arrived)} callers not settled, backlog "
                           f"{poller.backlog_now()}")
                break
            if sipp_done and not arrived:
                why_end = "SIPp ended and no caller arrived"
                break
        t1 = time.monotonic()
        cpu1 = cpu_seconds(ctl_pid), cpu_seconds(ast_pid)
        gen1 = cpu_seconds(os.getpid()) or 0.0, machine_cpu_seconds(), cpu_seconds(sipp.pid) or 0.0
        follow.update()
        # A controller in trouble may answer late or not at all: the figures are printed all the same.
        queue_now = tolerant(api, f"/api/queues/{IVR_QUEUE}", {"waiting": None})
        records_live = tolerant(api, f"/api/calls?limit={args.callers * 2 + 200}", {"active": [], "recent": []})
        ami_lost = watch.client is None or watch.client.connected_since != ami_since
        # -- everyone hangs up: Asterisk's BYE to each caller, SIPp answers 200 and ends ----------
        t_bye = time.monotonic()
        hangup_reply = None
        for _ in range(6):  # the bench's AMI connection may be reconnecting under load
            try:
                hangup_reply = watch.send({"Action": "Hangup", "Channel": "/^PJSIP.carrier-/", "Cause": "16"},
                                          timeout=60)
                break
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                print(f"  AMI Hangup: {type(exc).__name__}: {exc}; again in 5 s", flush=True)
                time.sleep(5)
        sipp_err = stop_sipp(sipp, 120)
        sipp_rc = sipp.returncode
        # Without its informational lines (the pcap's facts, "Resolving remote host").
        sipp_err = " | ".join(line for line in sipp_err.strip().splitlines()
                              if not re.match(r"(In pcap |max pkt length|base port|Resolving remote host)", line))
        t_sipp_end = time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if not [c for c in api("/api/calls?limit=1")["active"] if c.get("did") == HOTLINE_DID] \
                        and poller.drained_since(t_sipp_end) is not None:
                    break
            time.sleep(0.5)
        t2 = time.monotonic()
        cpu2 = cpu_seconds(ctl_pid), cpu_seconds(ast_pid)
        poller.stop()
        follow.update()
        records_end = tolerant(api, f"/api/calls?limit={args.callers * 2 + 200}", {"active": [], "recent": []})
    finally:
        if poller is not None:
            poller.stop()
        if sipp is not None and sipp.poll() is None:
            stop_sipp(sipp, 0)
        for phone in phones.values():
            phone.stop()

    # -- figures ------------------------------------------------------------------------------------
    with open(work / "ami-events.jsonl", "w") as f:  # for --keep
        for t, e in watch.find(lambda e: True, mark):
            f.write(json.dumps({"t": round(t - t0, 4), **e}) + "\n")
    slog = sipp_log(work / "load-calls.log")
    live = {r["caller_id"]: r for r in records_live["active"] + records_live["recent"] if r.get("did") == HOTLINE_DID}
    ended = {r["caller_id"]: r for r in records_end["recent"] + records_end["active"] if r.get("did") == HOTLINE_DID}
    outcomes: dict[str, list[str]] = {}
    flags = {"no-input": 0, "invalid": 0, "menu failed (operator path)": 0}
    for cid, c in follow.callers.items():
        rec = live.get(cid) or ended.get(cid)
        outcomes.setdefault(classify(cid, c, rec, slog.get(cid, [])), []).append(cid)
        ivr = (rec or {}).get("ivr_path") or []
        flags["no-input"] += "no-input" in ivr
        flags["invalid"] += any(p.startswith("invalid:") for p in ivr)
        flags["menu failed (operator path)"] += "menu-failed" in ivr
    arrived = follow.arrived()
    joined = [c for c in follow.callers.values() if c.join_queue == IVR_QUEUE]
    last_arrival = follow.last_arrival or t0
    load_arrival = [c.prompt_ts - c.arrived_ts for c in arrived if c.prompt_ts and c.arrived_ts]
    load_answer = [c.prompt_ts - c.answered_ts for c in arrived if c.prompt_ts and c.answered_ts]
    load_bench = [c.prompt - c.arrived for c in arrived if c.prompt and c.arrived]
    load_agi = [c.prompt_ts - c.agi_ts for c in arrived if c.prompt_ts and c.agi_ts]
    idle_agi = [c.prompt_ts - c.agi_ts for c in idle if c.prompt_ts and c.agi_ts]
    # A press before the greeting's end is lost (the greeting takes no keys; the menu prompt starts after it).
    early = [c for c in arrived if c.prompt_ts and c.answered_ts and c.prompt_ts > c.answered_ts + press_after]
    early_dtmf = [c for c in arrived if c.digit_ts and c.prompt_ts and c.digit_ts < c.prompt_ts]
    digits_seen = sum("2" in c.digits for c in arrived)
    bye_ok = sum("bye-received" in slog.get(cid, []) for cid in caller_ids)

    print()
    print(f"== the demo IVR under load: {args.callers} callers at {args.rate:g}/s press 2 → queue {IVR_QUEUE} "
          f"(store {args.store}; {args.ivr_agents} agents registered and paused) ==")
    print(f"run: SIPp started → last arrival {last_arrival - t0:.1f} s; settled at "
          f"{(t_settled - t0) if t_settled else float('nan'):.1f} s; window ends {t1 - t0:.1f} s ({why_end})")
    print(f"SIPp exit code {sipp_rc}; answered {sum('answered' in slog.get(cid, []) for cid in caller_ids)}, "
          f"pressed {sum('pressed' in slog.get(cid, []) for cid in caller_ids)}, BYE from Asterisk answered {bye_ok}"
          + (f"; stderr: {sipp_err[:300]}" if sipp_err else ""))
    print(f"reached {IVR_QUEUE} (AMI QueueCallerJoin): {len(joined)} of {args.callers}; waiting at once: peak "
          f"{follow.peak_waiting} (bench's count), {follow.peak_count} (QueueCallerJoin Count), "
          f"{max([w for _, w in poller.queue_samples] + [int(queue_now.get('waiting') or 0)]) - int(before.get('waiting', 0))} "
          f"(/api/queues waiting, polled every 2 s and at the window's end: {queue_now.get('waiting')})")
    print("outcome per caller (call records, AMI, SIPp): " +
          "; ".join(f"{k} {len(v)}" for k, v in sorted(outcomes.items(), key=lambda kv: -len(kv[1]))))
    print("in the callers' IVR paths: " + ", ".join(f"{k} {v}" for k, v in flags.items()) +
          f"; DTMF 2 seen by Asterisk (DTMFEnd) for {digits_seen}; offered to an agent: "
          f"{sum(c.offered for c in arrived)}")
    print("arrival (Newchannel) → first prompt (first AsyncAGIExec: the greeting played), Asterisk's clock:")

    def ratio(p: float) -> str:
        if not (load_arrival and idle_arrival):
            return "-"
        return f"{percentile(load_arrival, p) / percentile(idle_arrival, p):.2f}"
    print(f"  idle ({len(idle_arrival)} calls, one at a time): {pcts(idle_arrival)}")
    print(f"  loaded:                        {pcts(load_arrival)}")
    print(f"  loaded / idle: p50 {ratio(50)}, p95 {ratio(95)}")
    print(f"  same, on the bench's clock (event arrival at the bench): idle {pcts(idle_bench)}; loaded {pcts(load_bench)}")
    print(f"  answered → first prompt: idle {pcts(idle_answer)}; loaded {pcts(load_answer)}")
    print(f"  AsyncAGIStart → first prompt (the controller's part + the greeting): idle {pcts(idle_agi)}; "
          f"loaded {pcts(load_agi)}")
    print(f"  callers whose menu started after their key press: {len(early_dtmf)} by Asterisk's DTMFEnd, "
          f"{len(early)} by the answer + {press_after:.1f} s (of {len(load_arrival)} with a first prompt); "
          f"callers without a first prompt: {sum(c.prompt is None for c in arrived)}")
    wall, arr_wall = t1 - t0, (cpu_arrivals[1] - t0) if cpu_arrivals else None
    for label, i, pid in (("controller", 0, ctl_pid), ("Asterisk", 1, ast_pid)):
        if cpu0[i] is None or cpu1[i] is None:
            print(f"{label} CPU: not measured (pid {pid})")
            continue
        line = (f"{label} CPU (pid {pid}): {cpu1[i] - cpu0[i]:.1f} s over the {wall:.1f} s window = "
                f"{100 * (cpu1[i] - cpu0[i]) / wall:.1f}% of one core")
        if cpu_arrivals and cpu_arrivals[0][i] is not None and arr_wall:
            line += f"; arrivals only ({arr_wall:.1f} s): {100 * (cpu_arrivals[0][i] - cpu0[i]) / arr_wall:.1f}%"
        if cpu2[i] is not None:
            line += f"; the hang-up of all ({t2 - t1:.1f} s): {100 * (cpu2[i] - cpu1[i]) / max(t2 - t1, 1e-6):.1f}%"
        print(line)
    ours = gen1[0] - gen0[0] + gen1[2] + sum(b - a for a, b in zip(cpu0, cpu1) if a is not None and b is not None)
    print(f"the load generators, same window: SIPp {100 * gen1[2] / wall:.1f}%, this bench "
          f"{100 * (gen1[0] - gen0[0]) / wall:.1f}%; "
          f"the whole machine {100 * (gen1[1] - gen0[1]) / wall:.1f}% of one core ({os.cpu_count()} cores), of which "
          f"other processes {100 * max(0.0, gen1[1] - gen0[1] - ours) / wall:.1f}% (load average now "
          f"{Path('/proc/loadavg').read_text().split()[0]})")
    samples = [(t, b) for t, b, *_ in poller.samples if b is not None and t0 <= t <= t1]
    peak = max(samples, key=lambda s: s[1]) if samples else None
    drained = poller.drained_since(last_arrival, t1)
    first_zero = next((t for t, b in samples if t >= last_arrival and b == 0), None)
    late = [(t, b) for t, b in samples if first_zero is not None and t > first_zero and b]
    print(f"store backlog ({poller.source}, polled every 0.5 s: {len(poller.samples)} answers, "
          f"{len(poller.errors)} failed): peak {peak[1] if peak else '-'}"
          + (f" at +{peak[0] - t0:.1f} s" if peak else "") + "; first back to 0 "
          + (f"{first_zero - last_arrival:.1f} s after the last arrival" if first_zero is not None
             else f"not within the window ({t1 - last_arrival:.1f} s after the last arrival)")
          + (f"; up again later (peak {max(b for _, b in late)}), 0 for good {drained - last_arrival:.1f} s after the "
             f"last arrival" if late and drained is not None else ""))
    others: dict[str, int] = {}
    for t, _, _, queued, _ in poller.samples:
        for name, n in queued.items():
            if t0 <= t <= t1:
                others[name] = max(others.get(name, 0), n)
    dropped = [d for _, _, d, _, _ in poller.samples]
    slow = [s for t, *_, s in poller.samples if t0 <= t <= t1]
    print(f"  bus queues' peaks in the window: {others}; store writer dropped: "
          f"{dropped[-1] - dropped[0] if dropped else '-'}; /api/status answered in {pcts(slow)}")
    hang_drain = poller.drained_since(t_sipp_end)
    hang_peak = max((b for t, b, *_ in poller.samples if t > t1 and b is not None), default=None)
    print(f"hang-up: AMI Hangup {('ok' if hangup_reply else 'failed')}; SIPp ended {t_sipp_end - t_bye:.1f} s later; "
          f"store backlog peak {hang_peak}; "
          f"records ended {sum(1 for cid in caller_ids if (ended.get(cid) or {}).get('state') == 'ended')} of "
          f"{args.callers}; backlog back to 0 "
          + (f"{hang_drain - t_sipp_end:.1f} s after SIPp ended" if hang_drain else "not seen"))
    if ami_lost:
        print("WARNING: the bench's AMI connection was lost during the run: its AMI figures are incomplete")
    try:
        with open(system.log_path, errors="replace") as f:
            f.seek(log_start)
            lines = f.read().splitlines()
    except OSError:
        lines = []
    errors, warnings_, top = log_summary(lines)
    print(f"controller log over part 3: {len(errors)} error lines, {len(warnings_)} warning lines" +
          "".join(f"\n  {n} × {text[:200]}" for n, text in top))
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    for line in errors[:5]:
        i = lines.index(line)
        tail = next((lines[j - 1] for j in range(i + 1, len(lines)) if stamp.match(lines[j])), lines[-1])
        print(f"  {line[:300]}" + (f"\n    … {tail.strip()[:300]}" if tail != line else ""))
    alog = asterisk_log(system)
    if alog is not None:
        alines = alog.read_text(errors="replace").splitlines()
        a_warn = [ln for ln in alines if "WARNING[" in ln or "ERROR[" in ln]
        texts: dict[str, int] = {}
        for ln in a_warn:
            key = re.sub(r"\d+", "N", ln.split("] ", 1)[-1])[:160]
            texts[key] = texts.get(key, 0) + 1
        print(f"Asterisk log: {len(a_warn)} warning/error lines" +
              "".join(f"\n  {n} × {t}" for t, n in sorted(texts.items(), key=lambda kv: -kv[1])[:5]))
    for label in sorted(outcomes):
        if label != "support (pressed 2)":
            cid = outcomes[label][0]
            c, rec = follow.callers[cid], live.get(cid) or ended.get(cid)
            print(f"  e.g. {label}: {cid}: SIPp {slog.get(cid, [])}, digits {c.digits!r}, record "
                  f"{rec and {k: rec.get(k) for k in ('state', 'ivr_path', 'ivr_end', 'path', 'hangup_cause_text')}}")
    errs = (work / "load-errors.log").read_text(errors="replace") if (work / "load-errors.log").exists() else ""
    if errs.strip():
        print(f"SIPp error log ({len(errs.splitlines())} lines), first lines:")
        print("\n".join("    " + line for line in errs.strip().splitlines()[:8]))


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("unpause", "load", "ivr"),
                        help="run one part only (part 3, ivr, runs only when asked for)")
    parser.add_argument("--presses", "--rounds", dest="presses", type=int, default=20,
                        help="part 1: unpause rounds counted (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="part 1: uncounted rounds first (default 1)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="part 1: seconds the caller waits in the queue before the unpause (default 1)")
    parser.add_argument("--jitter", type=float, default=2.0,
                        help="part 1: plus a random 0..jitter s, so the unpause falls anywhere in app_queue's "
                             "retry cycle (default 2)")
    parser.add_argument("--unpause-retry", type=int, default=2,
                        help="part 1 queue's retry, s (app_queue's wait between tries; default 2, the config's)")
    parser.add_argument("--gap", type=float, default=0.3, help="part 1: pause between rounds, s (default 0.3)")
    parser.add_argument("--agent-action", choices=("answer", "reject"), default="answer",
                        help="part 1: what agent0 does with the offer (default answer, then hang up)")
    parser.add_argument("--unpause-strategy", default="ringall", help="part 1 queue's strategy (default ringall)")
    parser.add_argument("--callers", type=int, default=None,
                        help="parts 2 and 3: SIPp callers (default 50; part 3: 1000)")
    parser.add_argument("--agents", type=int, default=3, help="part 2: agents (default 3)")
    parser.add_argument("--max-wait", type=int, default=None,
                        help="part 2: the flow's queue max_wait, s, then overflow → hangup (default 30); part 3: "
                             "the max_wait of the hotline copy's queue nodes (default 3600: nobody overflows)")
    parser.add_argument("--rate", type=float, default=None,
                        help="parts 2 and 3: calls per second placed (default 10; part 3: 50)")
    parser.add_argument("--ring", type=float, default=1.0, help="part 2: agents answer after, s (default 1)")
    parser.add_argument("--talk", type=float, default=3.0, help="part 2: agents hang up after, s (default 3)")
    parser.add_argument("--strategy", default="leastrecent", help="part 2 queue's strategy (default leastrecent)")
    parser.add_argument("--ring-timeout", type=int, default=15, help="part 2 queue's ring_timeout (default 15)")
    parser.add_argument("--wrapup", type=int, default=0, help="part 2 queue's wrapup, s (default 0)")
    parser.add_argument("--press-after", type=float, default=None,
                        help="part 3: seconds from the answer to the caller's key press (default: the idle "
                             f"system's answer → menu start, p50, + {PRESS_MARGIN:g} s)")
    parser.add_argument("--idle-calls", type=int, default=5,
                        help="part 3: idle calls, one at a time, before the load (default 5, +1 warm-up)")
    parser.add_argument("--idle-gap", type=float, default=1.0, help="part 3: pause between idle calls, s (default 1)")
    parser.add_argument("--ivr-agents", type=int, default=2,
                        help="part 3: agents in support, registered and paused (default 2; 0: none)")
    parser.add_argument("--settle-timeout", type=float, default=180,
                        help="part 3: give up waiting for every caller to reach the queue (or hang up) and the "
                             "store backlog to drain this long after the last arrival, s (default 180; the "
                             "menu-failed path through the operator takes ~50 s)")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the ticket store: SQLite in the runtime folder (default), or a private PostgreSQL "
                             "cluster (tests/support/pgcluster.py) started for the run")
    parser.add_argument("--rtp-ports", default=None,
                        help=f"Asterisk's RTP range (default {RTP_PORTS}; part 3: {IVR_RTP_PORTS}, 3,000 calls)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per round in part 1")
    args = parser.parse_args()
    ivr = args.only == "ivr"
    for name, part2, part3 in (("callers", 50, 1000), ("rate", 10.0, 50.0), ("max_wait", 30, 3600),
                               ("rtp_ports", RTP_PORTS, IVR_RTP_PORTS)):
        if getattr(args, name) is None:
            setattr(args, name, part3 if ivr else part2)
    exit_on_sigterm()

    queues, agents, dids, flows = config_yaml(args)
    flow_text = ""
    if ivr:
        more_queues, more_agents, more_dids = ivr_config(args)
        queues, agents, dids = queues + more_queues, agents + more_agents, dids + more_dids
        flow_text = hotline_flow(args.max_wait)
        flows = {**flows, "hotline": flow_text}
        # Asterisk: ~4 descriptors a call (RTP, RTCP, timer, ...); SIPp and the controller far fewer.
        soft, hard = raise_open_files(args.callers * 4 + 4096)
        print(f"open files limit {soft} (hard {hard}) for {args.callers} calls", flush=True)
        if soft < args.callers * 4 + 1024:
            print(f"warning: {soft} open files may be too few for {args.callers} calls", flush=True)
        low, _, high = args.rtp_ports.partition("-")
        if (int(high) - int(low) + 1) // 2 < args.callers + args.idle_calls + 10:
            print(f"warning: RTP range {args.rtp_ports} holds {(int(high) - int(low) + 1) // 2} calls, fewer than "
                  f"{args.callers}", flush=True)
    cluster = None
    extra = ""
    pg_dir = None
    if args.store == "postgresql":
        from tests.support.pgcluster import PgCluster
        pg_dir = Path(tempfile.mkdtemp(prefix="callcenter-bench-pg-"))
        cluster = PgCluster(pg_dir, int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 632)
        print(f"starting a private PostgreSQL cluster on 127.0.0.1:{cluster.port} ...", flush=True)
        extra = f"store: {{url: '{cluster.start()}'}}\n"
    system = BenchSystem(dids, flows, keep=args.keep, queues_yaml=queues, agents_yaml=agents, extra_yaml=extra,
                         rtp_ports=args.rtp_ports)
    watch = None
    ports = PortAllocator(**PHONE_PORTS)
    unpause: dict[str, list[float]] | None = None
    try:
        print(f"starting callcenter in {system.dir} (store: {args.store}, RTP {args.rtp_ports}) ...", flush=True)
        system.start()
        print(f"ready in {system.ready_seconds:.1f} s (controller pid {system.proc.pid}, "
              f"Asterisk pid {system.started_asterisk_pid})", flush=True)
        # Part 3 loads Asterisk until it may answer a ping late: its watcher waits 30 s before it drops
        # the connection (and the events meanwhile).
        watch = system.ami_watch(ping_interval=5.0, action_timeout=30.0) if ivr else system.ami_watch()
        api = functools.partial(system.call, timeout=15)
        if args.only in (None, "unpause"):
            print(f"part 1: {args.presses} unpause rounds (+{args.warmup} warm-up) ...", flush=True)
            unpause = unpause_rounds(system, watch, api, ports, args)
            print()
            print(f"== agent unpaused → next waiting call ringing them ({args.unpause_strategy}, retry "
                  f"{args.unpause_retry} s, 1 agent, "
                  f"agent {args.agent_action}s) ==")
            print(f"unpause request (HTTP round trip):     {summary(unpause['request'])}")
            print(f"request sent     → AMI AgentCalled:    {summary(unpause['sent_called'])}")
            print(f"response arrived → AMI AgentCalled:    {summary(unpause['ret_called'])}")
            print(f"request sent     → INVITE at agent:    {summary(unpause['sent_invite'])}")
            print(f"response arrived → INVITE at agent:    {summary(unpause['ret_invite'])}")
            sys.stdout.flush()
        if args.only in (None, "load"):
            print(f"part 2: {args.callers} SIPp callers on {args.agents} agents ...", flush=True)
            sipp_load(system, watch, api, ports, args)
        if ivr:
            print(f"part 3: the demo IVR, {args.callers} SIPp callers at {args.rate:g}/s pressing 2 ...", flush=True)
            ivr_load(system, watch, api, ports, args, flow_text)
    finally:
        if watch is not None:
            watch.stop()
        errors = [line for line in system.log_tail(100000).splitlines()
                  if re.search(r"\b(ERROR|CRITICAL|Traceback)\b", line)]
        warnings_ = [line for line in system.log_tail(100000).splitlines() if re.search(r"\bWARNING\b", line)]
        print(f"controller log: {len(errors)} error lines, {len(warnings_)} warning lines")
        for line in errors[:10]:
            print(f"  {line[:300]}")
        for line in warnings_[:5]:
            print(f"  {line[:300]}")
        system.stop()
        if cluster is not None:
            cluster.stop()
            if pg_dir is not None and not args.keep:
                shutil.rmtree(pg_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
