"""Every query of the data space and webhooks prepares against the migrated schema."""

from __future__ import annotations

import pytest

from sql import load_queries

DATASPACE = load_queries("dataspace.sql")
WEBHOOKS = load_queries("webhooks.sql")


@pytest.mark.parametrize(
    "name,sql", [*sorted(DATASPACE.items()), *sorted(WEBHOOKS.items())], ids=lambda v: v[:40]
)
async def test_query_prepares(pool, name, sql):
    async with pool.acquire() as conn:
        await conn.prepare(sql)


async def test_openapi_publishes_the_new_endpoints(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/v1/me/data",
        "/v1/me/data/{category}",
        "/v1/me/exports",
        "/v1/me/exports/{export_id}/download",
        "/v1/me/imported-consents",
        "/v1/admin/imports",
        "/v1/partner/webhook-endpoints",
        "/v1/partner/webhook-endpoints/{endpoint_id}/deliveries",
    ):
        assert path in paths, path
