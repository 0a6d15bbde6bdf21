"""Fixtures of the money tests: the fake Stripe, and a pool large enough for concurrency."""

from __future__ import annotations

import asyncpg
import pytest

from marketplace.db import _init_connection
from tests.fakes.stripe_server import FakeStripe


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
async def big_pool(database_url: str):
    pool = await asyncpg.create_pool(
        database_url, min_size=2, max_size=24, init=_init_connection
    )
    yield pool
    await pool.close()
