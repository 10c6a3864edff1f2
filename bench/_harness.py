"""Shared plumbing of the call benchmarks (not a benchmark itself, not a test).

`BenchSystem` starts its own `callcenter run` (a real Asterisk + the controller) from a temporary
folder, on ports of its own so it never meets the test suite (15060/15038/18080) or the demo
(5060/5038/8080):

    SIP 127.0.0.1:35060 (UDP)   AMI 127.0.0.1:35038   API 127.0.0.1:38080   RTP 37000-37999

`AmiWatch` is the benchmark's own AMI connection (the controller keeps its own): it runs an
`AmiClient` on an event loop in a background thread and stamps every event with
`time.monotonic()` on arrival, so AMI events and received RTP audio (stamped by the SIP test
phone's receive thread) share one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.support.sipphone import PhoneCall, PortAllocator, SipPhone

from callcenter.ami import actions
from callcenter.ami.client import AmiClient
from callcenter.asterisk.install import find_asterisk
from callcenter.config import load_config
from callcenter.core.credentials import Credentials

__all__ = [
    "AMI_PORT",
    "API_PORT",
    "PHONE_PORTS",
    "RTP_PORTS",
    "SIP_PORT",
    "AmiWatch",
    "BenchSystem",
    "DtmfEndTap",
    "PhoneCall",
    "PortAllocator",
    "SipPhone",
    "chunk_level",
    "exit_on_sigterm",
    "percentile",
    "rx_chunks",
    "summary",
]

SIP_PORT, AMI_PORT, API_PORT, RTP_PORTS = 35060, 35038, 38080, "37000-37999"
PHONE_PORTS = {"base": 50000, "span": 10000}

CONFIG = f"""\
# Written by a callcenter benchmark (bench/). Ports away from the tests and the demo.
runtime_dir: runtime
ivr_flows: flows
sip: {{bind: 127.0.0.1, port: {SIP_PORT}, rtp_ports: {RTP_PORTS}}}
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
    """The benchmark's own AMI connection, on a background thread; events stamped on arrival."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self._args = (host, port, username, secret)
        self._cond = threading.Condition()
        self.events: list[tuple[float, dict[str, str]]] = []
        self.loop = asyncio.new_event_loop()
        self.client: AmiClient | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, name="bench-ami", daemon=True)

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
        self.client = AmiClient(host, port, username, secret, action_timeout=5.0, ping_interval=2.0)
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.client.connect()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self._consume())]
        self._ready.set()
        await self._stop.wait()
        await self.client.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _consume(self) -> None:
        assert self.client is not None
        async for item in self.client.raw_events():
            now = time.monotonic()
            if hasattr(item, "get") and item.get("Event"):
                with self._cond:
                    self.events.append((now, dict(item)))
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

    def mark(self) -> int:
        """Index of the next event (to wait only for events that come after now)."""
        with self._cond:
            return len(self.events)

    def find(self, predicate: Callable[[dict[str, str]], bool], start: int = 0) -> list[tuple[float, dict[str, str]]]:
        with self._cond:
            return [(t, e) for t, e in self.events[start:] if predicate(e)]

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float, start: int = 0,
                 what: str = "an AMI event") -> tuple[float, dict[str, str]]:
        """The first event from index `start` on that matches, with its arrival time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(self.events):
                    t, e = self.events[index]
                    index += 1
                    if predicate(e):
                        return t, e
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} within {timeout:g} s")
                self._cond.wait(remaining)

    def heartbeat(self) -> int | None:
        """The controller's heartbeat in AstDB (epoch seconds), None if absent."""
        try:
            reply = self.send({"Action": "DBGet", "Family": "callcenter", "Key": "heartbeat"}, check=False,
                              as_list=True)
        except Exception:  # noqa: BLE001 - not connected, timed out: no heartbeat to read
            return None
        for msg in reply if isinstance(reply, list) else [reply]:
            if msg.get("Event") == "DBGetResponse" and msg.get("Val"):
                return int(msg.get("Val"))
        return None


