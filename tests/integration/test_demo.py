"""`make run` loads demo data once: a second start finds it and duplicates nothing."""

from __future__ import annotations

from ledger import LedgerService
from marketplace.demo import DEMO_CUSTOMERS, load_demo
from offers import ConsentService, ReceiptSigner
from offers.dataspace import DataAccessService


async def test_loading_the_demo_twice_changes_nothing(pool, app, settings):
    keys = app.state.keyring
    rules = app.state.rules
    consent = ConsentService(
        pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), rules
    )
    access, money = DataAccessService(pool, rules), LedgerService(pool)
    first = await load_demo(consent, access, money)

    async def counts():
        return [await pool.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("partners", "customers", "offers", "grants", "records",
                          "ledger_transactions")]  # fmt: skip

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
    keys = app.state.keyring
    rules = app.state.rules
    consent = ConsentService(
        pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), rules
    )
    ids = await load_demo(consent, DataAccessService(pool, rules), LedgerService(pool))
    rows = await pool.fetch(
        "SELECT category, allowed, reasons FROM decisions WHERE customer_id = $1",
        ids["customers"]["demo-anna-de"],
    )
    by_category = {r["category"]: r for r in rows}
    assert by_category["data_usage"]["allowed"] is True
    assert by_category["location"]["allowed"] is False
    assert "rule:de-location-trading" in by_category["location"]["reasons"]
