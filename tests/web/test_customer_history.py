"""What happened to a customer's data and consents, in a real Chromium on data made through
the API: the notification feed (paged, in the page's language), a consent's chain of signed
receipts, the partner's signed deletion confirmation downloaded as the API serves it, the
access log paged and filtered beyond its first page, the statistics the customer was counted
in, and the consents brought from a former operator. axe-core checks every screen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import httpx
import jwt
import pytest

from tests.web.pages import customer_with_data, screen, sign_in

PARIS = (48.8566, 2.3522)


@pytest.fixture
async def closing(client):
    """`closing(partner, offer)`: the offer is closed when the test ends, so the other page
    tests' offers screen (and its screenshot) shows only their own offers."""
    opened: list[tuple[dict, dict]] = []
    yield lambda partner, offer: opened.append((partner, offer))
    for partner, offer in opened:
        r = await client.post(f"/v1/partner/offers/{offer['id']}/close", headers=partner["auth"])
        assert r.status_code == 200, r.text


async def _read(client, partner, customer, category="data_usage", purpose="research"):
    r = await client.get(
        f"/v1/partner/customers/{customer['id']}/records",
        params={"category": category, "purpose": purpose},
        headers=partner["auth"],
    )
    return r.status_code


def _verified(web: str, token: str) -> dict:
    """The JWS's claims, its signature checked against the service's published keys."""
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in httpx.get(f"{web}/.well-known/jwks.json").json()["keys"] if k["kid"] == kid]
    return jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["EdDSA"], options={"verify_aud": False}
    )


