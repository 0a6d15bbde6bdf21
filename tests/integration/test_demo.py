"""`make run` loads demo data once: a second start finds it and duplicates nothing."""

from __future__ import annotations

from marketplace.demo import DEMO_CUSTOMERS, load_demo
from offers import ConsentService, ReceiptSigner


async def test_loading_the_demo_twice_changes_nothing(pool, app, settings):
    keys = app.state.keyring
    consent = ConsentService(
        pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), app.state.rules
    )
    first = await load_demo(consent)

    async def counts():
        return [await pool.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("partners", "customers", "offers", "grants")]  # fmt: skip

    before = await counts()
    again = await load_demo(consent)
    assert again == first
    assert await counts() == before
    assert set(first["customers"]) == {ref for ref, _, _ in DEMO_CUSTOMERS}
    offers = await consent.list_offers(
        first["partner"], status="active", starting_after=None, limit=10
    )
    assert len(offers.data) >= 2
