"""Fixtures of the money tests: the fake Stripe, and a pool large enough for concurrency."""

from __future__ import annotations

import asyncpg
import pytest

from marketplace.bootstrap import bootstrap
from marketplace.db import _init_connection
from tests.fakes.stripe_server import FakeStripe


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
async def big_pool(database_url: str):
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=24, init=_init_connection)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def consent_service(app, settings, big_pool):
    """The consent service on the tests' own pool (the app's pool lives on another loop)."""
    return bootstrap(settings, big_pool).consent


@pytest.fixture
async def fresh_db(server_url: str):
    """A database of this test's own (payouts and reconciliation look at every payout)."""
    from tests.conftest import scratch_database

    async with scratch_database(server_url, "mkt_money") as url:
        yield url


class MoneyWorld:
    """Partners, offers, customers and acceptances on one database, through the services."""

    def __init__(self, settings, pool):
        self.settings = settings
        self.pool = pool
        services = bootstrap(settings, pool)
        self.consent = services.consent
        self.money = services.ledger
        self.payouts = services.payouts

    async def offer(self, kind: str, amount: int, escrow: int, max_grants: int = 1000):
        import uuid

        from offers import Compensation, OfferTerms

        partner = await self.consent.create_partner("P", "DE")
        await self.money.adjust_escrow(partner.id, escrow, "EUR", idempotency_key=uuid.uuid4().hex)
        t = OfferTerms(
            title="t",
            description="d",
            categories=("device",),
            purposes=("research",),
            duration_days=30,
            lookback_days=7,
            compensation=Compensation(kind=kind, amount=amount, currency="EUR"),
            jurisdictions=("FR",),
        )
        offer = await self.consent.create_offer(partner.id, t, max_grants)
        await self.consent.change_offer_status(partner.id, offer.id, "publish")
        return offer

    async def earning_customer(self, *offers):
        import uuid

        c, _ = await self.consent.create_customer(f"ref-{uuid.uuid4().hex}", "FR", None)
        for o in offers:
            await self.consent.accept_offer(c.id, o.id)
        return c


@pytest.fixture
async def world(fresh_db, app, settings):
    pool = await asyncpg.create_pool(fresh_db, min_size=1, max_size=10, init=_init_connection)
    yield MoneyWorld(settings, pool)
    await pool.close()
