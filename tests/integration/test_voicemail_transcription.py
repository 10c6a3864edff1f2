"""A real voicemail becomes text on the caller's ticket: a caller dials the hotline, presses 9,
speaks a natural-voice message (tests/fixtures/speech/en-order.wav) after the beep and hangs up;
the transcript (name and order number) lands on the caller's ticket, which is flagged to call back."""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path
from typing import Any

from tests.support.system import HOTLINE, AmiWatch, System, find_call, wait_until

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "en-order.wav"


async def test_a_spoken_voicemail_is_transcribed_onto_the_callers_ticket(system: System, ami_watch: AmiWatch,
                                                                         phones) -> None:
    number = "4155550190"
    caller = phones.caller(number)
    call = await asyncio.to_thread(caller.call, HOTLINE)

    def at_menu() -> bool:
        record = find_call(system, number, ended=False)
        return bool(record) and "hotline/main_menu" in record["ivr_path"]
    await asyncio.to_thread(wait_until, at_menu, 30, "the caller at the main menu")
    await asyncio.to_thread(call.send_dtmf, "9")

    def at_voicemail() -> bool:
        record = find_call(system, number, ended=False)
        return bool(record) and "hotline/voicemail" in record["ivr_path"]
    await asyncio.to_thread(wait_until, at_voicemail, 30, "the caller at the voicemail node")
    # The greeting ("Please leave your message after the tone. ...", ~5 s), then the beep: speak after.
    await asyncio.sleep(7.5)
    with wave.open(str(FIXTURE), "rb") as w:
        pcm = w.readframes(w.getnframes())
    await asyncio.to_thread(call.play_audio, pcm)
    await asyncio.sleep(0.5)
    hung_up = time.monotonic()
    await asyncio.to_thread(call.hangup)

    def transcribed() -> dict[str, Any] | None:
        status, rows = system.api("/api/voicemails")
        mine = [r for r in rows if r["caller"] == number and r["state"] in ("done", "failed", "empty")] \
            if status == 200 else []
        return mine[0] if mine else None
    row = await asyncio.to_thread(wait_until, transcribed, 90, "the voicemail's transcript")
    took = time.monotonic() - hung_up
    assert row["state"] == "done", row
    text = row["text"].lower()
    assert "john smith" in text and "4567" in text.replace("-", "").replace(" ", ""), row["text"]
    assert took < 60, took
    _, ticket = system.api(f"/api/tickets/{row['ticket']}")
    assert ticket["callback_requested"] is True
    assert any(i["channel"] == "voicemail" and "John Smith" in i["body"] for i in ticket["interactions"])
    shown = json.loads(system.cli("voicemail", "show", str(row["voicemail"]), "--json").stdout)
    assert shown["transcript"]["language"] == "en" and shown["transcript"]["words"]
    assert "John Smith" in system.cli("voicemail", "list").stdout
