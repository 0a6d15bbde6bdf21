from tests.web.test_customer_journey import oidc_issuer, web  # noqa

async def test_dbg(web, page):
    await page.goto(f"{web}/app")
    await page.get_by_role("link", name="Sign in with your operator account").click()
    await page.wait_for_load_state()
    print("URL", page.url, await page.locator("main").inner_text())
