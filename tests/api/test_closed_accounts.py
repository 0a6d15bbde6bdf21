"""A closed account reaches nothing: every customer operation refuses its token alike."""

from __future__ import annotations

import re


async def test_a_closed_accounts_token_is_refused_by_every_me_operation(client, actors, pool):
    customer = await actors.customer()
    offer = await actors.offer(await actors.partner())
    grant = await actors.accept(customer, offer)
    r = await client.delete("/v1/me", headers=customer["auth"])
    assert r.status_code == 200, r.text

    doc = (await client.get("/schema/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, item in doc["paths"].items()
        if path == "/v1/me" or path.startswith("/v1/me/")
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    ]
    paths = {p for _, p in operations}
    assert {"/v1/me/earnings", "/v1/me/access-log", "/v1/me/grants"} <= paths, paths
    for method, path in operations:
        # Real ids where the customer had them, so a refusal is not just "no such object".
        concrete = re.sub(r"\{grant_id\}", grant["id"], path)
        concrete = re.sub(r"\{category\}", "device", concrete)
        concrete = re.sub(r"\{[^}]+\}", "exp_none", concrete)
        body = {"json": {"offer_id": offer["id"]}} if method == "POST" else {}
        r = await client.request(method, concrete, headers=customer["auth"], **body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] == "customer_not_found", (method, path, r.json())
    row = await pool.fetchrow("SELECT status FROM grants WHERE id = $1", grant["id"])
    assert row["status"] == "revoked"
