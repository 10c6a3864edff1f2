"""The browser softphone (docs/softphone.md) in a real headless Chromium with fake media devices,
against the real system: Asterisk's WebSocket transport, DTLS-SRTP, a queue call from a SIP phone.

The fake microphone plays a wav file of a 1200 Hz tone (--use-file-for-fake-audio-capture): the
caller's phone must hear it. The caller plays 700 Hz: the page's received audio must carry it
(measured in the page with Web Audio, on the stream the softphone plays)."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.pages import ARTIFACTS, CHROMIUM, log_in
from tests.support.system import PLAIN, AmiWatch, System, find_call, wait_until

MIC_HZ = 1200.0  # what the browser's fake microphone says
CALLER_HZ = 700.0  # what the caller's phone says


def tone_wav(path: Path, freq: float, seconds: float = 4.0, rate: int = 48000) -> Path:
    """A mono 16-bit wav of a sine tone (Chromium loops the file as the microphone)."""
    n = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{n}h", *(int(0.3 * 32767 * math.sin(2 * math.pi * freq * i / rate))
                                              for i in range(n))))
    return path


def media_args(wav: Path) -> list[str]:
    """Chromium's switches for a browser phone without a person: fake devices, no permission prompt."""
    return ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
async def media_browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    wav = tone_wav(tmp_path_factory.mktemp("mic") / "mic.wav", MIC_HZ)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=media_args(wav))
        yield chromium
        await chromium.close()


# Web Audio on the stream the softphone plays: the share of the spectrum's energy near `hz`.
TONE_SHARE = """async (hz) => {
  const audio = document.querySelector('#softphone-audio');
  if (!audio.srcObject) return 0;
  const ctx = window.__spCtx || (window.__spCtx = new AudioContext());
  const src = ctx.createMediaStreamSource(audio.srcObject);
  const an = ctx.createAnalyser();
  an.fftSize = 4096;
  src.connect(an);
  await new Promise((r) => setTimeout(r, 400));
  const bins = new Float32Array(an.frequencyBinCount);
  an.getFloatFrequencyData(bins);
  src.disconnect();
  const width = ctx.sampleRate / an.fftSize;
  let all = 0, near = 0;
  bins.forEach((db, i) => { const p = Math.pow(10, db / 10); all += p; if (Math.abs(i * width - hz) < 60) near += p; });
  return all > 0 ? near / all : 0;
}"""


async def heard_in_page(page: Page, hz: float, timeout: float = 10.0) -> float:
    deadline = asyncio.get_running_loop().time() + timeout
    share = 0.0
    while asyncio.get_running_loop().time() < deadline:
        share = await page.evaluate(TONE_SHARE, hz)
        if share > 0.5:
            return share
    raise AssertionError(f"the page did not hear {hz} Hz (share {share:.2f})")


async def choose_phone(page: Page, phone: str) -> None:
    await page.get_by_test_id(f"phone-{phone}").check()


