"""`make run` loads demo data once: a second start finds it and duplicates nothing."""

from __future__ import annotations

from marketplace.bootstrap import bootstrap
from marketplace.demo import DEMO_CUSTOMERS, load_demo
from tests.decisions import recorded_decisions


async def test_loading_the_demo_twice_changes_nothing(pool, app, settings):
    services = bootstrap(settings, pool)
    consent, access, money = services.consent, services.access, services.ledger
    first = await load_demo(consent, access, money)

    async def counts():
        return [
            await pool.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("partners", "customers", "offers", "grants", "records", "ledger_transactions")
        ]

    before = await counts()
    again = await load_demo(consent, access, money)
    assert again == first
    assert await counts() == before
    assert set(first["customers"]) == {ref for ref, _, _ in DEMO_CUSTOMERS}
    offers = await consent.list_offers(
        first["partner"], status="active", starting_after=None, limit=10
    )
    assert len(offers.data) >= 2


async def test_the_demo_shows_a_barred_location_request(pool, app, settings):
    services = bootstrap(settings, pool)
    ids = await load_demo(services.consent, services.access, services.ledger)
    entries = await recorded_decisions(pool, ids["customers"]["demo-anna-de"])
    by_category = {e["category"]: e for e in entries}
    assert by_category["data_usage"]["outcome"] == "allowed"
    assert by_category["location"]["outcome"] == "denied"
    assert "rule:de-location-trading" in by_category["location"]["reasons"]


async def test_the_printed_ids_name_customers_who_can_accept_each_offer(
    pool, app, settings, client, token
):
    """What `make run` prints: each offer with the demo customers its `GET /v1/me/offers`
    calls eligible, so the README walkthrough's accept succeeds as pasted."""
    from marketplace.cli import _walkthrough
    from tests.conftest import bearer

    services = bootstrap(settings, pool)
    ids = await load_demo(services.consent, services.access, services.ledger)
    customers = ids["customers"]
    by_title = {o["title"]: o for o in ids["offers"].values()}
    # Anna took the footfall offer; Lucas and Jan the cash one; Sofia is a Spanish minor.
    assert by_title["City footfall insights"]["eligible"] == ["demo-lucas-fr", "demo-jan-nl"]
    assert by_title["Better device deals"]["eligible"] == ["demo-anna-de"]
    ref, offer_id = _walkthrough(ids)
    assert ids["offers"][offer_id]["title"] == "City footfall insights"
    r = await client.get("/v1/me/offers", headers=bearer(token("customer", customers[ref])))
    listed = {o["id"]: o["eligible"] for o in r.json()["data"]}
    assert listed[offer_id] is True
