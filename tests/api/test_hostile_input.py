"""Hostile and malformed requests: clear 4xx problems, nothing changed, no 5xx."""

from __future__ import annotations

import pytest

from tests.conftest import offer_body, partner_body


async def _count(pool, table: str) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {table}")


async def test_another_partners_offer_and_grant_are_404(client, actors):
    owner = await actors.partner()
    intruder = await actors.partner()
    offer = await actors.offer(owner)
    grant = await actors.accept(await actors.customer(), offer)
    for method, path in [
        ("GET", f"/v1/partner/offers/{offer['id']}"),
        ("PATCH", f"/v1/partner/offers/{offer['id']}"),
        ("POST", f"/v1/partner/offers/{offer['id']}/close"),
        ("GET", f"/v1/partner/grants/{grant['id']}"),
    ]:
        kwargs = {"json": {"title": "mine now"}} if method == "PATCH" else {}
        r = await client.request(method, path, headers=intruder["auth"], **kwargs)
        assert r.status_code == 404, (method, path, r.text)
    assert (await client.get("/v1/partner/grants", headers=intruder["auth"])).json()["data"] == []
    r = await client.get(f"/v1/partner/offers/{offer['id']}", headers=owner["auth"])
    assert r.json()["status"] == "active" and r.json()["terms"]["title"] != "mine now"


async def test_a_customer_cannot_read_or_revoke_another_customers_grant(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    alice, mallory = await actors.customer(), await actors.customer()
    grant = await actors.accept(alice, offer)
    for path in [f"/v1/me/grants/{grant['id']}", f"/v1/me/grants/{grant['id']}/receipt"]:
        assert (await client.get(path, headers=mallory["auth"])).status_code == 404
    r = await client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=mallory["auth"])
    assert r.status_code == 404 and r.json()["code"] == "grant_not_found"
    r = await client.get(f"/v1/me/grants/{grant['id']}", headers=alice["auth"])
    assert r.json()["status"] == "active"


async def test_unknown_fields_and_wrong_types_are_400_naming_the_field(client, actors, pool):
    partner = await actors.partner()
    before = await _count(pool, "offers")
    cases = [
        ({**offer_body(), "is_admin": True}, "is_admin", "unknown_field"),
        (offer_body(duration_days="thirty"), "duration_days", "validation_error"),
        (
            offer_body(compensation={"kind": "cash", "amount": 1.5, "currency": "EUR"}),
            "compensation.amount",
            "validation_error",
        ),
        ({k: v for k, v in offer_body().items() if k != "title"}, "title", "validation_error"),
    ]
    for body, field, code in cases:
        r = await client.post("/v1/partner/offers", json=body, headers=partner["auth"])
        assert r.status_code == 400, r.text
        assert r.json()["code"] == code and r.json()["field"] == field, r.json()
    assert await _count(pool, "offers") == before


@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b'{"name": "x", "jurisdiction": "DE"', b"\xff\xfe", b"null", b""]
)
async def test_malformed_json_is_400(client, actors, raw):
    r = await client.post(
        "/v1/admin/partners",
        content=raw,
        headers={**actors.operator, "content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_oversized_body_is_413_and_creates_nothing(client, actors, pool, settings):
    partner = await actors.partner()
    before = await _count(pool, "offers")
    body = offer_body(description="x" * (settings.max_body_bytes + 10))
    r = await client.post("/v1/partner/offers", json=body, headers=partner["auth"])
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    assert await _count(pool, "offers") == before


async def test_bad_query_parameters_are_400(client, actors):
    partner = await actors.partner()
    for query, field in [("limit=0", "limit"), ("limit=1000", "limit"), ("status=gone", "status")]:
        r = await client.get(f"/v1/partner/offers?{query}", headers=partner["auth"])
        assert r.status_code == 400 and r.json()["field"] == field, r.text


async def test_unknown_route_and_method_are_problems(client, actors):
    r = await client.get("/v1/nothing-here", headers=actors.operator)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.delete("/v1/admin/partners", headers=actors.operator)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


async def test_token_for_a_partner_that_does_not_exist_cannot_create_offers(client, token):
    r = await client.post(
        "/v1/partner/offers",
        json=offer_body(),
        headers={"Authorization": f"Bearer {token('partner', 'ptn_ghost')}"},
    )
    assert r.status_code == 404 and r.json()["code"] == "partner_not_found"


async def test_unknown_or_repeated_query_parameters_are_400(client, actors):
    partner = await actors.partner()
    r = await client.get("/v1/partner/grants?stauts=active", headers=partner["auth"])
    assert r.status_code == 400 and r.json()["code"] == "unknown_parameter"
    assert r.json()["field"] == "stauts"
    r = await client.get("/v1/partner/grants?offer_id=a&offer_id=b", headers=partner["auth"])
    assert r.status_code == 400 and r.json()["code"] == "repeated_parameter"


async def test_options_lists_every_method_of_the_path(client, actors):
    r = await client.options("/v1/partner/offers/ofr_x", headers=actors.operator)
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "PATCH", "OPTIONS"}


async def test_benchmark_baselines_are_not_mounted_in_the_service(client, actors):
    partner = await actors.partner()
    for path in (
        "/bench/json",
        "/bench/select/cus_x?category=device",
        "/bench/read-without-audit/cus_x?category=device&purpose=research",
    ):
        r = await client.get(path, headers=partner["auth"])
        assert r.status_code == 404, path


async def test_nul_in_any_body_string_is_400_naming_the_field(client, actors):
    partner = await actors.partner()
    r = await client.post(
        f"/v1/admin/partners/{partner['id']}/escrow-adjustments",
        json={"amount": 100, "currency": "EUR", "reference": "wire\u00002026"},
        headers=actors.operator,
    )
    assert r.status_code == 400 and r.json()["field"] == "reference", r.text
    r = await client.post(
        "/v1/partner/funding",
        json={"amount": 100, "currency": "EUR", "payment_method": "pm_\u0000"},
        headers=partner["auth"],
    )
    assert r.status_code == 400 and r.json()["field"] == "payment_method", r.text


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://[::1/hook",
        "https://[fe80::1%25eth0/x",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://example.com:-1/",
    ],
)
async def test_malformed_webhook_urls_are_refused_naming_the_url(client, actors, url):
    partner = await actors.partner(fund=0)
    r = await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": url, "events": ["grant.revoked"]},
        headers=partner["auth"],
    )
    assert r.status_code in (400, 422), r.text
    assert r.json()["field"] == "url"


