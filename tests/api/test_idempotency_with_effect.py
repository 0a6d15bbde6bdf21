"""An Idempotency-Key's answer commits in the same transaction as the request's effect, so a
replay after any crash returns the first answer: never a second grant, never a second charge."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest

from tests.conftest import offer_body, partner_body


async def key_row(pool, key: str):
    return await pool.fetchrow(
        "SELECT response_status, response_body, xmin::text::bigint AS tx"
        " FROM idempotency_keys WHERE key = $1",
        key,
    )


async def row_tx(pool, table: str, row_id: str) -> int:
    return await pool.fetchval(f"SELECT xmin::text::bigint FROM {table} WHERE id = $1", row_id)


async def test_every_creating_post_writes_its_key_in_the_transaction_of_its_effect(
    client, actors, pool
):
    """The key's row and the created row were written by one transaction (same xmin): there
    is no moment at which one exists without the other."""
    partner = await actors.partner()
    customer = await actors.customer()
    operator = actors.operator

    async def create(path: str, body: dict, auth: dict) -> tuple[dict, str]:
        key = uuid.uuid4().hex
        r = await client.post(path, json=body, headers={**auth, "Idempotency-Key": key})
        assert r.status_code == 201, r.text
        return r.json(), key

    made = [
        (
            "partners",
            *await create("/v1/admin/partners", partner_body(name="P"), operator),
        ),
        (
            "customers",
            *await create(
                "/v1/admin/customers",
                {"external_ref": f"ref-{uuid.uuid4().hex}", "jurisdiction": "FR"},
                operator,
            ),
        ),
        ("offers", *await create("/v1/partner/offers", offer_body(), partner["auth"])),
        (
            "webhook_endpoints",
            *await create(
                "/v1/partner/webhook-endpoints",
                {"url": "http://127.0.0.1:9/hook", "events": ["grant.created"]},
                partner["auth"],
            ),
        ),
    ]
    offer = await actors.offer(partner)
    made.append(
        ("grants", *await create("/v1/me/grants", {"offer_id": offer["id"]}, customer["auth"]))
    )
    made.append(("exports", *await create("/v1/me/exports", {}, customer["auth"])))
    for table, body, key in made:
        row = await key_row(pool, key)
        assert row["response_status"] == 201
        assert row["tx"] == await row_tx(pool, table, body["id"]), table
    ingest, key = await create(
        f"/v1/admin/customers/{customer['id']}/records",
        {
            "records": [
                {
                    "category": "location",
                    "recorded_at": "2026-11-30T10:00:00Z",
                    "payload": {"cell": "A1"},
                    "source": "test",
                }
            ]
        },
        operator,
    )
    assert ingest["ingested"] == 1
    txs = await pool.fetch(
        "SELECT DISTINCT xmin::text::bigint AS tx FROM records WHERE customer_id = $1",
        customer["id"],
    )
    assert [r["tx"] for r in txs] == [(await key_row(pool, key))["tx"]]


class WorkerKilled(Exception):
    """Stands for SIGKILL: the answer never leaves the process."""


@contextmanager
def dies_before_answering(app):
    """The app's process 'dies' the moment its answer would leave for the client: whatever
    committed has committed, the client hears nothing, no code of the app runs after."""
    handler = app.asgi_handler

    async def dying(scope, receive, send):
        async def dying_send(message):
            if message["type"] == "http.response.start":
                raise WorkerKilled
            await send(message)

        await handler(scope, receive, dying_send)

    app.asgi_handler = dying
    try:
        yield
    finally:
        app.asgi_handler = handler


async def escrow_charges(pool, partner_id: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id"
        " WHERE a.kind = 'partner_escrow' AND a.owner_id = $1 AND p.amount < 0",
        partner_id,
    )


async def test_an_accept_whose_worker_died_after_commit_replays_after_a_revoke(
    app, client, actors, pool
):
    """The issue's scenario: accept with a key, the worker dies before the client gets the
    answer, the customer revokes, then resends the same body with the same key: the first
    201 comes back, and there is still one grant and one charge."""
    partner = await actors.partner()
    offer = await actors.offer(
        partner, compensation={"kind": "cash", "amount": 700, "currency": "EUR"}
    )
    customer = await actors.customer()
    headers = {**customer["auth"], "Idempotency-Key": "accept-" + uuid.uuid4().hex}
    body = {"offer_id": offer["id"]}
    with dies_before_answering(app), pytest.raises(Exception, match="response started"):
        await client.post("/v1/me/grants", json=body, headers=headers)

    grant_id = await pool.fetchval("SELECT id FROM grants WHERE customer_id = $1", customer["id"])
    assert grant_id is not None  # the effect committed...
    stored = await key_row(pool, headers["Idempotency-Key"])
    assert stored["response_status"] == 201  # ...and its answer with it
    assert stored["tx"] == await row_tx(pool, "grants", grant_id)
    assert await escrow_charges(pool, partner["id"]) == 1

    r = await client.post(f"/v1/me/grants/{grant_id}/revoke", headers=customer["auth"])
    assert r.status_code == 200 and r.json()["status"] == "revoked"

    again = await client.post("/v1/me/grants", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == grant_id and again.json()["status"] == "active"  # the first
    assert (
        await pool.fetchval("SELECT count(*) FROM grants WHERE customer_id = $1", customer["id"])
        == 1
    )
    assert await escrow_charges(pool, partner["id"]) == 1

    # The same key with another body is still refused.
    other = await client.post(
        "/v1/me/grants", json={**body, "purposes": ["research"]}, headers=headers
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
