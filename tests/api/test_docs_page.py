"""The `/schema` docs page in a real headless Chromium: it renders from the server alone (no
other origin is ever asked for anything), under its Content-Security-Policy, and a person can
authorize with a token and try a request."""

from __future__ import annotations

import httpx

from marketplace.http.docs import CONTENT_SECURITY_POLICY


async def test_the_docs_page_needs_only_the_server_and_allows_no_other_origin(live_server):
    page = httpx.get(f"{live_server}/schema")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "<script>" not in page.text and "http" not in page.text.split("<body>")[0]
    for asset in ("assets/swagger-ui-bundle.js", "assets/swagger-ui.css", "docs.js"):
        r = httpx.get(f"{live_server}/schema/{asset}")
        assert r.status_code == 200, asset
    # Only the files the page needs: nothing else of the package is served.
    assert httpx.get(f"{live_server}/schema/assets/swagger-editor.js").status_code == 404
    assert httpx.get(f"{live_server}/schema/assets/../../__init__.py").status_code == 404


async def test_a_person_lists_operations_authorizes_and_tries_a_request(live_server, page, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner, publish=False)
    token = partner["auth"]["Authorization"].removeprefix("Bearer ")
    operations = sum(
        1
        for item in httpx.get(f"{live_server}/schema/openapi.json").json()["paths"].values()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    )
    asked, problems = [], []
    page.on("request", lambda r: asked.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    await page.goto(f"{live_server}/schema")
    await page.locator(".opblock").first.wait_for()
    assert await page.locator(".opblock").count() == operations
    assert await page.locator("button.authorize").count() == 1

    await page.locator("button.authorize").click()
    await page.locator(".modal-ux input").fill(token)
    await page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    await page.locator(".modal-ux button.btn-done").click()

    listing = page.locator("#operations-partner-listOffers")
    await listing.locator(".opblock-summary").click()
    await listing.locator("button.try-out__btn").click()
    await listing.locator("button.execute").click()
    status = listing.locator(".live-responses-table tbody .response-col_status")
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"
    assert offer["id"] in await listing.locator(".live-responses-table").inner_text()

    assert problems == []  # a refused script, style or call shows up here
    assert asked and all(url.startswith(f"{live_server}/") for url in asked), asked
