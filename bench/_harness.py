"""Shared plumbing of the benchmarks (not a benchmark itself, not a test): what they need beyond
the tests' own support (tests/support/, which they import; run them from the repository root as
modules: `.venv/bin/python -m bench.NAME`).

`BenchSystem` is the tests' `System` (tests/support/system.py: `callcenter run` as a subprocess, its
REST API, its CLI) from a temporary folder of its own, on ports of its own so it never meets the
test suite (15060/15038/18080) or the demo (5060/5038/8080), with what a benchmark adds: a check
that the ports are free, SIGSTOP/SIGCONT of the controller, and a stop that cleans up after a
controller that had to be killed:

    SIP 127.0.0.1:35060 (UDP)   AMI 127.0.0.1:35038   API 127.0.0.1:38080   RTP 37000-37999
    softphone WebSocket 127.0.0.1:35088
    (a benchmark may widen the RTP range: bench/queue_load.py --only ivr uses 19000-24999)

`AmiWatch` runs the tests' AMI watch (tests/support/system.py: every event stamped with
`time.monotonic()` on arrival) on an event loop in a background thread, for benchmarks that are
not asyncio: AMI events and received RTP audio (stamped by the SIP test phone's receive thread)
share one clock. `StatusPoller` polls GET /api/status (the store backlog, the bus queues) in a thread.
Also here: RTP helpers (received chunks, DTMF end packets), percentiles, controller log summaries,
and the web chats that bench/chat.py measures and bench/channels.py keeps busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from callcenter.ami import actions
from callcenter.ami.client import AmiClient
from callcenter.asterisk.install import find_asterisk
from tests.support import system as support
from tests.support.system import REPO, System

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.support.sipphone import PhoneCall, PortAllocator, SipPhone

__all__ = [
    "AMI_PORT",
    "API_PORT",
    "PHONE_PORTS",
    "REPO",
    "RTP_PORTS",
    "SIP_PORT",
    "WS_PORT",
    "AmiWatch",
    "BenchSystem",
    "DtmfEndTap",
    "PhoneCall",
    "PortAllocator",
    "SipPhone",
    "StatusPoller",
    "agents_yaml",
    "asterisk_log",
    "busy_chats_in_background",
    "chat_yaml",
    "chunk_level",
    "cpu_seconds",
    "exit_on_sigterm",
    "log_summary",
    "machine_cpu_seconds",
    "percentile",
    "raise_open_files",
    "rx_chunks",
    "store_backlog",
    "summary",
]

SIP_PORT, AMI_PORT, API_PORT, RTP_PORTS = 35060, 35038, 38080, "37000-37999"
WS_PORT = 35088  # Asterisk's HTTP server: the browser softphone's WebSocket (bench/softphone.py)
PHONE_PORTS = {"base": 50000, "span": 10000}

CONFIG = f"""\
# Written by a callcenter benchmark (bench/). Ports away from the tests and the demo.
runtime_dir: runtime
ivr_flows: flows
sip: {{bind: 127.0.0.1, port: {SIP_PORT}, rtp_ports: {{rtp_ports}}, ws_port: {WS_PORT}}}
ami: {{bind: 127.0.0.1, port: {AMI_PORT}, ping_interval: 1.0, action_timeout: 3.0}}
api: {{bind: 127.0.0.1, port: {API_PORT}}}
email: {{smtp_port: 35025}}
trunk: {{name: carrier, match: [127.0.0.1]}}
queues:
{{queues}}
agents:
{{agents}}
dids:
{{dids}}
"""
DEFAULT_QUEUES = "  support: {strategy: ringall, ring_timeout: 10}\n"
DEFAULT_AGENTS = '  agent1: {full_name: Ada Agent, extension: "1001", queues: [support]}\n'


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the benchmark's `finally` still stops what it started."""
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of a non-empty list."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(values_ms: list[float]) -> str:
    if not values_ms:
        return "no samples"
    return (f"p50 {percentile(values_ms, 50):.0f} ms, p95 {percentile(values_ms, 95):.0f} ms, "
            f"min {min(values_ms):.0f} ms, max {max(values_ms):.0f} ms (n={len(values_ms)})")


