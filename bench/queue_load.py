"""Benchmark: queues, agents and presence under load (prints figures; not a test).

    .venv/bin/python -m bench.queue_load                    # both parts, defaults below
    .venv/bin/python -m bench.queue_load --presses 5 --callers 20 --max-wait 20
    .venv/bin/python -m bench.queue_load --only unpause     # or --only load

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
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import random
import re
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from bench._harness import (
    PHONE_PORTS,
    SIP_PORT,
    AmiWatch,
    BenchSystem,
    PortAllocator,
    SipPhone,
    cpu_seconds,
    exit_on_sigterm,
    summary,
)

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


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("unpause", "load"), help="run one part only")
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
    parser.add_argument("--callers", type=int, default=50, help="part 2: SIPp callers (default 50)")
    parser.add_argument("--agents", type=int, default=3, help="part 2: agents (default 3)")
    parser.add_argument("--max-wait", type=int, default=30,
                        help="part 2: the flow's queue max_wait, s, then overflow → hangup (default 30)")
    parser.add_argument("--rate", type=float, default=10, help="part 2: calls per second placed (default 10)")
    parser.add_argument("--ring", type=float, default=1.0, help="part 2: agents answer after, s (default 1)")
    parser.add_argument("--talk", type=float, default=3.0, help="part 2: agents hang up after, s (default 3)")
    parser.add_argument("--strategy", default="leastrecent", help="part 2 queue's strategy (default leastrecent)")
    parser.add_argument("--ring-timeout", type=int, default=15, help="part 2 queue's ring_timeout (default 15)")
    parser.add_argument("--wrapup", type=int, default=0, help="part 2 queue's wrapup, s (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per round in part 1")
    args = parser.parse_args()
    exit_on_sigterm()

    queues, agents, dids, flows = config_yaml(args)
    system = BenchSystem(dids, flows, keep=args.keep, queues_yaml=queues, agents_yaml=agents)
    watch = None
    ports = PortAllocator(**PHONE_PORTS)
    unpause: dict[str, list[float]] | None = None
    try:
        print(f"starting callcenter in {system.dir} ...", flush=True)
        system.start()
        print(f"ready in {system.ready_seconds:.1f} s (controller pid {system.proc.pid}, "
              f"Asterisk pid {system.started_asterisk_pid})", flush=True)
        watch = system.ami_watch()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
