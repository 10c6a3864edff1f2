"""A private PostgreSQL server for the tests, started from nothing and thrown away afterwards.

`PgCluster(base, port).start()` runs initdb in a fresh folder, starts the server on 127.0.0.1:port only (its unix
socket inside the data folder, durability off for speed), makes a role and a database `callcenter` (random password)
and returns a SQLAlchemy URL; `stop()` stops it (immediate) and removes the folder. The system's own clusters
(Debian's `main` on 5432) are never used.

PostgreSQL refuses to run as root: under root the server runs as the `postgres` system user (made by Debian's
package, see scripts/install-test-deps.sh). pytest's tmp folders are 0700 root-owned, so the cluster lives in a
`callcenter-pg-*` folder of the system temp dir owned by the server's user; `base` keeps a copy of the server log
(base/postgres.log). A cluster left behind by a killed session (its owner process is gone) is stopped and removed
by the next start.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_GLOB = "/usr/lib/postgresql/*/bin"
WORK_PREFIX = "callcenter-pg-"
NAME = "callcenter"  # the role and the database
SUPERUSER = "postgres"  # the bootstrap superuser (local socket, trust)
OS_USER = "postgres"  # who runs the server when we are root
LOG_TAIL = 25


class PgClusterError(RuntimeError):
    """The cluster could not start: a one-line reason, then the server log's last lines if there is a log."""


