"""README: "Everything binds to 127.0.0.1 (SIP, RTP, AMI, the API). One precise exception: Asterisk's
PJSIP DNS resolver (pjlib's `pj_dns_resolver`) opens one IPv4 and one IPv6 UDP socket on the
any-address at an ephemeral port". Checked in the rendered Asterisk config and in the sockets the
running controller and Asterisk really hold (/proc/net/{tcp,udp}[6], matched to their fds)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from pathlib import Path

from callcenter.asterisk.install import find_asterisk
from tests.support.system import PLAIN, AmiWatch, System

LOOPBACK = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"), ipaddress.ip_address("::ffff:127.0.0.1")}
ANY = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"
# Keys of Asterisk's config files that name an address to bind or to announce.
ADDRESS_KEYS = re.compile(r"^\s*(bind|bindaddr|tlsbindaddr|media_address|external_media_address|"
                          r"external_signaling_address|udpbindaddr|tcpbindaddr)\s*=>?\s*(\S+)", re.M)


def host_of(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """'127.0.0.1:15060', '[::1]:5060' or '127.0.0.1' -> the address."""
    if value.startswith("["):
        return ipaddress.ip_address(value[1:value.index("]")])
    return ipaddress.ip_address(value.rsplit(":", 1)[0] if value.count(":") == 1 else value)


def test_the_rendered_asterisk_config_names_only_loopback_addresses(system: System) -> None:
    etc = find_asterisk().instance_base(system.runtime_dir) / "etc"
    found = {}
    for conf in sorted(etc.glob("*.conf")):
        for key, value in ADDRESS_KEYS.findall(conf.read_text()):
            found[f"{conf.name}: {key} = {value}"] = host_of(value)
    assert {"manager.conf", "pjsip.conf"} <= {k.split(":")[0] for k in found}, found
    assert any(k.startswith("pjsip.conf: bind =") for k in found) and any(k.startswith("manager.conf: bindaddr") for k in found)
    assert all(address in LOOPBACK for address in found.values()), found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def address_of(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """/proc/net's 'local_address' (host byte order per 32-bit word) -> (address, port)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw), int(port, 16)


def bound_sockets(pids: set[int]) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(proto, address, port) of every listening TCP socket and every unconnected UDP socket the processes hold."""
    inodes = set().union(*(socket_inodes(p) for p in pids))
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] in (TCP_LISTEN if proto.startswith("tcp") else UDP_UNCONNECTED):
                address, port = address_of(fields[1])
                out.append((proto, address, port))
    return out


async def test_the_controller_and_asterisk_listen_on_loopback_only(system: System, ami_watch: AmiWatch, phones) -> None:
    # A caller in the queue: its RTP socket is open too.
    call = await asyncio.to_thread(phones.caller("5551100088").call, PLAIN)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551100088", timeout=20)
    try:
        assert system.proc is not None
        asterisk_pids = descendants(system.asterisk_pid())
        controller = bound_sockets(descendants(system.proc.pid) - asterisk_pids)  # (Asterisk is its child)
        asterisk = bound_sockets(asterisk_pids)
    finally:
        await asyncio.to_thread(call.hangup)
    config = system.config
    listening = {(proto.rstrip("6"), port) for proto, _, port in controller + asterisk}
    assert {("tcp", config.api.port), ("tcp", config.ami.port), ("udp", config.sip.port)} <= listening, listening
    low, high = (int(x) for x in config.sip.rtp_ports.split("-"))
    assert any(proto == "udp" and low <= port <= high for proto, port in listening), "no RTP socket seen"
    assert all(address in LOOPBACK for _, address, _ in controller), controller
    # The one exception: pj_dns_resolver's UDP sockets, one IPv4 and one IPv6, any-address, ephemeral port.
    first, last = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    others = [s for s in asterisk if s[1] not in LOOPBACK]
    assert all(proto in ("udp", "udp6") and address in ANY and first <= port <= last for proto, address, port in others), others
    assert sorted(proto for proto, _, _ in others) in ([], ["udp"], ["udp6"], ["udp", "udp6"]), others
