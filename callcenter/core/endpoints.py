"""Which person a PJSIP channel or device belongs to: our agents' (and supervisors') phones are
PJSIP endpoints named after them (asterisk-config/pjsip.conf.j2).

An agent has two endpoints: `<agent>` (the desk phone: plain UDP RTP) and `<agent>-webrtc` (the
browser's softphone: WebSocket, DTLS-SRTP, ICE; docs/softphone.md). Media settings are per
endpoint in PJSIP, hence two. Both belong to the same person; `phone_of_*` says which of the two.
"""

from __future__ import annotations

from typing import Literal

Phone = Literal["desk", "browser"]
PHONES: tuple[Phone, ...] = ("desk", "browser")
BROWSER_SUFFIX = "-webrtc"  # agent names may not end with it (routing/settings.py check_agents)


def phone_endpoint(person: str, phone: Phone) -> str:
    """('agent1', 'browser') → 'agent1-webrtc'; ('agent1', 'desk') → 'agent1'."""
    return person + BROWSER_SUFFIX if phone == "browser" else person


def phone_interface(person: str, phone: Phone) -> str:
    """The dialable device of a person's phone: 'PJSIP/agent1' or 'PJSIP/agent1-webrtc'."""
    return "PJSIP/" + phone_endpoint(person, phone)


def person_of_endpoint(endpoint: str) -> str:
    """'agent1-webrtc' → 'agent1'; 'agent1' → 'agent1'."""
    return endpoint.removesuffix(BROWSER_SUFFIX)


def phone_of_endpoint(endpoint: str) -> Phone:
    """'agent1-webrtc' → 'browser'; anything else → 'desk'."""
    return "browser" if endpoint.endswith(BROWSER_SUFFIX) else "desk"


def endpoint_of_channel(channel: str) -> str:
    """'PJSIP/agent1-0000002a' → 'agent1' (so is 'PJSIP/agent1-webrtc-0000002b': the person, whichever
    phone); '' for anything that is not a PJSIP channel (Local/…, Message/…). Asterisk names a
    channel `<tech>/<endpoint>-<8 hex digits>` (chan_pjsip.c)."""
    tech, _, rest = channel.partition("/")
    return person_of_endpoint(rest.rpartition("-")[0]) if tech.upper() == "PJSIP" and "-" in rest else ""


def endpoint_of_device(device: str) -> str:
    """'PJSIP/agent1' → 'agent1', 'PJSIP/agent1-webrtc' → 'agent1' (a device, as in DeviceStateChange);
    '' if not a PJSIP device."""
    tech, _, name = device.partition("/")
    return person_of_endpoint(name) if tech.upper() == "PJSIP" else ""


def phone_of_device(device: str) -> Phone:
    """'PJSIP/agent1-webrtc' → 'browser'; 'PJSIP/agent1' → 'desk'."""
    return phone_of_endpoint(device.partition("/")[2])
