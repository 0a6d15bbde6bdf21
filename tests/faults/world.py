"""What the load works on, made through the API as an operator and a partner would: one funded
partner with published offers (made once), and fresh customers with records for each fault,
so every (customer, offer) pair is accepted at most once, with one key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import partner_body

from .harness import Harness
from .load import CATEGORY

OFFERS = 40
CUSTOMERS = 12


async def _some_at_once(jobs, n: int = 4) -> list:
    """Setup is not the load: a few requests at a time, so it never waits on the pool."""
    gate = asyncio.Semaphore(n)

    async def one(job):
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def _ok(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.text}"
    return r.json()


async def make_partner(harness: Harness, http: httpx.AsyncClient) -> tuple[dict, list[str]]:
    operator = harness.bearer("operator", "op_faults")
    partner = await _ok(
        await http.post(
            "/v1/admin/partners",
            json=partner_body(name="Fault Partner"),
            headers=operator,
        ),
        201,
    )
    await _ok(
        await http.post(
            f"/v1/admin/partners/{partner['id']}/escrow-adjustments",
            json={"amount": 100_000_000, "currency": "EUR", "reference": "faults"},
            headers=operator,
        ),
        201,
    )
    partner["auth"] = harness.bearer("partner", partner["id"])

    async def offer(i: int) -> str:
        body = {
            "title": f"Footfall {i}",
            "description": "Aggregated footfall counts for retail planning.",
            "categories": [CATEGORY, "data_usage"],
            "purposes": ["research"],
            "duration_days": 30,
            "lookback_days": 14,
            "compensation": {"kind": "discount", "amount": 100 + i, "currency": "EUR"},
            "jurisdictions": ["FR"],
            "max_grants": 10_000,
        }
        o = await _ok(
            await http.post("/v1/partner/offers", json=body, headers=partner["auth"]), 201
        )
        await _ok(
            await http.post(f"/v1/partner/offers/{o['id']}/publish", headers=partner["auth"]), 200
        )
        return o["id"]

    offers = await _some_at_once([offer(i) for i in range(OFFERS)])
    return partner, list(offers)


async def make_customers(harness: Harness, http: httpx.AsyncClient, n: int = CUSTOMERS):
    operator = harness.bearer("operator", "op_faults")
    now = datetime.now(UTC)

    async def customer() -> dict:
        c = await _ok(
            await http.post(
                "/v1/admin/customers",
                json={
                    "external_ref": f"ref-{uuid.uuid4().hex}",
                    "jurisdiction": "FR",
                    "birth_date": "1990-01-01",
                },
                headers=operator,
            ),
            201,
        )
        records = [
            {
                "category": CATEGORY,
                "recorded_at": (now - timedelta(hours=h)).isoformat(),
                "payload": {"cell": f"c{h}"},
                "source": "network",
            }
            for h in range(3)
        ]
        await _ok(
            await http.post(
                f"/v1/admin/customers/{c['id']}/records",
                json={"records": records},
                headers=operator,
            ),
            201,
        )
        c["auth"] = harness.bearer("customer", c["id"])
        return c

    return await _some_at_once([customer() for _ in range(n)])