async def test_what_the_customer_is_told_and_the_signed_proof_of_deletion(
    web, page, browser, actors, client, closing
):
    partner = await actors.partner("Acme Ads")
    offer = await actors.offer(partner, title="Feed research", purposes=["research"])
    closing(partner, offer)
    customer = await customer_with_data(actors, client)
    grant = await actors.accept(customer, offer)
    # Each change of the offer tells the customer (20 of them: one page), then the grant's
    # end and the partner's confirmation make two more.
    for edition in range(2, 22):
        r = await client.patch(
            f"/v1/partner/offers/{offer['id']}",
            json={"title": f"Feed research, edition {edition}"},
            headers=partner["auth"],
        )
        assert r.status_code == 200, r.text
    assert await _read(client, partner, customer) == 200
    for action in ("pause", "resume", "revoke"):
        r = await client.post(f"/v1/me/grants/{grant['id']}/{action}", headers=customer["auth"])
        assert r.status_code == 200, r.text
    owed = await client.get(
        "/v1/partner/deletion-obligations", params={"state": "open"}, headers=partner["auth"]
    )
    [obligation] = [o for o in owed.json()["data"] if o["grant_id"] == grant["id"]]
    r = await client.post(
        f"/v1/partner/deletion-obligations/{obligation['id']}/confirm",
        json={
            "method": "deleted",
            "statement": "Deleted from every system, derived data included.",
            "completed_at": datetime.now(UTC).isoformat(),
        },
        headers=partner["auth"],
    )
    assert r.status_code == 200, r.text

    # The feed: two clicks from home at most (here one, its card), newest first, paged.
    await sign_in(page, web, customer["id"])
    await page.locator(".cards").get_by_role("link", name="Notifications").click()
    await page.wait_for_url(f"{web}/app/notifications")
    titles = page.locator("main article h2")
    assert await titles.all_inner_texts() == [
        "Your data was deleted",
        "Your consent has ended",
        *["An offer you accepted changed"] * 18,
    ]
    newest = page.locator("main article").first
    assert "Acme Ads confirmed that it deleted the data usage data" in await newest.inner_text()
    await screen(page, "notifications")
    await page.get_by_role("link", name="Older").click()
    assert await titles.all_inner_texts() == ["An offer you accepted changed"] * 2
    assert "(now version 2)" in await page.locator("main article").last.inner_text()
    await screen(page)
    await page.get_by_role("link", name="Back to the newest").click()
    assert await titles.count() == 20
    # In the page's language, as the switch sets it.
    await page.goto(f"{web}/app/notifications?lang=de")
    assert await titles.first.inner_text() == "Ihre Daten wurden gelöscht"
    await page.goto(f"{web}/app/notifications?lang=en")
    # All new until marked; "Mark all as read" marks everything up to what the page showed.
    assert await page.locator("main .when .new").count() == 20
    assert "New since you last looked: 22" in await page.locator("main").inner_text()
    await page.get_by_role("button", name="Mark all as read").click()
    await page.wait_for_url(f"{web}/app/notifications")
    assert await page.locator("main .new").count() == 0
    assert await page.get_by_role("button", name="Mark all as read").count() == 0
    feed = await page.request.get(
        f"{web}/v1/me/notifications?state=unread", headers=customer["auth"]
    )
    assert feed.ok and (await feed.json())["data"] == []

    # The signed confirmation, downloaded from the notification: the API's bytes and type.
    api = httpx.get(
        f"{web}/v1/me/deletion-confirmations/{obligation['id']}", headers=customer["auth"]
    )
    assert api.status_code == 200, api.text
    async with page.expect_download() as started:
        await newest.get_by_role("link", name="Download the signed confirmation").click()
    download = await started.value
    assert download.suggested_filename == f"{obligation['id']}.jws"
    assert Path(await download.path()).read_bytes() == api.content
    served = await page.request.get(f"{web}/app/deletion-confirmations/{obligation['id']}")
    assert served.headers["content-type"] == api.headers["content-type"]
    claims = _verified(web, api.text)
    assert claims["receipt_type"] == "deletion-confirmation" and claims["sub"] == customer["id"]
    assert claims["obligation"]["id"] == obligation["id"]
    assert claims["confirmation"]["method"] == "deleted"

    # The consent's page: every signed receipt, each verified, and the confirmation again.
    await newest.get_by_role("link", name="See this consent").click()
    await page.wait_for_url(f"{web}/app/consents/{grant['id']}")
    chain = page.locator("#receipts tbody tr")
    assert await chain.locator("th").all_inner_texts() == [
        "Consent given",
        "Paused",
        "Resumed",
        "Withdrawn",
    ]
    assert await chain.locator("td:last-child").all_inner_texts() == ["verified"] * 4
    deletion = page.locator("section", has=page.get_by_role("heading", name="What the company"))
    assert "the company confirmed on" in await deletion.inner_text()
    assert "that it deleted what it received" in await deletion.inner_text()
    async with page.expect_download() as started:
        await deletion.get_by_role("link", name="Download the signed confirmation").click()
    assert Path(await (await started.value).path()).read_bytes() == api.content
    await screen(page, "consent-history")

    # Another customer gets no such confirmation.
    stranger = await actors.customer("DE")
    context = await browser.new_context()
    other = await context.new_page()
    try:
        await sign_in(other, web, stranger["id"])
        r = await other.goto(f"{web}/app/deletion-confirmations/{obligation['id']}")
        assert r is not None and r.status == 404
        assert api.text not in await other.content()
    finally:
        await context.close()


