"""Helpers of the page tests: axe-core on every screen, screenshots, keyboard moves."""

from __future__ import annotations

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
