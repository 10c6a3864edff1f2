"""Perform a flow's actions on a real channel over AsyncAGI (the I/O half of the stepper).

Prompts, digits and voicemail recording run as AGI commands while the caller is parked in
`AGI(agi:async)`. Queues and transfers are Asterisk's: we set what to do (CC_NEXT and friends)
and release the channel to the dialplan, which comes back into AGI with `resume` when a queue
overflows or a transfer is not answered; the flow then continues where it left off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from callcenter.ami import actions
from callcenter.ami.agi import AgiChannel, AgiCommandFailed, AgiHangup, quote_arg
from callcenter.ivr import stepper as st
from callcenter.voicemail import audio
from callcenter.voicemail.engine import SpeechError

log = logging.getLogger(__name__)

PROMPT_TIMEOUT = 600.0  # an AGI command that plays audio may take this long


@dataclass(frozen=True)
class Dialing:
    """How to reach transfer targets."""

    extension_to_agent: dict[str, str]
    trunk: str

    def dial_string(self, kind: str, target: str) -> str:
        if kind == "agent":
            return f"PJSIP/{target}"
        if kind == "extension":
            return f"PJSIP/{self.extension_to_agent[target]}"
        return f"PJSIP/{target}@{self.trunk}"


@dataclass
class VoicemailBox:
    """Where messages are recorded: host folder, and how Asterisk names it."""

    host_dir: Path
    asterisk_name: Callable[[Path], str]


def _digit(result: str) -> str:
    """An AGI result that is an ASCII code ('50') → the key ('2'); 0 or empty → ''."""
    try:
        code = int(result)
    except ValueError:
        return ""
    return chr(code) if code > 0 else ""


OnVoicemail = Callable[[str, float, str], Awaitable[None]]  # (host path of the WAV, seconds, why empty or "")


async def perform(agi: AgiChannel, action: st.Action, dialing: Dialing, mailbox: VoicemailBox,
                  on_voicemail: OnVoicemail) -> st.Result | None:
    """Do one action. Returns its result, or None when the channel was handed to the dialplan."""
    if isinstance(action, st.Play):
        return st.Pressed(await play(agi, action.items, action.escape))
    if isinstance(action, st.WaitDigit):
        result = await agi.command(f"WAIT FOR DIGIT {int(action.timeout * 1000)}", timeout=action.timeout + 10)
        return st.Pressed(_digit(result.result))
    if isinstance(action, st.ToQueue):
        await set_variables(agi, CC_NEXT="queue", CC_NEXT_QUEUE=action.queue,
                            CC_NEXT_TIMEOUT=str(action.max_wait or ""), QUEUE_PRIO=str(action.priority),
                            CC_RESUME=action.resume)
        await agi.release()
        return None
    if isinstance(action, st.Dial):
        await set_variables(agi, CC_NEXT="dial", CC_NEXT_DIAL=dialing.dial_string(action.kind, action.target),
                            CC_NEXT_TIMEOUT=str(action.timeout), CC_RESUME=action.resume)
        await agi.release()
        return None
    if isinstance(action, st.RecordMessage):
        await play(agi, action.greeting, "")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        host = mailbox.host_dir / f"{stamp}-{agi.linkedid}"  # the folder is Asterisk's (render.py)
        beep = " BEEP" if action.beep else ""
        silence = f" s={action.silence}" if action.silence else ""
        # Ends on '#', after max_length, after `silence` seconds of silence, or when the caller hangs
        # up (the message is kept then too).
        result = await agi.command(f"RECORD FILE {quote_arg(mailbox.asterisk_name(host))} wav \"#\" "
                                   f"{action.max_length * 1000} 0{beep}{silence}", timeout=action.max_length + 30,
                                   check=False)
        if "(writefile)" in result.data:
            raise AgiCommandFailed("RECORD FILE", f"Asterisk cannot write {mailbox.asterisk_name(host)}.wav")
        samples = int(result.data.rpartition("endpos=")[2] or 0) if "endpos=" in result.data else 0
        path = f"{host}.wav"
        seconds, empty = await asyncio.to_thread(_message_facts, Path(path), samples / 8000, action.min_length)
        await on_voicemail(path, seconds, empty)
        log.info("call %s: voicemail recorded to %s (%.1f s%s)", agi.linkedid, path, seconds,
                 f"; empty: {empty}" if empty else "")
        return st.Recorded(path, seconds, empty)
    if isinstance(action, st.Hangup):
        await play(agi, action.items, "")
        try:
            await agi.command("HANGUP")
        except AgiHangup:
            pass  # the channel may be gone before the command's own result comes back
        return st.Done()
    raise TypeError(f"unknown action {action!r}")  # a programming error


def _message_facts(path: Path, reported: float, min_length: float) -> tuple[float, str]:
    """(seconds, why the message is empty or ""), from the file Asterisk wrote (its own count of
    samples when the file cannot be read: then the transcription says what is wrong with it)."""
    try:
        seconds = audio.check_wav(path)
        sound = audio.sound_seconds(path)
    except SpeechError:
        return reported, ""
    if seconds < min_length:
        return seconds, f"shorter than {min_length:g} s"
    if sound < audio.MIN_SOUND_SECONDS:
        return seconds, "no sound (silence only)"
    return seconds, ""


async def play(agi: AgiChannel, items: tuple[tuple[str, str], ...], escape: str) -> str:
    """Play prompt items; returns the key that interrupted them ('' if none)."""
    for kind, value in items:
        if kind == "digits":
            result = await agi.command(f"SAY DIGITS {value} {quote_arg(escape)}", timeout=PROMPT_TIMEOUT)
        else:
            result = await agi.command(f"STREAM FILE {quote_arg(value)} {quote_arg(escape)}", timeout=PROMPT_TIMEOUT)
        digit = _digit(result.result)
        if digit:
            return digit
    return ""


async def set_variables(agi: AgiChannel, **variables: str) -> None:
    """Set channel variables with AMI Setvar, not AGI SET VARIABLE: an AGI command waits for the
    channel to pick it up (~20 ms each, 100 ms if the caller sends no audio), Setvar acts at once.
    Each is acknowledged before the caller is released, so the dialplan sees them all."""
    checked = [actions.setvar(agi.channel, name, value) for name, value in variables.items()]  # all, first
    await asyncio.gather(*(agi.client.send(action) for action in checked))


async def run_until_released(agi: AgiChannel, run: st.FlowRun, action: st.Action, dialing: Dialing,
                             mailbox: VoicemailBox, clock: Callable[[], float],
                             on_step: Callable[[], None], on_voicemail: OnVoicemail) -> st.Action:
    """Drive the flow until it finishes or hands the caller to the dialplan; returns the last action
    (Finished, or the ToQueue / Dial that released the channel, to resume later). `on_step()` is
    called before each action, so the call record shows where the caller is, live;
    `on_voicemail(path, seconds)` when a message was recorded."""
    while not isinstance(action, st.Finished):
        on_step()
        try:
            result = await perform(agi, action, dialing, mailbox, on_voicemail)
        except AgiCommandFailed:
            await asyncio.sleep(0.2)  # a hangup shows up as a failed command just before AsyncAGIEnd
            if agi.ended:
                return st.Finished("caller hung up")
            raise
        if result is None:
            return action
        action = run.send(result, clock())
    return action
