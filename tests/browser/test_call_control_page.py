"""Call control from the pages, in a real Chromium against the real system: the agent holds,
resumes and transfers from the page (the same REST API as the CLI); a supervisor monitors a live
call from the wallboard and their phone rings (tests/integration/test_call_control.py checks the
audio of each mode)."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.browser.test_workspace import supervisor
from tests.support.pages import log_in
from tests.support.system import TEAM_DIDS, AmiWatch, System, wait_until


async def test_hold_transfer_and_monitor_from_the_pages(system: System, ami_watch: AmiWatch, phones, contexts) -> None:
    agent6, agent7, sue = phones.agent("agent6"), phones.agent("agent7"), phones.agent("sue")
    for name in ("agent6", "agent7"):
        await asyncio.to_thread(wait_until, lambda: system.api(f"/api/agents/{name}")[1]["registered"], 10, name)
    page = await log_in(await contexts(), "agent6", system.creds.web_passwords["agent6"])
    board = await log_in(await contexts(), "boss", supervisor(system, "boss"), "/wallboard")
    call = await asyncio.to_thread(phones.caller("5558200001").call, TEAM_DIDS["xfer"])
    incoming = await asyncio.to_thread(agent6.wait_for_incoming, 20)
    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent6", CallerIDNum="5558200001")

    # The supervisor sees the call and monitors it from the wallboard: their phone rings.
    row = board.locator('[data-testid="live-call"]', has_text="5558200001")
    await expect(row).to_be_visible(timeout=8_000)
    await board.get_by_test_id("monitor-phone").fill("sue")
    await row.get_by_test_id("monitor").click()
    ring = await asyncio.to_thread(sue.wait_for_incoming, 10)
    await asyncio.to_thread(ring.answer)
    await expect(board.get_by_test_id("monitor-state")).to_contain_text("agent6", timeout=8_000)
    await asyncio.to_thread(ring.hangup)

    # The agent holds (the caller hears music), resumes, then transfers to agent7.
    controls = page.get_by_test_id("call-control")
    await expect(controls).to_be_visible(timeout=8_000)
    await controls.get_by_role("button", name="Hold", exact=True).click()
    await asyncio.to_thread(call.wait_for_audio, 200, 5)
    await controls.get_by_role("button", name="Resume").click()
    await page.locator("#ctl-target").fill("agent7")
    await page.locator("#ctl-note").fill("needs a refund")
    await controls.get_by_role("button", name="Transfer", exact=True).click()
    target = await asyncio.to_thread(agent7.wait_for_incoming, 10)
    await asyncio.to_thread(incoming.wait_until_ended, 10)
    await asyncio.to_thread(target.answer)
    await asyncio.to_thread(call.hangup)