async def test_percent_escapes_that_are_not_utf8_are_400(client, actors):
    partner = await actors.partner(fund=0)
    for query in ("offer_id=%ED%A0%80", "offer_id=x%FF", "offer_id=%C0%80"):
        r = await client.get(f"/v1/partner/grants?{query}", headers=partner["auth"])
        assert r.status_code == 400 and r.json()["code"] == "validation_error", (query, r.text)
    for segment in ("%ED%A0%80", "grt_%FF"):
        r = await client.get(f"/v1/partner/grants/{segment}", headers=partner["auth"])
        assert r.status_code == 400 and r.json()["code"] == "invalid_path", (segment, r.text)


async def test_a_json_type_the_schema_refuses_is_400_even_where_it_would_convert(
    client, actors, pool
):
    """Bodies are decoded strictly: 0 is no time, "30" no integer, "true" no boolean."""
    partner = await actors.partner()
    customer = await actors.customer()
    before = await _count(pool, "offers")
    for body, field in [
        (offer_body(duration_days="30"), "duration_days"),
        (offer_body(max_grants="10"), "max_grants"),
        (
            offer_body(compensation={"kind": "cash", "amount": "100", "currency": "EUR"}),
            "compensation.amount",
        ),
    ]:
        r = await client.post("/v1/partner/offers", json=body, headers=partner["auth"])
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    assert await _count(pool, "offers") == before
    # As in JSON Schema, a number without a fraction is an integer.
    r = await client.post(
        "/v1/partner/offers", json=offer_body(duration_days=30.0), headers=partner["auth"]
    )
    assert r.status_code == 201 and r.json()["terms"]["duration_days"] == 30, r.text
    record = {"category": "device", "recorded_at": 0, "source": "s", "payload": {}}
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records",
        json={"records": [record]},
        headers=actors.operator,
    )
    assert r.status_code == 400 and r.json()["field"] == "records[0].recorded_at", r.text
    assert (
        await pool.fetchval("SELECT count(*) FROM records WHERE customer_id = $1", customer["id"])
        == 0
    )


@pytest.mark.parametrize(
    "headers, field",
    [
        ({"content-type": "text/plain"}, "Content-Type"),
        ({"content-type": "application/x-www-form-urlencoded"}, "Content-Type"),
        ({"content-type": "application/xml"}, "Content-Type"),
        ({"content-type": "application/json; charset=utf-16"}, "Content-Type"),
        ({}, "Content-Type"),
        ({"content-type": "application/json", "content-encoding": "gzip"}, "Content-Encoding"),
    ],
)
async def test_a_body_not_sent_as_its_published_media_type_is_415(
    client, actors, pool, headers, field
):
    """Litestar alone reads any body as JSON, whatever it is labelled (or not labelled)."""
    import json

    before = await _count(pool, "partners")
    r = await client.post(
        "/v1/admin/partners",
        content=json.dumps(partner_body(name="P")).encode(),
        headers={**actors.operator, **headers},
    )
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unsupported_media_type" and r.json()["field"] == field
    assert await _count(pool, "partners") == before
    r = await client.post(
        "/v1/admin/partners",
        content=json.dumps(partner_body(name="P")).encode(),
        headers={**actors.operator, "content-type": "Application/JSON; charset=UTF-8"},
    )
    assert r.status_code == 201, r.text
