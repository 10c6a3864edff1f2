"""The system under integration test: `callcenter run` (a real Asterisk + our controller).

`callcenter run` is started as a subprocess from a test config (its own ports, its own runtime
folder), exactly as a user starts it; tests talk to it over SIP (pyVoIP phones), its REST API,
its CLI, and a second AMI connection of their own that watches what Asterisk does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import functools
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from callcenter.ami import actions
from callcenter.ami.client import AmiClient
from callcenter.asterisk.render import HEARTBEAT_MAX
from callcenter.asterisk.install import find_asterisk
from callcenter.config import Config, load_config
from callcenter.core.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]
CALLCENTER = [sys.executable, "-m", "callcenter.cli"]

# Ports of the session system: away from the demo's defaults, so `make run` can run beside the tests;
# CALLCENTER_TEST_PORT_BASE moves them all (a second checkout's `make test` beside this one).
PORT_BASE = int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000"))
SIP_PORT, AMI_PORT, API_PORT = PORT_BASE + 60, PORT_BASE + 38, PORT_BASE + 3080
EMAIL_PORT = PORT_BASE + 25  # the SMTP receiver
WS_PORT = PORT_BASE + 88  # Asterisk's HTTP server: the browser softphone's WebSocket
RTP_PORTS = f"{PORT_BASE + 2000}-{PORT_BASE + 2999}"
PHONE_PORTS = PORT_BASE + 25000  # phones take 10,000 ports from here
OTHER_BASE = PORT_BASE + 10000  # a second system (startup tests), the same layout
HOTLINE = "8005550100"  # the shipped demo flow, ivr_flows/hotline.yaml
PLAIN = "8005550101"  # no flow: greeting, then queue support
LEVELS = "8005550102"  # tests/fixtures/flows/levels.yaml
OVERFLOW = "8005550103"  # tests/fixtures/flows/overflow.yaml
CLOSED = "8005550104"  # a flow closed today (holidays), written by the fixture
RELOADABLE = "8005550105"  # a flow the tests rewrite

# Lines straight into a queue (greeting: a beep), for the distribution tests.
TEAM_DIDS = {"ring3": "8005550110", "rr3": "8005550111", "lr3": "8005550112", "solo": "8005550113",
             "wrap": "8005550114", "cbq": "8005550115", "xfer": "8005550116"}
# Where the trunk sends calls out (callbacks, transfers to numbers): a test phone plays the carrier.
CARRIER_PORT = PORT_BASE + 24090

TEST_CONFIG = f"""\
runtime_dir: runtime
ivr_flows: flows
sip: {{bind: 127.0.0.1, port: {SIP_PORT}, rtp_ports: {RTP_PORTS}, qualify_frequency: 2, ws_port: {WS_PORT}}}
ami: {{bind: 127.0.0.1, port: {AMI_PORT}, ping_interval: 1.0, action_timeout: 3.0}}
api: {{bind: 127.0.0.1, port: {API_PORT}}}
trunk: {{name: carrier, match: [127.0.0.1], host: "127.0.0.1:{CARRIER_PORT}"}}
queues:
  support: {{strategy: ringall, ring_timeout: 10}}
  sales: {{strategy: leastrecent}}
  ring3: {{strategy: ringall, ring_timeout: 8}}
  rr3: {{strategy: rrmemory, ring_timeout: 8}}
  lr3: {{strategy: leastrecent, ring_timeout: 8}}
  solo: {{strategy: ringall, ring_timeout: 3, retry: 1, record: true}}
  wrap: {{strategy: ringall, ring_timeout: 8, wrapup: 5}}
  cbq: {{strategy: ringall, ring_timeout: 8, callback: true}}
  xfer: {{strategy: ringall, ring_timeout: 8}}
agents:
  agent1: {{full_name: Ada Agent, extension: "1001", queues: [support]}}
  agent2: {{full_name: Bob Agent, extension: "1002", queues: [sales]}}
  agent3: {{full_name: Cy Agent, extension: "1003", queues: [sales]}}
  agent6: {{full_name: Di Agent, extension: "1006", queues: [xfer]}}
  agent7: {{full_name: Ed Agent, extension: "1007"}}
supervisors:
  sue: {{full_name: Sue Supervisor, extension: "1900"}}
