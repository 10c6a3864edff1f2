"""Which person a PJSIP channel or device belongs to: our agents' (and supervisors') phones are
PJSIP endpoints named after them (asterisk-config/pjsip.conf.j2)."""

from __future__ import annotations


def endpoint_of_channel(channel: str) -> str:
    """'PJSIP/agent1-0000002a' → 'agent1'; '' for anything that is not a PJSIP channel (Local/…,
    Message/…). Asterisk names a channel `<tech>/<endpoint>-<8 hex digits>` (chan_pjsip.c)."""
    tech, _, rest = channel.partition("/")
    return rest.rpartition("-")[0] if tech.upper() == "PJSIP" and "-" in rest else ""


def endpoint_of_device(device: str) -> str:
    """'PJSIP/agent1' → 'agent1' (a device, as in DeviceStateChange); '' if not a PJSIP device."""
    tech, _, name = device.partition("/")
    return name if tech.upper() == "PJSIP" else ""