def chunk_level(pcm: bytes) -> float:
    """RMS of one received chunk (s16le), the scale of PhoneCall.audio_level."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop as _audioop
    return float(_audioop.rms(pcm, 2)) if pcm else 0.0


def rx_chunks(call: PhoneCall) -> list[tuple[float, bytes]]:
    """Every received RTP audio packet of the call so far: (arrival time.monotonic(), s16le PCM).

    PhoneCall has no public accessor for the arrival times; the RTP stream records them
    (`_RtpStream.rx_chunks`), one entry per 20 ms packet, stamped by its receive thread.
    """
    rtp = call._call.rtp
    return rtp.rx_chunks() if rtp is not None else []


class DtmfEndTap:
    """Stamps when the phone puts the first RFC 4733 end packet of each event on the wire.

    Wraps the RTP stream's send socket (the transmit thread looks it up for every packet), so it
    sees exactly what leaves the phone; one time.monotonic() per event, in order.
    """

    def __init__(self, call: PhoneCall) -> None:
        rtp = call._call.rtp
        if rtp is None or rtp.event_pt is None:
            raise RuntimeError("no RTP stream with telephone-event on this call")
        self.event_pt = rtp.event_pt
        self.sent_ends: list[float] = []
        self._seen: set[int] = set()
        self._sock = rtp.sout
        rtp.sout = self

    def sendto(self, data: bytes, addr: Any) -> int:
        if len(data) >= 16 and data[1] & 0x7F == self.event_pt and data[13] & 0x80:
            ts = int.from_bytes(data[4:8], "big")
            if ts not in self._seen:
                self._seen.add(ts)
                self.sent_ends.append(time.monotonic())
        return self._sock.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class AmiWatch:
    """The benchmark's own AMI connection: tests/support's AmiWatch on a background thread's event
    loop; `find` / `wait_for` give each event with its arrival time (time.monotonic()).

    Login is retried every `retry` s for `patience` s (a benchmark may start it while Asterisk boots)."""

    def __init__(self, host: str, port: int, username: str, secret: str, *, retry: float = 0.5,
                 patience: float = 30.0, ping_interval: float = 2.0, action_timeout: float = 5.0) -> None:
        """`ping_interval` / `action_timeout`: a ping unanswered for `action_timeout` s drops the
        connection (then it reconnects; the events meanwhile are lost): a benchmark that loads
        Asterisk until it answers slowly gives it longer."""
        self._args = (host, port, username, secret)
        self.retry, self.patience = retry, patience
        self.ping_interval, self.action_timeout = ping_interval, action_timeout
        self._cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.watch: support.AmiWatch | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, name="bench-ami", daemon=True)

    @property
    def client(self) -> AmiClient | None:
        return self.watch.client if self.watch is not None else None

    @property
    def events(self) -> list[dict[str, str]]:
        return self.watch.events if self.watch is not None else []

    @property
    def arrived_times(self) -> list[float]:
        """time.monotonic() when each of `events` arrived (the same index; appended first)."""
        return self.watch.arrived if self.watch is not None else []

    def start(self, timeout: float = 30) -> AmiWatch:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"AMI watch: no login within {timeout:g} s")
        if self._error is not None:
            raise RuntimeError(f"AMI watch: {self._error}")
        return self

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        host, port, username, secret = self._args
        self._stop = asyncio.Event()
        client = AmiClient(host, port, username, secret, action_timeout=self.action_timeout,
                           ping_interval=self.ping_interval)
        deadline = time.monotonic() + self.patience
        while True:
            try:
                await client.connect()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(self.retry)
        self.watch = support.AmiWatch(client, on_event=self._notify)
        tasks = [asyncio.create_task(client.run()), asyncio.create_task(self.watch.consume())]
        self._ready.set()
        await self._stop.wait()
        await client.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=5)

    def send(self, fields: dict[str, Any], timeout: float = 10, check: bool = False,
             as_list: bool | None = None) -> Any:
        """The bench's own observer connection: raw headers in, raw reply out (never the controller's way)."""
        assert self.client is not None
        future = asyncio.run_coroutine_threadsafe(self.client.send(actions.unchecked(fields, as_list)), self.loop)
        return future.result(timeout)

    def send_all(self, *requests: dict[str, Any], timeout: float = 10) -> list[Any]:
        """Several list actions at once on this connection (answers routed by ActionID)."""
        client = self.client
        assert client is not None

        async def go() -> list[Any]:
            return list(await asyncio.gather(*(client.send(actions.unchecked(r, True)) for r in requests)))
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout)

    def mark(self) -> int:
        """Index of the next event (to wait only for events that come after now)."""
        return len(self.events)

    def find(self, predicate: Callable[[dict[str, str]], bool], start: int = 0) -> list[tuple[float, dict[str, str]]]:
        return self.watch.find(predicate, start) if self.watch is not None else []

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float, start: int = 0,
                 what: str = "an AMI event") -> tuple[float, dict[str, str]]:
        """The first event from index `start` on that matches, with its arrival time."""
        assert self.watch is not None
        events, arrived = self.watch.events, self.watch.arrived
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(events):
                    e = events[index]
                    index += 1
                    if predicate(e):
                        return arrived[index - 1], e
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} within {timeout:g} s")
                self._cond.wait(remaining)

    def heartbeat(self) -> int | None:
        """The controller's heartbeat in AstDB (epoch seconds), None if absent."""
        if self.watch is None:
            return None
        try:
            return asyncio.run_coroutine_threadsafe(self.watch.heartbeat(), self.loop).result(10)
        except Exception:  # noqa: BLE001 - not connected, timed out: no heartbeat to read
            return None


