"""Benchmark: the browser softphone (docs/softphone.md). Prints figures; not a test.

    .venv/bin/python -m bench.softphone                      # 20 registrations, 30 audio pulses
    .venv/bin/python -m bench.softphone --registers 50 --pulses 60

Run from the repository root. It starts its own `callcenter run` (real Asterisk + controller) from a
temporary folder on ports of its own (SIP 35060, AMI 35038, API 38080, WebSocket 35088) and a
headless Chromium with fake media devices (Debian's `chromium`, driven by Playwright); everything
on loopback, one machine.

1. **Register time**: agent1's page, phone "This browser", is loaded `--registers` times. Per load:
   the softphone's own figure (SIP.js UserAgent start: WebSocket opened → REGISTER → 401 →
   REGISTER with digest → 200 OK; `data-register-ms`, performance.now() in the page), and the page
   navigation start → registered (performance.timeOrigin, the page's clock).
2. **Audio round trip through Asterisk**: the page calls the echo test `*43` (Answer, Echo(): the
   media goes browser → DTLS-SRTP → Asterisk → back). The page's microphone track is replaced by
   a Web Audio oscillator gated on and off: `--pulses` tone bursts of 120 ms, 700 ms apart. The start
   instant is when the gain is set to 1 (performance.now()); the end instant is when the received
   stream's level (an AnalyserNode, 256 samples, polled every 2 ms) first crosses a threshold. It
   includes the browser's encoder, Asterisk, the browser's jitter buffer and decoder, and up to one
   analyser window (~5 ms) and one poll (2 ms) of detection.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from typing import Any

from bench._harness import API_PORT, BenchSystem, exit_on_sigterm, percentile
from playwright.async_api import async_playwright

BASE = f"http://127.0.0.1:{API_PORT}"
ARGS = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]

# In the page, on the established call: replace the microphone by gated tone bursts, time each
# burst's return on the received stream. Returns the round trips in ms (null: a burst never came back).
ROUND_TRIPS = """async ({pulses, gapMs, burstMs}) => {
  const pc = window.callcenterSoftphone.peerConnection();
  const ctx = new AudioContext();
  await ctx.resume();
  const osc = ctx.createOscillator();
  osc.frequency.value = 1000;
  const gate = ctx.createGain();
  gate.gain.value = 0;
  const out = ctx.createMediaStreamDestination();
  osc.connect(gate).connect(out);
  osc.start();
  const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
  await sender.replaceTrack(out.stream.getAudioTracks()[0]);
  const remote = new MediaStream(pc.getReceivers().map((r) => r.track).filter(Boolean));
  const an = ctx.createAnalyser();
  an.fftSize = 256;
  ctx.createMediaStreamSource(remote).connect(an);
  const buf = new Float32Array(an.fftSize);
  const level = () => {
    an.getFloatTimeDomainData(buf);
    let s = 0;
    for (const x of buf) s += x * x;
    return Math.sqrt(s / buf.length);
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await sleep(1500); // the echo settles; silence in both directions
  const trips = [];
  for (let i = 0; i < pulses; i++) {
    while (level() > 0.02) await sleep(2); // quiet first
    const start = performance.now();
    gate.gain.setValueAtTime(1, ctx.currentTime);
    let got = null;
    while (performance.now() - start < gapMs) {
      if (level() > 0.05) { got = performance.now() - start; break; }
      await sleep(2);
    }
    await sleep(Math.max(0, burstMs - (performance.now() - start)));
    gate.gain.setValueAtTime(0, ctx.currentTime);
    trips.push(got);
    await sleep(gapMs - burstMs);
  }
  return trips;
}"""


def summary(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "no samples"
    return (f"p50 {percentile(values, 50):.0f} {unit}, p95 {percentile(values, 95):.0f} {unit}, "
            f"min {min(values):.0f} {unit}, max {max(values):.0f} {unit} (n={len(values)})")


async def log_in(page: Any, name: str, password: str) -> None:
    await page.goto(f"{BASE}/login")
    await page.get_by_test_id("login-name").fill(name)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(f"{BASE}/")
    await page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=15_000)


async def registered(page: Any) -> None:
    await page.wait_for_selector('[data-testid="softphone"][data-state="registered"]', timeout=15_000)


async def run(args: argparse.Namespace) -> None:
    system = BenchSystem('  "8005550140": {name: Softphone bench, greeting: beep, queue: support}\n', {}, keep=args.keep)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        system.start()
        print(f"callcenter ready in {system.ready_seconds:.1f} s", flush=True)
        status, body = system.api("/api/agents/agent1/phone", method="POST", body={"phone": "browser"})
        assert status == 200, body
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            page = await (await browser.new_context()).new_page()
            # The page stamps the moment the softphone says registered (navigation start = 0).
            await page.add_init_script("""new MutationObserver(() => {
                const c = document.querySelector('[data-testid="softphone"]');
                if (c && c.dataset.state === 'registered' && !window.__registeredAt) window.__registeredAt = performance.now();
              }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state']});""")
            await log_in(page, "agent1", system.creds.web_passwords["agent1"])
            await registered(page)
            own, navigation = [], []
            for _ in range(args.registers):
                await page.reload()
                await registered(page)
                own.append(float(await page.get_by_test_id("softphone").get_attribute("data-register-ms") or "nan"))
                navigation.append(await page.evaluate("() => window.__registeredAt"))
                await asyncio.sleep(0.3)
            print(f"softphone register (WebSocket open -> REGISTER/401/REGISTER -> 200 OK): {summary(own)}", flush=True)
            print(f"agent page navigation start -> softphone registered: {summary(navigation)}", flush=True)

            assert await page.evaluate("() => window.callcenterSoftphone.call('*43')")
            await page.wait_for_selector('[data-testid="softphone"][data-state="in_call"]', timeout=15_000)
            trips = await page.evaluate(ROUND_TRIPS, {"pulses": args.pulses, "gapMs": 700, "burstMs": 120})
            back = [t for t in trips if t is not None]
            print(f"audio round trip browser -> Asterisk Echo() -> browser (Opus/DTLS-SRTP, loopback): {summary(back)}"
                  f"{f'; {len(trips) - len(back)} bursts not heard back' if len(back) < len(trips) else ''}",
                  flush=True)
            codec = await page.evaluate("""async () => {
              const stats = await window.callcenterSoftphone.peerConnection().getStats();
              let codec = '';
              stats.forEach((s) => { if (s.type === 'codec' && s.mimeType.startsWith('audio/')) codec = codec || s.mimeType; });
              return codec; }""")
            print(f"negotiated codec: {codec}", flush=True)
            await page.evaluate("() => window.callcenterSoftphone.hangUp()")
            await browser.close()
    finally:
        system.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registers", type=int, default=20)
    parser.add_argument("--pulses", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    exit_on_sigterm()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
