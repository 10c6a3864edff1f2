"""Settings of our Asterisk: where PJSIP and RTP listen (`sip:`), the manager interface the
controller drives it through (`ami:`), the carrier trunk (`trunk:`) and the SIP brute-force guard
(`security:`, asterisk/sip_guard.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.core.config import Locator

# A trunk name is rendered into pjsip.conf as a section: lower-case letters, digits, - or _.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class SipSettings:
    """Where Asterisk's PJSIP listens (UDP) and which ports its RTP uses."""

    bind: str = "127.0.0.1"
    port: int = 5060
    rtp_ports: str = "10000-10999"
    # Seconds between OPTIONS pings to each agent's phone (0: off). A phone that stops answering
    # is shown `unreachable` and app_queue stops offering it calls (docs/asterisk.md#qualify, measured).
    qualify_frequency: int = 10
    # Asterisk's HTTP server (same address as `bind`), for the browser softphone's SIP over
    # WebSocket at /ws (docs/softphone.md). 0: no HTTP server, no browser softphone.
    ws_port: int = 8088
    # The URL browsers use for it; empty: ws://<bind>:<ws_port>/ws. Behind a TLS proxy for other
    # hosts: wss://pbx.example.com/ws (docs/softphone.md#tls).
    ws_url: str = ""

    @property
    def softphone_url(self) -> str:
        """The WebSocket URL the page's softphone registers through ('' if off)."""
        if not self.ws_port:
            return ""
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return self.ws_url or f"ws://{host}:{self.ws_port}/ws"

    @property
    def rtp_range(self) -> tuple[int, int]:
        low, _, high = self.rtp_ports.partition("-")
        return int(low), int(high)


@dataclass(frozen=True)
class AmiSettings:
    """Asterisk's manager interface; the controller is its only client. The secret is generated."""

    bind: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    record: str = ""  # a file to append the raw AMI stream to (test fixtures, debugging)


@dataclass(frozen=True)
class TrunkSettings:
    """The carrier trunk: identified by source address, no credentials (as carriers do)."""

    name: str = "carrier"
    match: tuple[str, ...] = ("127.0.0.1",)
    host: str = ""  # where calls out go (host:port), for transfers to external numbers; empty: none


@dataclass(frozen=True)
class SecuritySettings:
    """SIP brute force (asterisk/sip_guard.py): failures per source address before a ban."""

    ban_threshold: int = 10  # failed authentications / unknown endpoints within the window (0: never ban)
    ban_window: int = 60  # seconds
    ban_seconds: int = 600
    exempt: tuple[str, ...] = ("127.0.0.1", "::1")  # addresses or networks never banned


def check_sip(sip: SipSettings, loc: Locator) -> None:
    loc.check_port(("sip", "port"), sip.port)
    loc.check_ip(("sip", "bind"), sip.bind)
    if not 0 <= sip.qualify_frequency <= 3600:
        raise loc.error(("sip", "qualify_frequency"), f"qualify_frequency {sip.qualify_frequency} must be "
                        "0 (off) to 3600 seconds", "bad-value")
    if sip.ws_port:
        loc.check_port(("sip", "ws_port"), sip.ws_port)
    if sip.ws_url and not re.fullmatch(r"wss?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?", sip.ws_url):
        raise loc.error(("sip", "ws_url"), f"'{sip.ws_url[:80]}' must be ws://host[:port]/path or "
                        "wss://host[:port]/path", "bad-value")
    m = re.fullmatch(r"(\d+)-(\d+)", sip.rtp_ports)
    if not m or not (1024 <= int(m[1]) < int(m[2]) <= 65535):
        raise loc.error(("sip", "rtp_ports"), f"'{sip.rtp_ports}' must be LOW-HIGH within 1024-65535", "bad-port")


def check_ami(ami: AmiSettings, loc: Locator) -> None:
    loc.check_port(("ami", "port"), ami.port)
    loc.check_ip(("ami", "bind"), ami.bind)
    loc.check_range(("ami", "action_timeout"), ami.action_timeout, 0.1, 600.0, "s")
    loc.check_range(("ami", "ping_interval"), ami.ping_interval, 0.1, 600.0, "s")


def check_trunk(trunk: TrunkSettings, loc: Locator) -> None:
    for i, match in enumerate(trunk.match):
        loc.check_ip(("trunk", "match", str(i)), match, network=True)
    if not NAME.fullmatch(trunk.name):
        raise loc.error(("trunk", "name"), f"trunk name '{trunk.name}' must be lower-case letters, digits, "
                        "- or _", "bad-name")
    if trunk.host and not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", trunk.host):
        raise loc.error(("trunk", "host"), f"'{trunk.host}' must be host or host:port", "bad-value")


def check_security(security: SecuritySettings, loc: Locator) -> None:
    for i, net in enumerate(security.exempt):
        loc.check_ip(("security", "exempt", str(i)), net, network=True)
    for key, value, low in (("ban_threshold", security.ban_threshold, 0), ("ban_window", security.ban_window, 1),
                            ("ban_seconds", security.ban_seconds, 1)):
        if value < low:
            raise loc.error(("security", key), f"{key} {value} must be at least {low}", "bad-value")
