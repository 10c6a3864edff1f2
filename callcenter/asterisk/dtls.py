"""The DTLS certificate of the browser softphone's media (DTLS-SRTP, docs/softphone.md).

Generated once, at the first start, into the instance's folder (`<instance>/lib/dtls/`, linked from
the runtime folder as `asterisk/lib/dtls/`), and kept: the key is the instance's own, never
shipped, never in git. Browsers check the media against the certificate's fingerprint, which
Asterisk puts in its SDP; the certificate is self-signed and need not be trusted by anyone (the
page's own TLS, if any, is another matter: docs/softphone.md#tls).

Files: `dtls.pem` (certificate) and `dtls.key` (private key, ECDSA P-256), both mode 0600 and
owned by Asterisk's user (it reads them; nobody else needs to). Source: `openssl req -x509`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DAYS = 3650  # browsers do not check a DTLS certificate's dates, only its fingerprint


@dataclass(frozen=True)
class DtlsFiles:
    cert: Path
    key: Path


def ensure_certificate(folder: Path, uid: int, gid: int) -> DtlsFiles:
    """The certificate and key in `folder`, generated if either is missing (a half-written pair is
    replaced whole). Errors: RuntimeError if openssl fails (its message inside)."""
    files = DtlsFiles(folder / "dtls.pem", folder / "dtls.key")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
    if not (files.cert.is_file() and files.key.is_file()):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            cert, key = Path(tmp) / "dtls.pem", Path(tmp) / "dtls.key"
            old = os.umask(0o077)  # the key is never readable by others, not even for a moment
            try:
                done = subprocess.run(
                    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-days", str(DAYS), "-subj", "/CN=callcenter-asterisk-dtls",
                     "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, timeout=60)
            finally:
                os.umask(old)
            if done.returncode != 0:
                raise RuntimeError(f"openssl could not make the softphone's DTLS certificate: {done.stderr.strip()}")
            os.replace(key, files.key)  # the key first: a cert without its key is regenerated
            os.replace(cert, files.cert)
    for path in (files.cert, files.key):
        os.chmod(path, 0o600)
        if os.geteuid() == 0:
            os.chown(path, uid, gid)
    return files
