"""Settings of email (`email:`): the SMTP receiver, the IMAP mailbox polled, the relay answers go
through, the auto-acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.core.config import Locator
from callcenter.core.text import first_control


@dataclass(frozen=True)
class EmailSettings:
    """Email into tickets: the SMTP receiver, an IMAP mailbox, the relay for answers."""

    enabled: bool = True
    smtp_bind: str = "127.0.0.1"
    smtp_port: int = 2525
    max_bytes: int = 10 * 1024 * 1024  # a larger message is refused in the SMTP session (552)
    max_attachment_bytes: int = 5 * 1024 * 1024  # a larger attachment is listed, not kept
    topic: str = "general"
    queue: str = ""  # the queue whose agents answer new email tickets ("" = the first queue)
    from_address: str = "support@callcenter.localhost"  # our address on replies (its domain names Message-IDs)
    relay_host: str = ""  # the SMTP relay replies go through; "" = kept on the ticket, nothing sent (local setup)
    relay_port: int = 25
    auto_ack: bool = False  # answer a new ticket's first mail with its number (never to automatic mail)
    # A mailbox polled over IMAP too ("" = none); its password: $CALLCENTER_IMAP_PASSWORD or imap_password in
    # the runtime folder's secrets.yaml.
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: str = "tls"  # tls (IMAPS) | none (plain IMAP: only to 127.0.0.1)
    imap_user: str = ""
    imap_mailbox: str = "INBOX"
    imap_poll_seconds: int = 60


def check(email: EmailSettings, loc: Locator) -> None:
    _check_imap(email, loc)
    loc.check_ip(("email", "smtp_bind"), email.smtp_bind)
    loc.check_port(("email", "smtp_port"), email.smtp_port)
    for key in ("max_bytes", "max_attachment_bytes"):
        if not 1024 <= getattr(email, key) <= 1 << 30:
            raise loc.error(("email", key), f"{key} must be 1024 to 1073741824 bytes", "bad-value")


def _check_imap(email: EmailSettings, loc: Locator) -> None:
    if not email.imap_host:
        return
    if email.imap_tls not in ("tls", "none"):
        raise loc.error(("email", "imap_tls"), f"imap_tls '{email.imap_tls}' must be tls or none", "bad-value")
    if email.imap_tls == "none" and email.imap_host not in ("127.0.0.1", "::1", "localhost"):
        raise loc.error(("email", "imap_tls"), "a password in clear text over the network: imap_tls none only "
                        "for a server on 127.0.0.1", "bad-value")
    if not email.imap_user:
        raise loc.error(("email", "imap_user"), "imap_host needs imap_user (the password: "
                        "$CALLCENTER_IMAP_PASSWORD or imap_password in secrets.yaml)", "missing-key")
    loc.check_port(("email", "imap_port"), email.imap_port)
    if not 5 <= email.imap_poll_seconds <= 86400:
        raise loc.error(("email", "imap_poll_seconds"), "imap_poll_seconds must be 5 to 86400", "bad-value")
    # An IMAP quoted string: no control character, no quote.
    if not email.imap_mailbox.strip() or first_control(email.imap_mailbox) is not None or '"' in email.imap_mailbox:
        raise loc.error(("email", "imap_mailbox"), "a mailbox name without control characters or quotes",
                        "bad-value")
