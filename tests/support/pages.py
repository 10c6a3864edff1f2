"""The pages in a real headless Chromium (Playwright driving Debian's chromium, never a downloaded
browser): where the system serves them, where screenshots go, logging in."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.async_api import BrowserContext, Page, expect

from tests.support.system import API_PORT

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CALLCENTER_TEST_ARTIFACTS") or REPO / "var" / "test-artifacts")
BASE = f"http://127.0.0.1:{API_PORT}"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS.mkdir(parents=True, exist_ok=True)


async def log_in(context: BrowserContext, name: str, password: str, then: str = "/") -> Page:
    page = await context.new_page()
    await page.goto(f"{BASE}{then}")
    await expect(page).to_have_url(re.compile(r"/login"))  # not logged in: the page sends you to the login
    await page.get_by_test_id("login-name").fill(name)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page).to_have_url(f"{BASE}{then}")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open", timeout=10_000)
    return page