async def test_who_read_what_pages_and_filters_over_the_whole_log(
    web, page, actors, client, closing
):
    partner = await actors.partner("Acme Ads")
    stranger = await actors.partner("Beta Research")
    offer = await actors.offer(partner, title="Log research", purposes=["research"])
    closing(partner, offer)
    customer = await customer_with_data(actors, client)
    await actors.accept(customer, offer)
    # The oldest reads are refused (no consent; German law on location), then 25 are allowed:
    # more than a page, so the refusals are not on the first one.
    assert await _read(client, stranger, customer) == 403
    assert await _read(client, partner, customer, category="location") == 403
    for _ in range(25):
        assert await _read(client, partner, customer) == 200

    await sign_in(page, web, customer["id"])
    await page.get_by_role("link", name="Who read what").first.click()
    log = page.locator(".log li")
    assert await log.count() == 20
    assert "denied" not in await page.locator(".log").inner_text()
    await page.get_by_role("link", name="Older").click()
    older = await page.locator(".log").inner_text()
    assert await log.count() == 8  # 5 reads allowed, 2 refused, the consent given
    assert "In Germany, your location data cannot be shared" in older
    assert f"{stranger['id']} asked for your data_usage" in older
    assert await page.get_by_role("link", name="Older").count() == 0
    await screen(page)

    # Filters ask the service: from the first page, the refusals older than it.
    await page.get_by_role("link", name="Back to the newest").click()
    await page.get_by_label("Outcome").select_option("denied")
    await page.get_by_role("button", name="Filter").click()
    assert await log.count() == 2
    assert "allowed" not in await page.locator(".log").inner_text()
    # One partner's allowed reads, paged with the filters kept.
    await page.get_by_label("Company").select_option(label="Acme Ads")
    await page.get_by_label("Outcome").select_option("allowed")
    await page.get_by_role("button", name="Filter").click()
    assert await log.count() == 20
    await page.get_by_role("link", name="Older").click()
    assert await log.count() == 5
    assert await page.get_by_label("Company").input_value() == partner["id"]
    assert await page.get_by_label("Outcome").input_value() == "allowed"
    assert (await page.locator(".log").inner_text()).count("allowed by your consent") == 5
    await screen(page)
    # A cursor that is no entry id shows the first page.
    await page.goto(f"{web}/app/access-log?after=%C2%B2%C2%B3")
    assert await log.count() == 20


async def test_the_statistics_a_customer_was_counted_in(web, page, actors, client, closing):
    partner = await actors.partner("Footfall Analytics", jurisdiction="FR")
    offer = await actors.offer(
        partner, title="Area statistics", categories=["location"], purposes=["aggregated_analytics"]
    )
    closing(partner, offer)
    customer = await actors.customer("FR")
    await actors.accept(customer, offer)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records",
        json={
            "records": [
                {
                    "category": "location",
                    "recorded_at": (start + timedelta(minutes=m)).isoformat(),
                    "source": "network-cells",
                    "payload": {"lat": PARIS[0], "lon": PARIS[1]},
                }
                for m in (5, 20)
            ]
        },
        headers=actors.operator,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/partner/insights",
        json={
            "metric": "footfall",
            "area": {"cells": [h3.latlng_to_cell(*PARIS, 8)]},
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "bucket": "hour",
            "epsilon": 1.0,
        },
        headers=partner["auth"],
    )
    assert r.status_code == 201, r.text
    view = (await client.get("/v1/me/insights", headers=customer["auth"])).json()
    assert view["releases"] == 1 and view["epsilon_spent"] == 1.0

    await sign_in(page, web, customer["id"])
    await page.locator(".cards").get_by_role("link", name="Aggregated insights").click()
    await page.wait_for_url(f"{web}/app/insights")
    assert await page.locator("#releases").inner_text() == (
        "Releases of statistics that counted you: 1."
    )
    row = page.get_by_role("row", name="Footfall Analytics")
    assert await row.locator("td").all_inner_texts() == ["1", "1"]
    used = await page.locator("#budget-used").inner_text()
    assert f"have used 1 of your privacy budget of {view['epsilon_limit']:g}" in used
    await screen(page, "insights")


