"""The regulator's view in a real Chromium, signed in from the demo list: the log's state,
per-day SVG charts of their jurisdiction, entries filtered by kind, outcome and rule, each
with its inclusion proof, and the verify command. A customer session cannot open it, and the
demo list disappears when local tokens are not accepted. axe-core checks every screen."""

from __future__ import annotations

import httpx
import pytest

from marketplace.bootstrap import bootstrap
from marketplace.web.regulator import ENTRIES_PAGE
from tests.conftest import free_port, seal_everything, start_server
from tests.web.pages import screen


@pytest.fixture(scope="module")
def web(settings):
    port = free_port()
    proc = start_server(settings, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


async def test_a_regulator_watches_their_jurisdiction(web, page, actors, client, pool, settings):
    partner = await actors.partner("Acme Ads")
    offer = await actors.offer(partner)
    customer = await actors.customer("DE")
    await actors.accept(customer, offer)
    r = await client.get(
        f"/v1/partner/customers/{customer['id']}/records",
        params={"category": "location", "purpose": "research"},
        headers=partner["auth"],
    )
    assert r.status_code == 403
    await seal_everything(bootstrap(settings, pool).audit, pool)

    await page.goto(f"{web}/app/signin")
    before = {c["name"]: c["value"] for c in await page.context.cookies()}["mkt_session"]
    await page.get_by_role("button", name="Regulator (Germany)").click()
    await page.wait_for_url(f"{web}/app/regulator")
    # Signing in gives a new session id: one planted before (fixation) is worth nothing.
    after = {c["name"]: c["value"] for c in await page.context.cookies()}["mkt_session"]
    assert after != before
    planted = httpx.get(f"{web}/app/regulator", cookies={"mkt_session": before})
    assert planted.status_code == 303 and planted.headers["location"] == "/app/signin"
    signed_in = httpx.get(f"{web}/app/regulator", cookies={"mkt_session": after})
    assert signed_in.status_code == 200
    assert int(await page.locator("#tree-size").inner_text()) > 0
    assert await page.locator("figure.chart svg").count() == 4
    svg = await page.locator("figure.chart").first.inner_html()
    assert "Consents given and withdrawn" in svg and "<script" not in svg
    assert "marketplace audit verify --url" in await page.locator("#verify ~ pre").inner_text()
    await screen(page, "regulator")

    await page.get_by_role("link", name="Entries").click()
    await page.get_by_label("Kind").select_option("access.decision")
    await page.get_by_label("Outcome").select_option("denied")
    await page.get_by_label("Partner").fill(partner["id"])
    await page.get_by_label("Rule").fill("rule:de-location-trading")
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("#entries tbody tr")
    assert await rows.count() == 1
    assert "de-location-trading" in await rows.first.inner_text()
    await screen(page, "regulator-entries")
    await page.get_by_label("Outcome").select_option("allowed")
    await page.get_by_role("button", name="Filter").click()
    assert "No entries match." in await page.locator("#entries").inner_text()

    await page.get_by_label("Outcome").select_option("denied")
    await page.get_by_role("button", name="Filter").click()
    await rows.first.get_by_role("link").click()
    proof = await page.locator("pre").inner_text()
    assert '"proof"' in proof and '"root_hash"' in proof
    await screen(page)

    # A regulator is not a customer, and a forged form is refused.
    await page.goto(f"{web}/app/data")
    assert page.url.endswith("/app/signin")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{web}/app/signin")
    gone = httpx.get(f"{web}/app/regulator", cookies={"mkt_session": after})
    assert gone.status_code == 303  # signing out deleted the session, not just the cookie
    refused = httpx.post(f"{web}/app/signin/demo", data={"as": "regulator", "_csrf": "forged"})
    assert refused.status_code == 403


def test_no_demo_list_when_local_tokens_are_refused(settings):
    port = free_port()
    proc = start_server(settings, port, {"ACCEPT_LOCAL_TOKENS": "false"})
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/app/signin")
        assert page.status_code == 200
        assert "Demo: sign in as" not in page.text and "Sign-in is not configured." in page.text
        r = httpx.post(f"http://127.0.0.1:{port}/app/signin/demo", data={"as": "regulator"})
        assert r.status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_entries_are_filtered_by_rule_and_paged_in_the_database(
    web, page, actors, client, pool, settings, token
):
    """More matching entries than one page: the rule filter and the paging both reach past
    the first page, in the browser and in the API it stands on."""
    partner = await actors.partner("Pager Ads")
    offer = await actors.offer(partner)
    customer = await actors.customer("DE")
    await actors.accept(customer, offer)
    for _ in range(ENTRIES_PAGE + 5):
        r = await client.get(
            f"/v1/partner/customers/{customer['id']}/records",
            params={"category": "location", "purpose": "research"},
            headers=partner["auth"],
        )
        assert r.status_code == 403
    allowed = await client.get(
        f"/v1/partner/customers/{customer['id']}/records",
        params={"category": "data_usage", "purpose": "research"},
        headers=partner["auth"],
    )
    assert allowed.status_code == 200
    await seal_everything(bootstrap(settings, pool).audit, pool)
    regulator = {"Authorization": f"Bearer {token('regulator', 'reg_de', ['DE'])}"}
    api = await client.get(
        "/v1/audit/entries",
        params={"partner_id": partner["id"], "rule": "de-location-trading", "limit": 100},
        headers=regulator,
    )
    assert api.status_code == 200
    assert len(api.json()["data"]) == ENTRIES_PAGE + 5
    assert all("de-location-trading" in e["entry"] for e in api.json()["data"])

    await page.goto(f"{web}/app/signin")
    await page.get_by_role("button", name="Regulator (Germany)").click()
    await page.wait_for_url(f"{web}/app/regulator")
    await page.goto(f"{web}/app/regulator/entries")
    await page.get_by_label("Partner").fill(partner["id"])
    await page.get_by_label("Rule").fill("de-location-trading")
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("#entries tbody tr")
    assert await rows.count() == ENTRIES_PAGE
    first_page = await rows.first.inner_text()
    await page.get_by_role("link", name="Later").click()
    assert await rows.count() == 5
    assert all("de-location-trading" in text for text in await rows.all_inner_texts())
    assert await rows.first.inner_text() != first_page
    assert await page.get_by_role("link", name="Later").count() == 0
    await page.get_by_role("link", name="Back to the first").click()
    assert await rows.first.inner_text() == first_page
