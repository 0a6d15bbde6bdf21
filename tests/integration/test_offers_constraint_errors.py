"""The constraint names offers and the data space translate into domain errors exist in the
migrated schema (a renamed constraint would otherwise surface as a raw database error), and
a violated one reaches the caller as its problem, naming the field."""

from __future__ import annotations

import pytest

import offers
import offers.dataspace

NAMES = sorted({**offers.CONSTRAINT_ERRORS, **offers.dataspace.CONSTRAINT_ERRORS})


@pytest.mark.parametrize("name", NAMES)
async def test_every_mapped_constraint_exists(pool, name):
    found = await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1)"
        " OR EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relkind = 'i')",
        name,
    )
    assert found, f"no constraint or unique index named {name}"


async def test_a_webhook_endpoint_of_an_unknown_partner_is_partner_not_found(client, token):
    r = await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": "https://example.com/hook", "events": ["grant.revoked"]},
        headers={"Authorization": f"Bearer {token('partner', 'ptn_ghost')}"},
    )
    assert r.status_code == 404 and r.json()["code"] == "partner_not_found", r.text
