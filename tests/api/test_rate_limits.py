"""Per-caller rate limits: reads and writes have budgets of their own, per token subject; a
caller over budget gets a 429 problem with Retry-After and the IETF RateLimit fields."""

from __future__ import annotations

from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.http.ratelimit import RateLimits
from tests.conftest import bearer, partner_body

READS, WRITES = 5, 3


@pytest.fixture(scope="module")
async def limited(settings):
    app = create_app(
        replace(settings, rate_limit_reads_per_second=READS, rate_limit_writes_per_second=WRITES)
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_a_partner_over_its_read_budget_gets_429_with_retry_after(limited, token):
    headers = bearer(token("partner", "ptn_ratelimit_reads"))
    answers = [await limited.get("/v1/partner/offers", headers=headers) for _ in range(4 * READS)]
    statuses = [r.status_code for r in answers]
    assert statuses[:READS] == [200] * READS
    refused = [r for r in answers if r.status_code == 429]
    assert refused, statuses
    r = refused[0]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-policy"] == f'"reads";q={READS};w=1'
    assert r.headers["ratelimit"].startswith('"reads";r=0;')
    # Admitted responses say how much is left.
    assert answers[0].headers["ratelimit"].startswith(f'"reads";r={READS - 1};')


async def test_writes_and_other_callers_have_budgets_of_their_own(limited, token):
    reader = bearer(token("partner", "ptn_ratelimit_mixed"))
    for _ in range(3 * READS):
        await limited.get("/v1/partner/offers", headers=reader)
    assert (await limited.get("/v1/partner/offers", headers=reader)).status_code == 429
    # The same caller's writes are counted apart.
    body = partner_body(name="Rate AG")
    operator = bearer(token("operator", "op_ratelimit"))
    r = await limited.post("/v1/admin/partners", json=body, headers=operator)
    assert r.status_code == 201 and r.headers["ratelimit-policy"] == f'"writes";q={WRITES};w=1'
    # Another partner is not slowed by the first one.
    other = bearer(token("partner", "ptn_ratelimit_other"))
    assert (await limited.get("/v1/partner/offers", headers=other)).status_code == 200


async def test_unauthenticated_public_routes_are_not_counted(limited):
    for _ in range(3 * READS):
        assert (await limited.get("/health")).status_code == 200


def test_several_processes_share_one_budget():
    """N API processes each enforce 1/N of the budget: together never more than the budget."""
    limits = RateLimits(100, 10, processes=4)
    assert limits.items["reads"].amount == 25 and limits.items["writes"].amount == 3
    assert RateLimits(100, 0).items.keys() == {"reads"}  # 0 turns a budget off
