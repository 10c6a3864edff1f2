"""A real IMAP server for the tests: Debian's Dovecot (installed by `make test`), its own instance
with a config in a temp folder, on 127.0.0.1 only (plain IMAP, a passwd-file user), mail in Maildir
owned by `nobody`. The package's own service is never used."""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.system import PORT_BASE

IMAP_PORT = PORT_BASE + 143
DOVECOT = "/usr/sbin/dovecot"
NOBODY = 65534

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    def __init__(self, user: str, password: str, port: int = IMAP_PORT) -> None:
        # Its own folder, readable by dovecot's unprivileged processes (pytest's tmp_path is 0700).
        self.dir = Path(tempfile.mkdtemp(prefix="callcenter-dovecot-"))
        self.user, self.password, self.port = user, password, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Dovecot":
        assert os.path.exists(DOVECOT), "Debian's dovecot-imapd is missing: `make test` installs it"
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.dir / "run", 0o755)
        os.chown(self.dir / "mail", NOBODY, NOBODY)
        (self.dir / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        conf = self.dir / "dovecot.conf"
        conf.write_text(CONFIG.format(dir=self.dir, uid=NOBODY, port=self.port))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                imaplib.IMAP4("127.0.0.1", self.port).logout()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
                    raise RuntimeError(f"dovecot did not start on 127.0.0.1:{self.port}: {log[-500:]}") from None
                time.sleep(0.1)

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        """Deliver a message as a mail client would (IMAP APPEND)."""
        m = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            m.login(self.user, self.password)
            status, _ = m.append(mailbox, None, None, raw)
            assert status == "OK"
        finally:
            m.logout()

    def flags(self, mailbox: str = "INBOX") -> list[str]:
        """Each message's flags, in order."""
        m = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            m.login(self.user, self.password)
            m.select(mailbox)
            _, data = m.fetch("1:*", "(FLAGS)")
            return [item.decode() for item in data if isinstance(item, bytes)]
        finally:
            m.logout()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
