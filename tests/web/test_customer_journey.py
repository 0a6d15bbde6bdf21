"""The customer's Personal Data Space in a real Chromium, signed in through OpenID Connect
against a local provider: see data, accept an offer narrowed, the verified receipt, pause,
resume and revoke, the partner's read then the denial in the access log, export and
download, erase a category, close the account; once more in German, by keyboard alone.
axe-core checks every screen."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.web.pages import customer_with_data, screen, sign_in, tab_to


async def test_a_customer_does_everything_in_the_browser(web, page, actors, client):
    partner = await actors.partner("Acme Ads")
    await actors.offer(partner, title="Usage research", purposes=["research"])
    customer = await customer_with_data(actors, client)

    await sign_in(page, web, customer["id"])
    cookie = next(c for c in await page.context.cookies() if c["name"] == "mkt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    await screen(page, "home")

    # My data: both categories, with counts; a category's records.
    await page.get_by_role("link", name="My data").first.click()
    table = page.get_by_role("table")
    assert "location" in await table.inner_text() and "data_usage" in await table.inner_text()
    assert (
        await page.get_by_role("row", name="data_usage")
        .get_by_role("cell", name="3", exact=True)
        .count()
        == 1
    )
    await screen(page, "my-data")
    await page.get_by_role("link", name="data_usage").click()
    assert await page.locator("tbody tr").count() == 3
    await screen(page)

    # Offers: location is left out in Germany, with the rule's sentence.
    await page.get_by_role("link", name="Offers").first.click()
    article = page.locator("article", has_text="Usage research")
    assert "In Germany, your location data cannot be shared" in await article.inner_text()
    await screen(page, "offers")
    await article.get_by_role("link", name="Review and accept").click()
    await screen(page)
    await page.get_by_label("location").uncheck()
    await page.get_by_role("button", name="Review").click()
    summary = await page.locator("main").inner_text()
    assert "data_usage" in summary and "Acme Ads" in summary and "location" not in summary
    await screen(page)
    await page.get_by_role("button", name="I agree").click()
    assert "The signature is valid" in await page.locator("#receipt-check").inner_text()
    await screen(page, "receipt")
    grant_id = page.url.split("/app/consents/")[1].split("?")[0]

    # Pause, resume, each confirmed.
    for action, confirm, status in (
        ("Pause", "Yes, pause", "paused"),
        ("Resume", "Yes, resume", "active"),
    ):
        await page.get_by_role("link", name=action, exact=True).click()
        await screen(page)
        await page.get_by_role("button", name=confirm).click()
        assert (await page.locator("#status").inner_text()) == status

    # The partner reads, then the customer revokes, then the partner is refused.
    api = {"Authorization": partner["auth"]["Authorization"]}
    q = {"category": "data_usage", "purpose": "research"}
    url = f"{web}/v1/partner/customers/{customer['id']}/records"
    assert httpx.get(url, params=q, headers=api).status_code == 200
    assert httpx.get(url, params={**q, "category": "location"}, headers=api).status_code == 403
    await page.get_by_role("link", name="Withdraw").click()
    await page.get_by_role("button", name="Yes, withdraw").click()
    assert (await page.locator("#status").inner_text()) == "revoked"
    assert httpx.get(url, params=q, headers=api).status_code == 403
    # The partner read data before the revoke: it owes a deletion, and the customer sees when
    # it confirms.
    main = page.locator("main")
    assert "waiting for the partner to confirm the deletion" in await main.inner_text()
    owed = httpx.get(
        f"{web}/v1/partner/deletion-obligations", params={"state": "open"}, headers=api
    ).json()["data"]
    [obligation] = [o for o in owed if o["grant_id"] == grant_id]
    confirmed = httpx.post(
        f"{web}/v1/partner/deletion-obligations/{obligation['id']}/confirm",
        json={
            "method": "deleted",
            "statement": "Deleted from every system, derived data included.",
            "completed_at": datetime.now(UTC).isoformat(),
        },
        headers=api,
    )
    assert confirmed.status_code == 200, confirmed.text
    await page.reload()
    assert "the partner confirmed the deletion" in await main.inner_text()
    await page.get_by_role("link", name="My consents").first.click()
    ended = page.locator("section", has=page.get_by_role("heading", name="Ended"))
    assert await ended.get_by_role("link").count() == 1
    await screen(page, "consents")

    await page.get_by_role("link", name="Who read what").first.click()
    log = await page.locator(".log").inner_text()
    assert "Acme Ads read your data_usage for research" in log
    assert "In Germany, your location data cannot be shared" in log
    assert log.count("denied") >= 2
    await screen(page, "access-log")
    await page.get_by_label("Outcome").select_option("allowed")
    await page.get_by_role("button", name="Filter").click()
    assert "denied" not in await page.locator(".log").inner_text()
    await screen(page)

    await page.get_by_role("link", name="Earnings").first.click()
    assert grant_id in await page.locator("main").inner_html()
    await screen(page, "earnings")

    # Take my data along: start, then download the signed package.
    await page.get_by_role("link", name="Take my data along").first.click()
    await page.get_by_role("button", name="Start an export").click()
    assert "ready" in await page.locator("#export-status").inner_text()
    await screen(page, "export")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download").click()
    path = await (await download.value).path()
    lines = open(path).read().splitlines()
    assert len(lines) > 6 and '"data_usage"' in "".join(lines)

    # Erase one category, then everything.
    await page.get_by_role("link", name="Delete").first.click()
    await screen(page, "delete")
    await page.get_by_role("link", name="Erase location").click()
    assert "3 records will be deleted" in await page.locator("main").inner_text()
    await screen(page)
    await page.get_by_role("button", name="Yes, erase").click()
    assert "3 records deleted" in await page.locator("main").inner_text()
    await page.get_by_role("link", name="Delete").first.click()
    assert await page.get_by_role("link", name="Erase location").count() == 0
    await page.get_by_role("link", name="Erase everything and close my account").click()
    await screen(page)
    await page.get_by_role("button", name="Yes, close my account").click()
    assert "Account closed" in await page.locator("h1").inner_text()
    # The session is gone: the app asks to sign in again.
    await page.goto(f"{web}/app/data")
    assert page.url.endswith("/app/signin")


async def test_the_same_journey_in_german_by_keyboard_alone(web, browser, actors, client):
    partner = await actors.partner("Acme Ads")
    await actors.offer(partner, title="Nutzungsforschung", purposes=["research"])
    customer = await customer_with_data(actors, client)
    context = await browser.new_context(
        locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"}
    )
    page = await context.new_page()
    try:
        await page.goto(f"{web}/app")
        assert await page.locator("html").get_attribute("lang") == "de"
        await tab_to(page, "Mit dem Konto Ihres Anbieters anmelden")
        await page.keyboard.press("Enter")
        await page.locator("input[name=sub]").first.fill(customer["id"])
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{web}/app")
        await screen(page, "home-de")

        await tab_to(page, "Angebote")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{web}/app/offers")
        assert "In Deutschland" in await page.locator("main").inner_text()
        await screen(page)
        await tab_to(page, "Prüfen und annehmen : Nutzungsforschung")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/app/offers/ofr_*")
        await tab_to(page, "Standort")  # its checkbox, by its label
        await page.keyboard.press("Space")
        await tab_to(page, "Prüfen")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/review")
        await screen(page)
        await tab_to(page, "Ich stimme zu")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/app/consents/**")
        assert "Die Signatur ist gültig" in await page.locator("#receipt-check").inner_text()
        await screen(page)

        await tab_to(page, "Meine Daten")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/app/data")
        await screen(page)
        # The switch: the same page in Spanish.
        await tab_to(page, "Español")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/app/data?lang=es")
        assert await page.locator("html").get_attribute("lang") == "es"
        assert "Mis datos" in await page.locator("h1").inner_text()
        await screen(page)
    finally:
        await context.close()
