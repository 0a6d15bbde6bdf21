"""Idempotency-Key: a retried create returns the first answer and creates nothing more."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import offer_body


async def test_same_key_same_body_replays_the_first_response(client, actors, pool):
    partner = await actors.partner()
    headers = {**partner["auth"], "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post("/v1/partner/offers", json=offer_body(), headers=headers)
    again = await client.post("/v1/partner/offers", json=offer_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    count = await pool.fetchval("SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"])
    assert count == 1


async def test_same_key_different_body_is_409(client, actors):
    partner = await actors.partner()
    headers = {**partner["auth"], "Idempotency-Key": uuid.uuid4().hex}
    await client.post("/v1/partner/offers", json=offer_body(), headers=headers)
    r = await client.post("/v1/partner/offers", json=offer_body(title="Other"), headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"


async def test_keys_are_per_caller(client, actors):
    a, b = await actors.partner(), await actors.partner()
    key = uuid.uuid4().hex
    ra = await client.post(
        "/v1/partner/offers", json=offer_body(), headers={**a["auth"], "Idempotency-Key": key}
    )
    rb = await client.post(
        "/v1/partner/offers", json=offer_body(), headers={**b["auth"], "Idempotency-Key": key}
    )
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"] and rb.json()["partner_id"] == b["id"]


async def test_a_replayed_acceptance_grants_once(client, actors, pool):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    headers = {**customer["auth"], "Idempotency-Key": "accept-" + uuid.uuid4().hex}
    responses = await asyncio.gather(
        *(
            client.post("/v1/me/grants", json={"offer_id": offer["id"]}, headers=headers)
            for _ in range(5)
        )
    )
    ok = [r for r in responses if r.status_code == 201]
    assert ok and {r.json()["id"] for r in ok} == {ok[0].json()["id"]}
    # Concurrent duplicates either replay the answer or are told the first is in progress.
    assert all(
        r.status_code == 201 or r.json()["code"] == "idempotency_request_in_progress"
        for r in responses
    )
    n = await pool.fetchval("SELECT count(*) FROM grants WHERE customer_id = $1", customer["id"])
    assert n == 1


async def test_errors_are_replayed_too(client, actors):
    customer = await actors.customer()
    headers = {**customer["auth"], "Idempotency-Key": uuid.uuid4().hex}
    body = {"offer_id": "ofr_missing"}
    first = await client.post("/v1/me/grants", json=body, headers=headers)
    again = await client.post("/v1/me/grants", json=body, headers=headers)
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json()


async def test_overlong_key_is_400(client, actors):
    partner = await actors.partner()
    headers = {**partner["auth"], "Idempotency-Key": "k" * 300}
    r = await client.post("/v1/partner/offers", json=offer_body(), headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "Idempotency-Key"


async def test_same_key_with_another_query_string_is_409(client, actors):
    """The fingerprint covers the query: a retry naming another customer is not a replay."""
    key = uuid.uuid4().hex
    headers = {**actors.operator, "Idempotency-Key": key}
    body = b'{"not": "a package"}\n'
    first = await client.post(
        "/v1/admin/imports?external_ref=idem-a", content=body, headers=headers
    )
    assert 400 <= first.status_code < 500, first.text
    same = await client.post("/v1/admin/imports?external_ref=idem-a", content=body, headers=headers)
    assert same.headers.get("idempotent-replayed") == "true" and same.json() == first.json()
    other = await client.post(
        "/v1/admin/imports?external_ref=idem-b", content=body, headers=headers
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
