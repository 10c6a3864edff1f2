"""The AMI actions of live call control (docs/call-control.md): hold by redirecting both legs
and bridging them again, Asterisk's own blind and attended transfers, hang up, mute, DTMF into a
channel (an attended transfer's *1 / *3, a monitoring supervisor's 4 / 5 / 6). Every value goes
through `actions.text` (no CR/LF can reach the AMI line).

Sources: Asterisk 22's AMI documentation (core-en_US.xml): Redirect, Bridge, BlindTransfer,
Atxfer, CancelAtxfer, Hangup, MuteAudio, PlayDTMF (`Receive`: "emulate receiving DTMF on this
channel instead of sending it out")."""

from __future__ import annotations

from callcenter.ami.actions import MAX_NAME, Action, Reply, plain, text


def _channel(channel: str) -> str:
    return text(channel, "channel", MAX_NAME, empty=False)


def redirect(channel: str, context: str, exten: str, *, extra_channel: str = "", extra_context: str = "",
             extra_exten: str = "") -> Action[Reply]:
    """Send a channel (and optionally a second one, atomically) to a dialplan place, out of its bridge."""
    fields = {"Channel": _channel(channel), "Context": text(context, "context", MAX_NAME, empty=False),
              "Exten": text(exten, "extension", MAX_NAME, empty=False), "Priority": "1"}
    if extra_channel:
        fields.update(ExtraChannel=_channel(extra_channel),
                      ExtraContext=text(extra_context or context, "context", MAX_NAME, empty=False),
                      ExtraExten=text(extra_exten or exten, "extension", MAX_NAME, empty=False), ExtraPriority="1")
    return plain("Redirect", fields)


def bridge(channel1: str, channel2: str) -> Action[Reply]:
    """Bridge two channels that are in the dialplan (e.g. a held customer and their agent)."""
    return plain("Bridge", {"Channel1": _channel(channel1), "Channel2": _channel(channel2), "Tone": "no"})


def blind_transfer(channel: str, context: str, exten: str) -> Action[Reply]:
    """Everyone bridged with `channel` goes to `exten@context`; `channel` (the transferer) is hung up."""
    return plain("BlindTransfer", {"Channel": _channel(channel), "Context": text(context, "context", MAX_NAME),
                                     "Exten": text(exten, "extension", MAX_NAME, empty=False)})


def attended_transfer(channel: str, context: str, exten: str) -> Action[Reply]:
    """`channel` (the transferer) consults `exten@context` while its peers hear music on hold."""
    return plain("Atxfer", {"Channel": _channel(channel), "Context": text(context, "context", MAX_NAME),
                              "Exten": text(exten, "extension", MAX_NAME, empty=False)})


def cancel_attended_transfer(channel: str) -> Action[Reply]:
    """Drop the consultation: the transferer is back with the caller (the atxferabort feature)."""
    return plain("CancelAtxfer", {"Channel": _channel(channel)})


def hangup(channel: str, cause: int = 16) -> Action[Reply]:
    return plain("Hangup", {"Channel": _channel(channel), "Cause": str(int(cause))})


def mute_audio(channel: str, muted: bool) -> Action[Reply]:
    """Mute what `channel` sends into the call (its microphone): Direction "in" is towards Asterisk."""
    return plain("MuteAudio", {"Channel": _channel(channel), "Direction": "in", "State": "on" if muted else "off"})


def receive_dtmf(channel: str, digit: str) -> Action[Reply]:
    """As if `channel`'s phone pressed `digit` (features and ChanSpy read it)."""
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return plain("PlayDTMF", {"Channel": _channel(channel), "Digit": digit, "Duration": "120", "Receive": "true"})

