"""Start, adopt, watch and stop our own Asterisk instance.

Asterisk runs in its own session (process group), so a Ctrl-C meant for the controller, or the
controller's death, does not take the calls down with it. A controller that starts while its
instance is still running (it was killed) adopts that Asterisk instead of starting a second one.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from callcenter.asterisk.install import AsteriskInstall
from callcenter.asterisk.render import InstanceDirs
from callcenter.core.errors import Conflict, Unavailable

log = logging.getLogger(__name__)


class AsteriskStartError(Unavailable):
    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__("asterisk-start-failed", message + ("\n--- Asterisk's log (last lines) ---\n" + log_tail
                                                              if log_tail else ""), {"log_tail": log_tail})


class PortInUse(Conflict):
    def __init__(self, what: str, host: str, port: int, proto: str) -> None:
        super().__init__("port-in-use", f"{what} port {host}:{port}/{proto} is already in use by another program "
                         f"(see: ss -lnp{'u' if proto == 'udp' else 't'} | grep :{port}); stop it or choose "
                         "another port in callcenter.yaml", {"what": what, "host": host, "port": port, "proto": proto})


def check_port_free(what: str, host: str, port: int, proto: str = "tcp") -> None:
    """Raise PortInUse if we cannot bind host:port (TCP or UDP)."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(what, host, port, proto) from None
            raise


def _process_state(pid: int) -> str:
    """The state letter of a process in /proc ('R', 'S', 'Z', ...), or '' if there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class AsteriskProcess:
    """One Asterisk instance: ours (a child) or adopted (left running by a previous controller)."""

    def __init__(self, install: AsteriskInstall, dirs: InstanceDirs) -> None:
        self.install = install
        self.dirs = dirs
        self._child: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.started_at: float | None = None

    def log_tail(self, lines: int = 25) -> str:
        """The last lines Asterisk wrote: its console output, then its messages log."""
        parts = [t for t in (_tail(self.dirs.console_log, lines), _tail(self.dirs.messages_log, lines)) if t]
        return "\n".join(parts)

    def _our_running_pid(self) -> int | None:
        """The pid of a running Asterisk of this instance, from its pid file, checked in /proc."""
        try:
            pid = int(self.dirs.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        config = self.install.inner(self.dirs.config_file).encode()
        return pid if _process_state(pid) not in ("", "Z") and config in cmdline else None

    def adopt(self) -> bool:
        """Take over an instance that is already running. True if there was one."""
        pid = self._our_running_pid()
        if pid is None:
            return False
        self._child, self.pid, self.started_at = None, pid, time.time()
        log.info("adopted running Asterisk (pid %d)", pid)
        return True

    def start(self) -> None:
        """Start Asterisk in the foreground of its own session, output to the console log."""
        self.dirs.pid_file.unlink(missing_ok=True)
        console = open(self.dirs.console_log, "ab")  # noqa: SIM115 - handed to the child
        argv = self.install.command("-C", self.install.inner(self.dirs.config_file), "-f", "-n")
        try:
            self._child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        except OSError as exc:
            raise AsteriskStartError(f"cannot run {argv[0]}: {exc.strerror}", "") from None
        finally:
            console.close()
        self.pid = self._child.pid
        self.started_at = time.time()
        log.info("started Asterisk (pid %d): %s", self.pid, " ".join(argv))

    def alive(self) -> bool:
        if self._child is not None:
            return self._child.poll() is None
        return self.pid is not None and _process_state(self.pid) not in ("", "Z")

    def exit_status(self) -> str:
        if self._child is not None and self._child.returncode is not None:
            code = self._child.returncode
            return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return "gone"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Asterisk's clean shutdown), then SIGKILL if it lingers."""
        if self.pid is None or not self.alive():
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.alive():
                time.sleep(0.05)
            if not self.alive():
                break
        log.info("stopped Asterisk (pid %d)", self.pid)
        self.pid = None
