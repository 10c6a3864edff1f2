"""The browser tests' Chromium: one per session, a fresh context (cookies, storage) per use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from tests.support.pages import CHROMIUM


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (scripts/install-test-deps.sh)"
    async with async_playwright() as pw:
        # --no-sandbox: the tests run as root, where Chromium's sandbox cannot start.
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[Any]:
    made: list[BrowserContext] = []

    async def new() -> BrowserContext:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        made.append(context)
        return context
    yield new
    for context in made:
        await context.close()