def _version_key(bindir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_bindir() -> Path:
    """The bin folder of the highest PostgreSQL version installed the Debian way (/usr/lib/postgresql/N/bin)."""
    found = [p for p in map(Path, glob.glob(BIN_GLOB)) if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]
    if not found:
        raise PgClusterError(f"no PostgreSQL server binaries ({BIN_GLOB}/initdb): "
                             "run scripts/install-test-deps.sh as root (apt-get install postgresql)")
    return max(found, key=_version_key)


def _server_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None for the current user, `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise PgClusterError(f"running as root, which PostgreSQL refuses, and there is no '{OS_USER}' system user to run it as "
                             "(run scripts/install-test-deps.sh: the postgresql package makes it)") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no output)"


class PgCluster:
    def __init__(self, base: Path, port: int, *, timeout: float = 30.0) -> None:
        self.base = Path(base)
        self.port = port
        self.timeout = timeout
        self.workdir: Path | None = None
        self.password = ""
        self.url = ""
        self._bindir: Path | None = None
        self._user: pwd.struct_passwd | None = None

    # --- paths -------------------------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.workdir is not None, "PgCluster not started"
        return self.workdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.workdir is not None, "PgCluster not started"
        return self.workdir / "postgres.log"

    @property
    def kept_log(self) -> Path:
        """The server log's copy that outlives the cluster."""
        return self.base / "postgres.log"

    def _bin(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    # --- running the tools ---------------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # No PG* variables of the caller (PGHOST, PGDATA, PGPASSWORD...): every tool gets its target on the command line.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"  # English messages in the log tails, no dependency on generated locales
        if self.workdir is not None:
            env["HOME"] = str(self.workdir)  # no ~/.pgpass, ~/.psqlrc of the caller
        return env

    def _run(self, args: list[str], *, input: str | None = None, timeout: float | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        what = Path(args[0]).name
        user = self._user
        try:
            result = subprocess.run(
                args, input=input, capture_output=True, text=True, env=self._env(),
                cwd=str(self.workdir) if self.workdir is not None else None, timeout=timeout or self.timeout,
                user=user.pw_uid if user else None, group=user.pw_gid if user else None,
                extra_groups=[] if user else None)
        except subprocess.TimeoutExpired:
            raise PgClusterError(f"{what} did not finish within {timeout or self.timeout:g}s") from None
        except OSError as e:
            raise PgClusterError(f"cannot run {args[0]}: {e}") from None
        if check and result.returncode != 0:
            raise PgClusterError(f"{what} failed (exit {result.returncode}): {_one_line(result.stderr + result.stdout)}")
        return result

    # --- start / stop --------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start a fresh cluster; returns postgresql+asyncpg://callcenter:PASSWORD@127.0.0.1:PORT/callcenter."""
        if self.workdir is not None:
            raise PgClusterError(f"the cluster on port {self.port} is already started ({self.workdir})")
        self._bindir = find_bindir()
        self._user = _server_user()
        self._reap_stale()
        self._check_port_free()
        try:
            self._make_workdir()
            self._initdb()
            self._configure()
            self._run([self._bin("pg_ctl"), "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w",
                       "-t", str(int(self.timeout)), "-s"], timeout=self.timeout + 10)
            self._wait_ready()
            self._make_role_and_db()
        except PgClusterError as e:
            tail = self._log_tail()
            self.stop()
            raise PgClusterError(f"PostgreSQL test cluster on 127.0.0.1:{self.port} did not start: {e}{tail}") from None
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql+asyncpg://{NAME}:{self.password}@127.0.0.1:{self.port}/{NAME}"
        return self.url

    def stop(self) -> None:
        """Stop the server at once and remove its folder (the log is kept in base/postgres.log). Idempotent."""
        self._discard(keep_log=True)

    def _discard(self, *, keep_log: bool) -> None:
        workdir = self.workdir
        if workdir is None:
            return
        try:
            pidfile = self.datadir / "postmaster.pid"
            if pidfile.exists():
                try:
                    self._run([self._bin("pg_ctl"), "stop", "-D", str(self.datadir), "-m", "immediate", "-w",
                               "-t", str(int(self.timeout)), "-s"], timeout=self.timeout + 10)
                except PgClusterError:
                    self._kill_postmaster(pidfile)
        finally:
            try:
                if keep_log and self.logfile.exists():
                    self.base.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.logfile, self.kept_log)
            except OSError:
                pass
            shutil.rmtree(workdir, ignore_errors=True)
            self.workdir = None
            self.url = ""

    # --- steps ---------------------------------------------------------------------------------------------------

    def _make_workdir(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
        (self.workdir / "owner").write_text(f"{os.getpid()} {self.port}\n")
        if self._user is not None:
            os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)
            blocked = [p for p in self.workdir.parents if not p.stat().st_mode & 0o001]
            if blocked:
                raise PgClusterError(f"the '{OS_USER}' user cannot reach {self.workdir}: {blocked[0]} is not traversable by others "
                                     "(point TMPDIR at a folder like /tmp)")

    def _initdb(self) -> None:
        self._run([self._bin("initdb"), "-D", str(self.datadir), "-U", SUPERUSER, "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"], timeout=self.timeout + 60)

    def _configure(self) -> None:
        socket_dir = str(self.datadir).replace("'", "''")
        conf = (
            "\n# callcenter tests (tests/support/pgcluster.py)\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{socket_dir}'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
        )
        with open(self.datadir / "postgresql.conf", "a") as f:  # appending keeps the file's owner
            f.write(conf)
        with open(self.datadir / "pg_hba.conf", "w") as f:
            f.write("# callcenter tests: the superuser over the private socket; passwords over TCP, 127.0.0.1 only\n"
                    "local all all trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            ready = self._run([self._bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                               "-d", "postgres", "-t", "2"], timeout=10, check=False)
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PgClusterError(f"no connection accepted on 127.0.0.1:{self.port} within {self.timeout:g}s "
                                     f"(pg_isready exit {ready.returncode})")
            time.sleep(0.1)

    def _make_role_and_db(self) -> None:
        self.password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe in an SQL literal and in a URL
        sql = (f"CREATE ROLE {NAME} LOGIN CREATEDB PASSWORD '{self.password}';\n"
               f"CREATE DATABASE {NAME} OWNER {NAME};\n")
        self._run([self._bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.datadir), "-p", str(self.port),
                   "-U", SUPERUSER, "-d", "postgres", "-f", "-"], input=sql)

    # --- failures and leftovers ----------------------------------------------------------------------------------

    def _check_port_free(self) -> None:
        if not 1 <= self.port <= 65535:
            raise PgClusterError(f"PostgreSQL test cluster: {self.port} is not a TCP port (CALLCENTER_TEST_PORT_BASE too high?)")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError as e:
                raise PgClusterError(f"PostgreSQL test cluster: 127.0.0.1:{self.port} is already in use ({e.strerror}); "
                                     "another test session? CALLCENTER_TEST_PORT_BASE moves the test ports") from None

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        except (OSError, AssertionError):
            return ""
        if not lines:
            return ""
        return f"\n--- last lines of the server log ({self.kept_log}) ---\n" + "\n".join(lines)

    def _kill_postmaster(self, pidfile: Path) -> None:
        """pg_ctl could not stop it: kill the postmaster by its pid (its backends exit when it is gone), if that pid
        still is this cluster's postmaster (a stale pid file may name an unrelated process by now)."""
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(self.datadir).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def _reap_stale(self) -> None:
        """Stop and remove clusters left by sessions that died without stopping them (their owner pid is gone)."""
        for workdir in Path(tempfile.gettempdir()).glob(WORK_PREFIX + "*"):
            try:
                owner = (workdir / "owner").read_text().split()
                pid = int(owner[0])
            except (OSError, ValueError, IndexError):
                continue  # not made by us, or being made right now
            if _pid_alive(pid):
                continue
            stale = PgCluster(self.base, int(owner[1]) if len(owner) > 1 and re.fullmatch(r"\d+", owner[1]) else 0,
                              timeout=self.timeout)
            stale._bindir, stale._user, stale.workdir = self._bindir, self._user, workdir
            stale._discard(keep_log=False)