async def test_a_browser_agent_answers_a_queue_call_with_audio_both_ways(system: System, ami_watch: AmiWatch,
                                                                       phones: Any, media_browser: Browser) -> None:
    number = "4155550777"
    desk = phones.agent("agent1")  # the desk phone is registered too: it must not ring
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    context = await media_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await log_in(context, "agent1", system.creds.web_passwords["agent1"])
        card = page.get_by_test_id("softphone")
        await expect(card).to_be_visible()
        await expect(card).to_have_attribute("data-state", "off")

        mark = ami_watch.mark()
        await choose_phone(page, "browser")
        await expect(card).to_have_attribute("data-state", "registered", timeout=10_000)
        await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1-webrtc", since=mark)
        status, agent = system.api("/api/agents/agent1")
        assert status == 200 and agent["phone"] == "browser" and agent["phones"]["browser"]["registered"]
        await expect(page.get_by_test_id("presence-state")).to_have_attribute("data-state", "ready", timeout=10_000)
        register_ms = int(await card.get_attribute("data-register-ms") or -1)
        assert 0 < register_ms < 5000

        caller = phones.caller(number)
        call = await asyncio.to_thread(caller.call, PLAIN)
        await expect(card).to_have_attribute("data-state", "incoming", timeout=30_000)
        await expect(page.get_by_test_id("presence-state")).to_have_attribute("data-state", "ringing", timeout=5_000)
        await page.get_by_test_id("softphone-answer").click()
        await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1", timeout=15)
        await expect(card).to_have_attribute("data-state", "in_call", timeout=10_000)
        await expect(page.get_by_test_id("presence-state")).to_have_attribute("data-state", "on_call", timeout=5_000)
        with pytest.raises(TimeoutError):
            desk.wait_for_incoming(0.1)  # the desk phone never rang

        # Audio both ways, through Asterisk (DTLS-SRTP on the browser's side, PCMU on the caller's).
        await asyncio.to_thread(call.wait_for_tone, MIC_HZ, 15)
        await asyncio.to_thread(call.play_tone, 6.0, CALLER_HZ, 0.3, False)
        await heard_in_page(page, CALLER_HZ)

        # DTMF from the page's keypad reaches the caller (RFC 4733).
        await page.get_by_test_id("softphone-key-5").click()
        await asyncio.to_thread(wait_until, lambda: "5" in call.received_dtmf(), 5, "the caller got DTMF 5")

        # Hold: Asterisk puts the caller on hold (music), resume brings the microphone back.
        mark = ami_watch.mark()
        await page.get_by_test_id("softphone-hold").click()
        await expect(card).to_have_attribute("data-state", "on_hold", timeout=5_000)
        await ami_watch.wait_for(Event="Hold", since=mark, timeout=5)
        await page.get_by_test_id("softphone-hold").click()
        await expect(card).to_have_attribute("data-state", "in_call", timeout=5_000)
        await ami_watch.wait_for(Event="Unhold", since=mark, timeout=5)
        await asyncio.to_thread(call.wait_for_tone, MIC_HZ, 10)
        await page.screenshot(path=str(ARTIFACTS / "softphone-in-call.png"), full_page=True)

        record = find_call(system, number, ended=False)
        assert record is not None and record.get("agent") == "agent1", record

        await page.get_by_test_id("softphone-hangup").click()
        await asyncio.to_thread(wait_until, lambda: call.state == "ended", 10, "the caller's call ended")
        await expect(card).to_have_attribute("data-state", "registered", timeout=10_000)
    finally:
        system.api("/api/agents/agent1/phone", method="POST", body={"phone": "desk"})
        await context.close()
    status, agent = system.api("/api/agents/agent1")
    assert agent["phone"] == "desk"


async def test_the_softphone_settings_are_the_agents_own(system: System) -> None:
    status, body = system.api("/api/softphone")  # the API token is no agent
    assert status == 400 and body["error_id"] == "not-an-agent"
    status, body = system.api("/api/agents/agent1/phone", method="POST", body={"phone": "fax"})
    assert status == 400 and body["error_id"] == "bad-phone"
    status, body = system.api("/api/agents/nobody/phone", method="POST", body={"phone": "browser"})
    assert status == 404 and body["error_id"] == "unknown-agent"



async def test_a_browser_agent_transfers_a_queue_call_to_another_agent(system: System, ami_watch: AmiWatch,
                                                                       phones: Any, media_browser: Browser) -> None:
    number = "4155550778"
    other = phones.agent("agent2")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent2", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    context = await media_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await log_in(context, "agent1", system.creds.web_passwords["agent1"])
        card = page.get_by_test_id("softphone")
        await choose_phone(page, "browser")
        await expect(card).to_have_attribute("data-state", "registered", timeout=10_000)
        call = await asyncio.to_thread(phones.caller(number).call, PLAIN)
        await expect(card).to_have_attribute("data-state", "incoming", timeout=30_000)
        await page.get_by_test_id("softphone-answer").click()
        await expect(card).to_have_attribute("data-state", "in_call", timeout=10_000)
        await asyncio.to_thread(call.wait_for_tone, MIC_HZ, 15)

        # Blind transfer (SIP REFER) to agent2's extension: agent2's phone rings, the browser is free.
        await page.get_by_test_id("softphone-target").fill("1002")
        await page.get_by_test_id("softphone-transfer").click()
        incoming = await asyncio.to_thread(other.wait_for_incoming, 15)
        await expect(card).to_have_attribute("data-state", "registered", timeout=10_000)
        await asyncio.to_thread(incoming.answer)
        await asyncio.to_thread(incoming.play_tone, 3.0, 900.0, 0.3, False)
        await asyncio.to_thread(call.wait_for_tone, 900.0, 10)
        await asyncio.to_thread(call.play_tone, 3.0, CALLER_HZ, 0.3, False)
        await asyncio.to_thread(incoming.wait_for_tone, CALLER_HZ, 10)
        await asyncio.to_thread(call.hangup)
    finally:
        system.api("/api/agents/agent1/phone", method="POST", body={"phone": "desk"})
        await context.close()
    result = system.cli("agent", "phone", "agent1", "desk")
    assert "agent1's calls ring the desk phone" in result.stdout