class BenchSystem:
    """One `callcenter run` from a temporary folder: config, flows, controller log."""

    def __init__(self, dids_yaml: str, flows: dict[str, str], keep: bool = False, *,
                 queues_yaml: str = DEFAULT_QUEUES, agents_yaml: str = DEFAULT_AGENTS,
                 extra_yaml: str = "") -> None:
        """`queues_yaml` / `agents_yaml` replace the default queue `support` / agent `agent1`
        (indented entries, as `dids_yaml`); `extra_yaml` is appended (top-level keys, e.g. routing)."""
        self.dir = Path(tempfile.mkdtemp(prefix="callcenter-bench-"))
        self.keep = keep
        self.config_path = self.dir / "callcenter.yaml"
        text = (CONFIG.replace("{queues}", queues_yaml.rstrip("\n")).replace("{agents}", agents_yaml.rstrip("\n"))
                .replace("{dids}", dids_yaml.rstrip("\n")))
        self.config_path.write_text(text + extra_yaml)
        (self.dir / "flows").mkdir()
        for name, text in flows.items():
            (self.dir / "flows" / f"{name}.yaml").write_text(text)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        self.log_path = self.dir / "controller.log"
        self.proc: subprocess.Popen[str] | None = None
        self.stopped = False  # SIGSTOPped by us
        self.asterisk_pid: int | None = None
        self.ready_seconds = 0.0
        self.failed = False

    @property
    def config(self) -> Any:
        return load_config(self.config_path, env=self.env)

    @property
    def creds(self) -> Credentials:
        return Credentials.load(self.config.runtime_dir)

    def _busy_ports(self) -> list[str]:
        import socket
        busy = []
        for kind, port in (("udp", SIP_PORT), ("tcp", AMI_PORT), ("tcp", API_PORT)):
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
        busy = self._busy_ports()
        if busy:
            raise SystemExit(f"error: ports in use: {', '.join(busy)} (another benchmark running?)")
        t0 = time.monotonic()
        out = open(self.log_path, "w")  # noqa: SIM115 - the child writes it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callcenter.cli", "--config", str(self.config_path), "run"],
            stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=REPO, text=True)
        out.close()
        deadline = time.monotonic() + timeout
        while "callcenter is running" not in self.log_path.read_text():
            if self.proc.poll() is not None:
                self.failed = True
                raise RuntimeError(f"callcenter run exited ({self.proc.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.failed = True
                raise RuntimeError(f"no ready banner within {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)
        self.ready_seconds = time.monotonic() - t0
        # The REST API says when the controller's own AMI connection is up.
        while not self._ami_connected():
            if time.monotonic() > deadline:
                self.failed = True
                raise RuntimeError(f"controller's AMI not connected:\n{self.log_tail()}")
            time.sleep(0.1)
        try:
            install = find_asterisk()
            pid_file = install.instance_base(self.config.runtime_dir) / "run" / "asterisk.pid"
            self.asterisk_pid = int(pid_file.read_text())
        except (OSError, ValueError):
            self.asterisk_pid = None

    def _ami_connected(self) -> bool:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{API_PORT}/api/status",
                                             headers={"Authorization": f"Bearer {self.creds.api_token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return bool(json.load(response)["ami"]["connected"])
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def ami_watch(self) -> AmiWatch:
        return AmiWatch("127.0.0.1", AMI_PORT, self.config.ami.username, self.creds.ami_secret).start()

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
        assert self.asterisk_pid is not None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(self.asterisk_pid, sig)
            except OSError:
                return True
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(self.asterisk_pid, 0)
                except OSError:
                    return True
                time.sleep(0.1)
        print(f"warning: Asterisk (pid {self.asterisk_pid}) survived SIGKILL", file=sys.stderr)
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
        if self.asterisk_pid is not None:
            for _ in range(50):
                try:
                    os.kill(self.asterisk_pid, 0)
                except OSError:
                    break
                time.sleep(0.2)
            else:
                print(f"warning: Asterisk (pid {self.asterisk_pid}) still runs after the controller stopped; "
                      "stopping it", file=sys.stderr)
                self.failed = True
                asterisk_left = not self._stop_asterisk()
        if not asterisk_left:
            with contextlib.suppress(Exception):  # best effort
                install = find_asterisk()
                if install.chrooted:
                    shutil.rmtree(install.instance_base(self.config.runtime_dir), ignore_errors=True)
        if self.keep or self.failed:
            print(f"(benchmark folder kept: {self.dir})", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