class BenchSystem(System):
    """The tests' `System` from a temporary folder: config, flows, controller log; ports of its own."""

    def __init__(self, dids_yaml: str, flows: dict[str, str], keep: bool = False, *,
                 queues_yaml: str = DEFAULT_QUEUES, agents_yaml: str = DEFAULT_AGENTS,
                 extra_yaml: str = "", rtp_ports: str = RTP_PORTS) -> None:
        """`queues_yaml` / `agents_yaml` replace the default queue `support` / agent `agent1`
        (indented entries, as `dids_yaml`); `extra_yaml` is appended (top-level keys, e.g. routing);
        `rtp_ports` replaces Asterisk's RTP range (LOW-HIGH; two ports a call: RTP and RTCP)."""
        folder = Path(tempfile.mkdtemp(prefix="callcenter-bench-"))
        config_path = folder / "callcenter.yaml"
        text = (CONFIG.replace("{queues}", queues_yaml.rstrip("\n")).replace("{agents}", agents_yaml.rstrip("\n"))
                .replace("{dids}", dids_yaml.rstrip("\n")).replace("{rtp_ports}", rtp_ports))
        config_path.write_text(text + extra_yaml)
        (folder / "flows").mkdir()
        for name, flow in flows.items():
            (folder / "flows" / f"{name}.yaml").write_text(flow)
        super().__init__(folder, config_path, {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")},
                         api_port=API_PORT)
        self.keep = keep
        self.stopped = False  # SIGSTOPped by us
        self.started_asterisk_pid: int | None = None  # the Asterisk this benchmark started (stop() checks it is gone)
        self.failed = False

    @property
    def log_path(self) -> Path:
        """The controller's output (of the last start)."""
        return self.log_files[-1] if self.log_files else self.dir / "controller-1.log"

    def _busy_ports(self) -> list[str]:
        import socket
        busy = []
        for kind, port in (("udp", SIP_PORT), ("tcp", AMI_PORT), ("tcp", API_PORT), ("tcp", WS_PORT)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
            if kind == "tcp":  # as the servers do: connections in TIME_WAIT do not block the port
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{kind}/{port}")
            finally:
                s.close()
        return busy

    def start(self, timeout: float = 90) -> None:
        """`callcenter run` (System.start_controller: the ready banner, then the controller's AMI connected)."""
        busy = self._busy_ports()
        if busy:
            raise SystemExit(f"error: ports in use: {', '.join(busy)} (another benchmark running?)")
        try:
            self.start_controller(timeout=timeout)
        except AssertionError as exc:
            self.failed = True
            raise RuntimeError(f"{exc}:\n{self.log_tail()}") from None
        self.started_asterisk_pid = self.asterisk_pid() or None

    def ami_watch(self, **options: float) -> AmiWatch:
        """The benchmark's own AMI connection (options: AmiWatch's ping_interval, action_timeout)."""
        return AmiWatch("127.0.0.1", AMI_PORT, self.config.ami.username, self.creds.ami_secret, **options).start()

    def pause_controller(self) -> None:
        """SIGSTOP the controller (Asterisk is another process group and carries on)."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume_controller(self) -> None:
        if self.proc is not None and self.stopped:
            self.proc.send_signal(signal.SIGCONT)
            self.stopped = False

    def _stop_asterisk(self) -> bool:
        """The Asterisk this benchmark started, left behind by a controller that had to be killed:
        SIGTERM it (its clean shutdown), then SIGKILL. True when it is gone."""
        assert self.started_asterisk_pid is not None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(self.started_asterisk_pid, sig)
            except OSError:
                return True
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(self.started_asterisk_pid, 0)
                except OSError:
                    return True
                time.sleep(0.1)
        print(f"warning: Asterisk (pid {self.started_asterisk_pid}) survived SIGKILL", file=sys.stderr)
        return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the controller (it stops its Asterisk); clean up the instance and the folder."""
        if self.stopped:
            # Give a controller that was SIGSTOPped a moment to catch up first: a SIGTERM right after
            # SIGCONT was seen to leave it hanging in its shutdown (the AMI task ignores the cancel).
            self.resume_controller()
            time.sleep(3)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                print(f"warning: controller (pid {self.proc.pid}) ignored SIGTERM for 40 s; killing it",
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.failed = True
        asterisk_left = False
        if self.started_asterisk_pid is not None:
            for _ in range(50):
                try:
                    os.kill(self.started_asterisk_pid, 0)
                except OSError:
                    break
                time.sleep(0.2)
            else:
                print(f"warning: Asterisk (pid {self.started_asterisk_pid}) still runs after the controller stopped; "
                      "stopping it", file=sys.stderr)
                self.failed = True
                asterisk_left = not self._stop_asterisk()
        if not asterisk_left:
            with contextlib.suppress(Exception):  # best effort
                install = find_asterisk()
                if install.chrooted:
                    shutil.rmtree(install.instance_base(self.runtime_dir), ignore_errors=True)
        if self.keep or self.failed:
            print(f"(benchmark folder kept: {self.dir})", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), seconds."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core; /proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def raise_open_files(need: int) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (the controller, Asterisk and SIPp
    inherit it) when below `need`; returns the (soft, hard) limits now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def store_backlog(status: dict[str, Any]) -> tuple[int | None, str]:
    """The store's backlog in a GET /api/status answer, and where it was read: `store.backlog` when
    the controller reports one (a number, or a mapping with `queued`/`total`), else the bus queue of
    the store writer (`subscribers.store.queued`, core/bus.py `stats()`); (None, "none") without a store."""
    store = status.get("store") or {}
    backlog = store.get("backlog") if isinstance(store, dict) else None
    if isinstance(backlog, (int, float)) and not isinstance(backlog, bool):
        return int(backlog), "store.backlog"
    if isinstance(backlog, dict):
        for key in ("total", "queued"):
            if isinstance(backlog.get(key), (int, float)):
                return int(backlog[key]), f"store.backlog.{key}"
        numbers = [v for v in backlog.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return int(sum(numbers)), "store.backlog (sum of its numbers)"
    sub = (status.get("subscribers") or {}).get("store")
    if isinstance(sub, dict) and "queued" in sub:
        return int(sub["queued"]), "subscribers.store.queued"
    return None, "none"


class StatusPoller:
    """GET /api/status every `interval` s (and GET /api/queues/<queue> every `queue_every` s) in a
    thread of its own, stamped with time.monotonic() when each answer arrived: the store backlog
    (`store_backlog`), the store writer's dropped count, every queued subscriber's queue, and how long
    each request took (a busy controller answers late: the next poll starts at once then)."""

    def __init__(self, system: System, *, interval: float = 0.5, queue: str = "", queue_every: float = 2.0) -> None:
        self.system, self.interval, self.queue, self.queue_every = system, interval, queue, queue_every
        # (arrived, backlog or None, store writer's dropped, {queued subscriber: queued}, request seconds)
        self.samples: list[tuple[float, int | None, int, dict[str, int], float]] = []
        self.queue_samples: list[tuple[float, int]] = []  # (arrived, waiting)
        self.source = "none"
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-status", daemon=True)

    def start(self) -> StatusPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        next_queue = 0.0
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                status = self.system.call("/api/status", timeout=10)
                backlog, self.source = store_backlog(status)
                subs = status.get("subscribers") or {}
                queued = {n: int(s.get("queued", 0)) for n, s in subs.items() if s.get("kind") == "queued"}
                dropped = int((subs.get("store") or {}).get("dropped", 0))
                now = time.monotonic()
                self.samples.append((now, backlog, dropped, queued, now - sent))
            except Exception as exc:  # noqa: BLE001 - counted, shown; the next poll goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")
            if self.queue and time.monotonic() >= next_queue:
                next_queue = time.monotonic() + self.queue_every
                try:
                    q = self.system.call(f"/api/queues/{self.queue}", timeout=10)
                    self.queue_samples.append((time.monotonic(), int(q.get("waiting", 0))))
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))

    def backlog_now(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    def drained_since(self, since: float, until: float | None = None) -> float | None:
        """When the backlog was last seen going back to 0 for good (every later sample up to `until`
        is 0), at or after `since`; None while the last such sample is not 0. A backlog already 0 at
        `since` that stays 0 gives the first sample after `since`."""
        after = [(t, b) for t, b, *_ in list(self.samples)
                 if t >= since and (until is None or t <= until) and b is not None]
        if not after or after[-1][1] != 0:
            return None
        drained = after[-1][0]
        for t, b in reversed(after):
            if b != 0:
                break
            drained = t
        return drained


_NORMALIZE = ((re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"), (re.compile(r"\b[0-9a-f]{8,}\b|\d+(\.\d+)?"), "N"))


def log_summary(lines: list[str], top: int = 5) -> tuple[list[str], list[str], list[tuple[int, str]]]:
    """(error lines, warning lines, the `top` most frequent warning texts with their counts): a text
    is the message after the logger name with quoted strings and numbers blanked, so "customer
    lookup for '5559100001' failed (TimeoutError)" counts with every other caller's."""
    errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL|Traceback)\b", line)]
    warnings_ = [line for line in lines if re.search(r"\bWARNING\b", line)]
    counts: dict[str, int] = {}
    for line in warnings_:
        text = line.split(" WARNING ", 1)[-1].split(": ", 1)[-1]
        for pattern, repl in _NORMALIZE:
            text = pattern.sub(repl, text)
        counts[text] = counts.get(text, 0) + 1
    return errors, warnings_, sorted(((n, t) for t, n in counts.items()), reverse=True)[:top]


def asterisk_log(system: System) -> Path | None:
    """Asterisk's messages.log of this system (notice, warning, error), if there is one."""
    with contextlib.suppress(Exception):
        base = find_asterisk().instance_base(system.runtime_dir)
        found = sorted(base.rglob("messages.log")) if base.exists() else []
        return found[0] if found else None
    return None


# -- web chats (bench/chat.py measures them; bench/channels.py keeps them busy meanwhile) ------------

BASE = f"http://127.0.0.1:{API_PORT}"


class Agent:
    def __init__(self, name: str, session: aiohttp.ClientSession, csrf: str, ws: aiohttp.ClientWebSocketResponse):
        self.name, self.session, self.csrf, self.ws = name, session, csrf, ws
        self.chats: set[int] = set()


async def login(name: str, password: str) -> Agent:
    session = aiohttp.ClientSession(base_url=BASE, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post("/api/login", json={"name": name, "password": password}) as r:
        r.raise_for_status()
        csrf = (await r.json())["csrf_token"]
    ws = await session.ws_connect("/api/ws", max_msg_size=0)
    return Agent(name, session, csrf, ws)


def agents_yaml(count: int) -> str:
    return "".join(f'  agent{i}: {{extension: "{1000 + i}", queues: [support]}}\n' for i in range(1, count + 1))


def chat_yaml(chats: int, agents: int) -> str:
    return f"chat: {{max_per_agent: {-(-chats // agents)}, connections_per_address: 1000}}\n"


async def busy_chats(creds: Any, chats: int, agents: int, rate: float, stop: threading.Event,
                     ready: threading.Event) -> None:
    """`chats` chats open with `agents` agents' pages, and `rate` messages a second each way among
    them until `stop` (bench/channels.py: the other channels measured "with 100 chats open")."""
    pages = [await login(f"agent{i}", creds.web_passwords[f"agent{i}"]) for i in range(1, agents + 1)]
    owner: dict[int, Agent] = {}

    async def read_page(agent: Agent) -> None:
        async for msg in agent.ws:
            data = json.loads(msg.data)
            if data.get("type") == "chat" and data["event"] == "assigned" and data["chat"]["agent"] == agent.name:
                owner[data["chat"]["id"]] = agent
    readers = [asyncio.create_task(read_page(a)) for a in pages]
    visitors = []
    for i in range(chats):
        session = aiohttp.ClientSession(base_url=BASE)
        ws = await session.ws_connect("/chat/ws")
        await ws.send_json({"type": "hello", "visitor": "", "queue": "support"})
        await ws.receive()
        await ws.send_json({"type": "message", "text": f"hello {i}"})
        visitors.append((session, ws))
        readers.append(asyncio.create_task(_drain(ws)))
    while len(owner) < chats:
        await asyncio.sleep(0.1)
    ready.set()
    n = 0
    while not stop.is_set():
        session, ws = visitors[n % chats]
        await ws.send_json({"type": "message", "text": f"still here {n}"})
        chat_id = sorted(owner)[n % chats]
        agent = owner[chat_id]
        async with agent.session.post(f"/api/chats/{chat_id}/messages", json={"text": f"reply {n}"},
                                      headers={"X-CSRF-Token": agent.csrf}) as r:
            r.raise_for_status()
        n += 1
        await asyncio.sleep(1.0 / rate)
    for task in readers:
        task.cancel()
    for session, ws in visitors:
        await ws.close()
        await session.close()
    for a in pages:
        await a.ws.close()
        await a.session.close()


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


def busy_chats_in_background(creds: Any, chats: int, agents: int, rate: float) -> tuple[threading.Event, Any]:
    """Start busy_chats in a thread of its own; returns (stop, thread) once every chat is routed."""
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(busy_chats(creds, chats, agents, rate, stop, ready)),
                              daemon=True)
    thread.start()
    if not ready.wait(120):
        raise SystemExit("the chats were not routed within 120 s")
    return stop, thread
