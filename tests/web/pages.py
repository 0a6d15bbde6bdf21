"""Helpers of the page tests: a customer with data, signing in through the OpenID provider,
axe-core on every screen, screenshots, keyboard moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from axe_playwright_python.async_playwright import Axe

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
_axe = Axe()


async def accessible(page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = await _axe.run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


async def screen(page, name: str | None = None) -> None:
    """Checks the screen with axe and, when named, keeps its screenshot for the README."""
    await accessible(page)
    if name:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def tab_to(page, text: str, limit: int = 60) -> None:
    """Presses Tab until the focused element's text contains `text` (keyboard only)."""
    seen = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "['BODY', 'MAIN'].includes(document.activeElement.tagName) ? ''"
            " : document.activeElement.innerText || document.activeElement.value || ''"
        )
        focused = " ".join(focused.split())
        label = await page.evaluate(
            "document.activeElement && (document.activeElement.labels && document.activeElement.labels[0]"
            " ? document.activeElement.labels[0].innerText : '') || ''"
        )
        if text in focused or text in label:
            return
        seen.append(focused or label)
    raise AssertionError(f"Tab never reached {text!r}; it went through {seen}")


async def customer_with_data(actors, client, jurisdiction="DE"):
    """A new customer with three records each of location and data usage, in the last hours."""
    customer = await actors.customer(jurisdiction)
    now = datetime.now(UTC)
    records = [
        {
            "category": category,
            "recorded_at": (now - timedelta(hours=i + 1)).isoformat(),
            "source": "network",
            "payload": {"n": i},
        }
        for category in ("location", "data_usage")
        for i in range(3)
    ]
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records",
        json={"records": records},
        headers=actors.operator,
    )
    assert r.status_code in (200, 201), r.text
    return customer


async def sign_in(page, web, sub):
    """Signs `sub` in through the local OpenID provider; the page ends on the home screen."""
    await page.goto(f"{web}/app")
    assert page.url.endswith("/app/signin")
    await page.get_by_role("link", name="Sign in with your operator account").click()
    await page.locator("input[name=sub]").first.fill(sub)
    await page.get_by_role("button", name="Authorize").click()
    await page.wait_for_url(f"{web}/app")