async def test_consents_brought_from_a_former_operator(web, page, actors, client, closing):
    partner = await actors.partner("Roaming Ads", jurisdiction="FR")
    offer = await actors.offer(partner, title="Roaming research", purposes=["research"])
    closing(partner, offer)
    customer = await customer_with_data(actors, client, "FR")
    await actors.accept(customer, offer, categories=["data_usage"])
    # The customer's package, made by this server and imported into a new account as another
    # operator would (it trusts this server's published keys).
    async with httpx.AsyncClient(base_url=web, timeout=30) as http:
        r = await http.post("/v1/me/exports", headers=customer["auth"])
        assert r.status_code == 201, r.text
        package = await http.get(r.json()["download_url"], headers=customer["auth"])
        assert package.status_code == 200
        r = await http.post(
            "/v1/admin/imports",
            params={"external_ref": f"moved-{uuid.uuid4().hex}", "jurisdiction": "FR"},
            content=package.content,
            headers=actors.operator,
        )
        assert r.status_code == 201, r.text
    moved = r.json()["customer_id"]

    await sign_in(page, web, moved)
    await page.get_by_role("link", name="My consents").first.click()
    section = page.locator("section", has=page.get_by_role("heading", name="From your former"))
    assert "They do not apply here" in await section.inner_text()
    cells = await section.get_by_role("row", name="Roaming Ads").locator("td").all_inner_texts()
    data, purposes, _given, status, former_operator = cells
    assert (data, purposes, status, former_operator) == ("data_usage", "research", "active", web)
    # Nothing is live here: no grant of the new account.
    for group in ("Active", "Paused", "Ended"):
        listed = page.locator("section", has=page.get_by_role("heading", name=group, exact=True))
        assert await listed.get_by_role("listitem").all_inner_texts() == ["None."]
    await screen(page, "imported-consents")
    # What to do: accept the company's offer here.
    await section.get_by_role("link", name="See the offers here").click()
    assert await page.locator("article", has_text="Roaming research").count() == 1
    # The whole list, a page at a time, has its own screen.
    await page.goto(f"{web}/app/imported-consents")
    assert await page.get_by_role("row", name="Roaming Ads").count() == 1
    await screen(page)


async def test_every_open_offer_is_listed_page_by_page_and_opens(
    web, page, actors, client, closing
):
    """Past the first page of offers, and past the first hundred: each is reachable."""
    partner = await actors.partner("Many Offers")
    oldest = await actors.offer(partner, title="The first of many", purposes=["research"])
    closing(partner, oldest)
    for i in range(100):
        newer = await actors.offer(partner, title=f"Many {i}", purposes=["research"])
        closing(partner, newer)
    customer = await customer_with_data(actors, client)
    await sign_in(page, web, customer["id"])

    await page.goto(f"{web}/app/offers")
    assert await page.locator("article.offer").count() == 20
    assert await page.get_by_role("heading", name="Many 99").count() == 1  # newest first
    await page.get_by_role("link", name="Older").click()
    assert await page.get_by_role("heading", name="Many 79").count() == 1
    await screen(page)
    # The 101st of this partner's offers opens by its address, ready to review.
    await page.goto(f"{web}/app/offers/{oldest['id']}")
    assert await page.get_by_role("heading", name="The first of many").count() == 1
    missing = await page.goto(f"{web}/app/offers/ofr_{'0' * 28}")
    assert missing is not None and missing.status == 404


async def test_every_consent_is_listed_a_page_at_a_time(web, page, actors, client, closing):
    """My consents and the earnings per consent page through all of a customer's grants
    (they used to show the newest 100 and stop)."""
    partner = await actors.partner("Many Offers")
    customer = await actors.customer("FR")
    for i in range(21):
        offer = await actors.offer(partner, title=f"Offer {i}", purposes=["research"])
        closing(partner, offer)
        await actors.accept(customer, offer)

    await sign_in(page, web, customer["id"])
    consents = page.locator("main a[href^='/app/consents/gnt_']")
    for screen_name in ("My consents", "Earnings"):
        await page.get_by_role("link", name=screen_name).first.click()
        first = set(await consents.evaluate_all("links => links.map(a => a.href)"))
        await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Older").click()
        rest = set(await consents.evaluate_all("links => links.map(a => a.href)"))
        assert (len(first), len(rest), first & rest) == (20, 1, set()), screen_name
        await screen(page)
        await page.get_by_role("link", name="Back to the newest").click()
        assert await consents.count() == 20
