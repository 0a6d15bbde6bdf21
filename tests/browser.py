"""A real headless Chromium for tests that check what a person sees (Playwright, async API).

The machine's Chromium when there is one (`make browser` installs it), else the one that
`playwright install chromium` keeps. Pages get a fresh context each; the browser is shared.
"""

from __future__ import annotations

import shutil

import pytest

# No calls home, no updates, no first-run pages: a test's page talks to the test server only.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The machine's Chromium, or None to use Playwright's own."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser):
    """A page in a context of its own (no cookies or storage shared between tests)."""
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()
