"""Web chat in a real headless Chromium: a visitor on the demo shop page (the widget from its one
script tag) and an agent on the workspace, against the real system. Screenshots of both go to
var/test-artifacts/."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import Page, expect

from tests.support.pages import ARTIFACTS, BASE, log_in
from tests.support.system import System

HOSTILE = 'Order 4567 <img src=x onerror="window.pwned=1"> & <b>bold</b>'


async def open_widget(page: Page) -> None:
    await page.goto(f"{BASE}/chat/demo.html")
    await page.get_by_test_id("chat-launcher").click()
    await expect(page.get_by_test_id("chat-panel")).to_be_visible()


async def test_a_visitor_chats_from_the_widget_and_the_agent_answers_in_the_page(system: System, contexts) -> None:
    system.cli("queue", "unpause", "agent1", check=False)
    agent = await log_in(await contexts(), "agent1", system.creds.web_passwords["agent1"])
    dialogs: list[Any] = []
    visitor = await (await contexts()).new_page()
    visitor.on("dialog", lambda d: dialogs.append(d))
    await open_widget(visitor)
    await visitor.get_by_test_id("chat-input").fill(HOSTILE)
    await visitor.get_by_test_id("chat-send").click()
    await expect(visitor.locator('[data-testid="chat-message"][data-from="visitor"]').last).to_contain_text(
        "Order 4567 <img", timeout=10_000)
    # The agent's page gets it (routed: agent1 is support's member with a page open). Earlier tests
    # may have left agent1 a chat of their own: this one is the chat holding the message.
    deadline = time.monotonic() + 10
    while True:
        ours = [c for c in system.api("/api/chats")[1]["chats"] if any(m["text"] == HOSTILE for m in c["messages"])]
        if (len(ours) == 1 and ours[0]["agent"] == "agent1") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(ours) == 1 and ours[0]["agent"] == "agent1", ours
    item = agent.locator(f'[data-testid="chat-item"][data-id="{ours[0]["id"]}"]')
    await expect(item).to_be_visible(timeout=10_000)
    await item.click()
    line = agent.locator('[data-testid="chat-line"][data-from="visitor"]').last
    await expect(line).to_contain_text(HOSTILE)  # shown as text
    assert await agent.get_by_test_id("chat-view").locator("img, b").count() == 0
    await agent.get_by_test_id("chat-reply").fill("Hello! Let me look at 4567.")
    await agent.get_by_test_id("chat-reply-send").click()
    await expect(visitor.locator('[data-testid="chat-message"][data-from="agent"]').last).to_contain_text(
        "Let me look at 4567", timeout=10_000)
    await expect(visitor.get_by_test_id("chat-status")).not_to_be_empty()
    await agent.screenshot(path=str(ARTIFACTS / "chat-agent.png"), full_page=True)
    await visitor.screenshot(path=str(ARTIFACTS / "chat-visitor.png"))
    # The same browser comes back: its history is there.
    await open_widget(visitor)
    await expect(visitor.locator('[data-testid="chat-message"][data-from="agent"]').last).to_contain_text(
        "Let me look at 4567", timeout=10_000)
    assert await visitor.evaluate("window.pwned") is None and not dialogs
    # The agent ends it; the visitor is told.
    await agent.get_by_test_id("chat-end-go").click()
    await expect(visitor.locator('[data-testid="chat-message"][data-from="system"]').last).to_contain_text(
        "ended", timeout=10_000)


async def test_with_nobody_online_the_widget_takes_a_message_to_a_ticket(system: System, contexts) -> None:
    # No agent page is open: the widget offers the form.
    visitor = await (await contexts()).new_page()
    await open_widget(visitor)
    form = visitor.get_by_test_id("chat-offline-form")
    await expect(form).to_be_visible(timeout=10_000)
    await visitor.get_by_test_id("chat-offline-name").fill("Olga")
    await visitor.get_by_test_id("chat-offline-email").fill("olga@example.com")
    await visitor.get_by_test_id("chat-offline-text").fill("Please call me about order 8812")
    await visitor.get_by_test_id("chat-offline-send").click()
    done = visitor.get_by_test_id("chat-offline-done")
    await expect(done).to_be_visible(timeout=10_000)
    text = await done.inner_text()
    ticket_id = int("".join(ch for ch in text.split("#")[-1] if ch.isdigit()))
    status, ticket = system.api(f"/api/tickets/{ticket_id}")
    assert status == 200 and ticket["interactions"][0]["body"] == "Please call me about order 8812"
    status, customer = system.api(f"/api/customers/{ticket['customer_id']}")
    assert {i["value"] for i in customer["identities"]} >= {"olga@example.com"}