dids:
  "{HOTLINE}": {{name: Test hotline, flow: hotline, greeting: hello-world, queue: support}}
  "{PLAIN}": {{name: Plain line, greeting: hello-world, queue: support}}
  "{LEVELS}": {{flow: levels, queue: support}}
  "{OVERFLOW}": {{flow: overflow, queue: support}}
  "{CLOSED}": {{flow: closed, queue: support}}
  "{RELOADABLE}": {{flow: reloadable, queue: support}}
  "{TEAM_DIDS['ring3']}": {{greeting: beep, queue: ring3}}
  "{TEAM_DIDS['rr3']}": {{greeting: beep, queue: rr3}}
  "{TEAM_DIDS['lr3']}": {{greeting: beep, queue: lr3}}
  "{TEAM_DIDS['solo']}": {{greeting: beep, queue: solo}}
  "{TEAM_DIDS['wrap']}": {{greeting: beep, queue: wrap}}
  "{TEAM_DIDS['cbq']}": {{greeting: beep, queue: cbq}}
  "{TEAM_DIDS['xfer']}": {{greeting: beep, queue: xfer}}
routing: {{callback_attempts: 2, callback_retry_seconds: 2}}
security: {{ban_threshold: 5, ban_window: 30, ban_seconds: 8}}
email: {{smtp_port: {EMAIL_PORT}}}
"""

RELOADABLE_FLOW = """\
name: reloadable
entry: menu
nodes:
  menu:
    menu:
      prompt: beep
      options: {{1: first}}
      timeout: 20
      retries: 0
    failure: first
  first:
    queue: {queue}
"""


def closed_flow(today: "dt.date") -> str:
    """A flow whose line is closed today (and the days around it, whatever the time zone)."""
    days = ", ".join(str(today + dt.timedelta(days=d)) for d in (-1, 0, 1))
    return f"""\
name: closed
entry: hours
nodes:
  hours:
    hours: {{timezone: UTC, always: true, holidays: [{days}]}}
    open: open_queue
    closed: closed_queue
  open_queue:
    queue: support
  closed_queue:
    queue: sales
"""


def write_flows(directory: Path) -> None:
    """The session's flows: the shipped ones, the test fixtures, and the generated ones."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in [*sorted((REPO / "ivr_flows").glob("*.yaml")), *sorted((REPO / "tests/fixtures/flows").glob("*.yaml"))]:
        (directory / source.name).write_text(source.read_text())
    (directory / "closed.yaml").write_text(closed_flow(dt.date.today()))
    (directory / "reloadable.yaml").write_text(RELOADABLE_FLOW.format(queue="support"))


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ApiError(Exception):
    """A REST call that had to succeed did not: (status, body)."""


@dataclass
class System:
    """One running callcenter (controller + Asterisk) under test (bench/ runs its own: bench/_harness.py)."""

    dir: Path
    config_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    starts: int = 0
    log_files: list[Path] = field(default_factory=list)
    api_port: int = API_PORT
    ready_seconds: float = 0.0  # of the last start: `callcenter run` until its ready banner

    @property
    def config(self) -> Config:
        return load_config(self.config_path, env=self.env)

    @functools.cached_property
    def runtime_dir(self) -> Path:
        """Cached: a test may break the config file on purpose."""
        return self.config.runtime_dir

    @property
    def creds(self) -> Credentials:
        """The generated secrets (read again: a config reload adds agents' passwords)."""
        return Credentials.load(self.runtime_dir)

    @functools.cached_property
    def api_token(self) -> str:
        """Read once (generated at the first start, it never changes): benchmarks poll the API."""
        return self.creds.api_token

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*CALLCENTER, "--config", str(self.config_path), *args], capture_output=True,
                                text=True, env=self.env, timeout=60, cwd=REPO)
        if check and result.returncode != 0:
            raise AssertionError(f"callcenter {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def api(self, path: str, token: str | None = "", method: str = "GET", body: Any = None,
            timeout: float = 10) -> tuple[int, Any]:
        """Call path; token '' means the right one, None means no Authorization header."""
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.api_token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", headers=headers, method=method,
                                         data=data)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def call(self, path: str, body: Any = None, method: str | None = None, timeout: float = 10) -> Any:
        """The JSON answer of a REST call that must succeed (POST when there is a body); ApiError otherwise."""
        status, data = self.api(path, method=method or ("POST" if body is not None else "GET"), body=body,
                                timeout=timeout)
        if not 200 <= status < 300:
            raise ApiError(f"{method or 'GET'} {path}: {status} {data}")
        return data

    def start_controller(self, extra_env: dict[str, str] | None = None, timeout: float = 60) -> str:
        """`callcenter run`; returns what it printed up to its ready banner (AMI connected by then)."""
        self.starts += 1
        started = time.monotonic()
        log = self.dir / f"controller-{self.starts}.log"
        self.log_files.append(log)
        out = open(log, "w")  # noqa: SIM115 - the child writes it
        self.proc = subprocess.Popen([*CALLCENTER, "--config", str(self.config_path), "run"], stdout=out,
                                     stderr=subprocess.STDOUT, env={**self.env, **(extra_env or {})}, cwd=REPO,
                                     text=True)
        out.close()
        wait_until(lambda: "callcenter is running" in log.read_text() or self.proc.poll() is not None, timeout,
                   "the controller's ready banner")
        assert self.proc.poll() is None, f"controller exited:\n{log.read_text()}"
        self.ready_seconds = time.monotonic() - started
        wait_until(lambda: self.api("/api/status")[1]["ami"]["connected"], 20, "AMI connected")
        return log.read_text()

    def stop_controller(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def asterisk_pid(self) -> int:
        """Asterisk's pid from its pid file; 0 while there is none (it is being restarted)."""
        install = find_asterisk()
        pid_file = install.instance_base(self.runtime_dir) / "run" / "asterisk.pid"
        try:
            return int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.read_text()}" for p in self.log_files if p.exists())


class AmiWatch:
    """The tests' own AMI connection: every event Asterisk sends, to wait on (bench/_harness.py runs
    one on a thread of its own). `arrived[i]` is when `events[i]` arrived (time.monotonic())."""

    def __init__(self, client: AmiClient, on_event: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.events: list[dict[str, str]] = []
        self.arrived: list[float] = []
        self.on_event = on_event  # called after each event is added

    async def consume(self) -> None:
        async for item in self.client.raw_events():
            if hasattr(item, "get") and item.get("Event"):
                self.arrived.append(time.monotonic())  # (first: a reader of events[i] finds arrived[i])
                self.events.append(dict(item))
                self.on_event()

    def find(self, predicate: Callable[[dict[str, str]], bool], start: int = 0) -> list[tuple[float, dict[str, str]]]:
        """(arrival time, event) of every event from index `start` on that `predicate` accepts."""
        return [(self.arrived[i], e) for i, e in enumerate(self.events[start:], start) if predicate(e)]

    def mark(self) -> int:
        """Where the stream is now: `wait_for(since=mark)` looks only at later events."""
        return len(self.events)

    async def wait_for(self, timeout: float = 15, since: int = 0, **match: str) -> dict[str, str]:
        """The first event (seen so far or coming, from index `since`) whose headers equal all of `match`."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events[since:]:
                if all(e.get(k) == v for k, v in match.items()):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError(f"no AMI event {match} within {timeout:g} s")
            await asyncio.sleep(0.05)

    def seen(self, **match: str) -> list[dict[str, str]]:
        return [e for e in self.events if all(e.get(k) == v for k, v in match.items())]

    async def heartbeat(self) -> int | None:
        """The controller's heartbeat in AstDB (epoch seconds), None if there is none."""
        reply = await self.client.send(actions.unchecked({"Action": "DBGet", "Family": "callcenter",
                                                          "Key": "heartbeat"}, as_list=True))
        for msg in reply if isinstance(reply, list) else [reply]:
            if msg.get("Event") == "DBGetResponse" and msg.get("Val"):
                return int(msg.get("Val"))
        return None

    async def wait_heartbeat_fresh(self, timeout: float = 20) -> None:
        """Until the dialplan hands new callers to the controller: its heartbeat is written and fresh."""
        deadline = time.monotonic() + timeout
        while (beat := await self.heartbeat()) is None or time.time() - beat > HEARTBEAT_MAX / 2:
            if time.monotonic() > deadline:
                raise AssertionError(f"no fresh controller heartbeat within {timeout:g} s (last: {beat})")
            await asyncio.sleep(0.1)

    async def wait_heartbeat_stale(self) -> None:
        """Until the dialplan sends new callers to its fallback: its `${EPOCH} - heartbeat > HEARTBEAT_MAX`
        holds (the controller is gone: the heartbeat is no longer written)."""
        beat = await self.heartbeat()
        if beat is not None:
            await asyncio.sleep(max(0.0, beat + HEARTBEAT_MAX + 1.2 - time.time()))


def find_call(system: System, caller_id: str, ended: bool = True) -> dict[str, Any] | None:
    """The newest call record of this caller (ended ones only, unless ended=False)."""
    _, data = system.api("/api/calls?limit=200")
    rows = data["recent"] + ([] if ended else data["active"])
    mine = [c for c in rows if c["caller_id"] == caller_id]
    return max(mine, key=lambda c: c["started_at"]) if mine else None
