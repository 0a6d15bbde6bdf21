"""The consent lifecycle over HTTP: offers, versions, grants, receipts, tenancy."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import jwt

from tests.conftest import backdate_grant, offer_body


async def test_partner_creates_publishes_and_lists_offers(client, actors):
    partner = await actors.partner()
    draft = await actors.offer(partner, publish=False)
    assert draft["status"] == "draft" and draft["version"] == 1
    assert draft["terms"]["compensation"] == {"kind": "discount", "amount": 500, "currency": "EUR"}
    assert draft["terms_hash"].startswith("sha256:")

    r = await client.post(f"/v1/partner/offers/{draft['id']}/publish", headers=partner["auth"])
    assert r.status_code == 200 and r.json()["status"] == "active"
    r = await client.post(f"/v1/partner/offers/{draft['id']}/pause", headers=partner["auth"])
    assert r.json()["status"] == "paused"
    r = await client.post(f"/v1/partner/offers/{draft['id']}/close", headers=partner["auth"])
    assert r.json()["status"] == "closed"
    r = await client.post(f"/v1/partner/offers/{draft['id']}/publish", headers=partner["auth"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"

    r = await client.get("/v1/partner/offers?status=closed", headers=partner["auth"])
    assert [o["id"] for o in r.json()["data"]] == [draft["id"]]


async def test_customer_accepts_and_gets_a_verifiable_receipt(client, actors):
    partner = await actors.partner(name="Receipts GmbH")
    offer = await actors.offer(partner)
    customer = await actors.customer("FR")

    r = await client.get("/v1/me/offers?limit=100", headers=customer["auth"])
    mine = next(o for o in r.json()["data"] if o["id"] == offer["id"])
    assert mine["eligible"] is True and mine["reasons"] == []

    grant = await actors.accept(customer, offer, purposes=["research"])
    assert grant["status"] == "active"
    assert grant["purposes"] == ["research"]
    assert grant["categories"] == ["location", "data_usage"]
    granted = datetime.fromisoformat(grant["granted_at"])
    assert datetime.fromisoformat(grant["expires_at"]) - granted == timedelta(days=30)

    jwks = (await client.get("/.well-known/jwks.json")).json()
    r = await client.get(f"/v1/me/grants/{grant['id']}/receipt", headers=customer["auth"])
    assert r.status_code == 200 and r.text == grant["receipt"]
    header = jwt.get_unverified_header(r.text)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(r.text, jwt.PyJWK(key).key, algorithms=["EdDSA"])
    assert claims["consentReceiptID"] == grant["id"]
    assert claims["piiPrincipalId"] == customer["id"]
    assert claims["jurisdiction"] == "FR"
    assert claims["piiControllers"][0]["controllerId"] == partner["id"]
    assert [p["purpose"] for p in claims["services"][0]["purposes"]] == ["research"]
    assert claims["offer"] == {"id": offer["id"], "version": 1, "terms_hash": offer["terms_hash"]}

    r = await client.get("/v1/me/offers?limit=100", headers=customer["auth"])
    mine = next(o for o in r.json()["data"] if o["id"] == offer["id"])
    assert mine["eligible"] is False
    assert [x["code"] for x in mine["reasons"]] == ["already_granted"]

    r = await client.post("/v1/me/grants", json={"offer_id": offer["id"]}, headers=customer["auth"])
    assert r.status_code == 409 and r.json()["code"] == "already_granted"


async def test_patch_makes_a_new_version_and_old_grants_keep_their_terms(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    early = await actors.customer("DE")
    first = await actors.accept(early, offer, categories=["data_usage"])

    r = await client.patch(
        f"/v1/partner/offers/{offer['id']}",
        json={"compensation": {"kind": "cash", "amount": 900, "currency": "EUR"}},
        headers=partner["auth"],
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["version"] == 2 and changed["terms_hash"] != offer["terms_hash"]

    r = await client.get(f"/v1/me/grants/{first['id']}", headers=early["auth"])
    assert r.json()["offer_version"] == 1 and r.json()["terms_hash"] == offer["terms_hash"]

    late = await actors.customer("DE")
    r = await client.post(
        "/v1/me/grants", json={"offer_id": offer["id"], "offer_version": 1}, headers=late["auth"]
    )
    assert r.status_code == 409 and r.json()["code"] == "offer_version_changed"
    second = await actors.accept(late, offer, categories=["data_usage"])
    assert second["offer_version"] == 2 and second["terms_hash"] == changed["terms_hash"]

    # Changing only max_grants is not a change of terms.
    r = await client.patch(
        f"/v1/partner/offers/{offer['id']}", json={"max_grants": 5}, headers=partner["auth"]
    )
    assert r.json()["version"] == 2 and r.json()["max_grants"] == 5


async def test_grant_lifecycle_pause_resume_revoke(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    base = f"/v1/me/grants/{grant['id']}"

    r = await client.post(f"{base}/resume", headers=customer["auth"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert (await client.post(f"{base}/pause", headers=customer["auth"])).json()["status"] == (
        "paused"
    )
    assert (await client.post(f"{base}/resume", headers=customer["auth"])).json()["status"] == (
        "active"
    )
    assert (await client.post(f"{base}/revoke", headers=customer["auth"])).json()["status"] == (
        "revoked"
    )
    r = await client.post(f"{base}/resume", headers=customer["auth"])
    assert r.status_code == 409

    r = await client.get(
        f"/v1/partner/grants?offer_id={offer['id']}&status=revoked", headers=partner["auth"]
    )
    assert [g["id"] for g in r.json()["data"]] == [grant["id"]]
    r = await client.get("/v1/partner/grants?status=active", headers=partner["auth"])
    assert r.json()["data"] == []

    # After revocation the customer may accept the offer again.
    again = await actors.accept(customer, offer)
    assert again["id"] != grant["id"]


async def test_grants_expire_at_expires_at(client, actors, pool):
    partner = await actors.partner()
    offer = await actors.offer(partner, duration_days=1)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    # Move the clock for this grant: it started two days ago.
    await backdate_grant(pool, grant["id"], days=2)
    r = await client.get(f"/v1/me/grants/{grant['id']}", headers=customer["auth"])
    assert r.json()["status"] == "expired"
    r = await client.post(f"/v1/me/grants/{grant['id']}/pause", headers=customer["auth"])
    assert r.status_code == 409
    # An expired grant does not block accepting the offer again.
    await actors.accept(customer, offer)


async def test_ineligible_offers_say_why(client, actors):
    partner = await actors.partner()
    only_nl = await actors.offer(partner, jurisdictions=["NL"])
    full = await actors.offer(partner, max_grants=1)
    await actors.accept(await actors.customer(), full)
    customer = await actors.customer("FR")

    r = await client.get("/v1/me/offers?limit=100", headers=customer["auth"])
    by_id = {o["id"]: o for o in r.json()["data"]}
    assert [x["code"] for x in by_id[only_nl["id"]]["reasons"]] == ["not_offered_in_jurisdiction"]
    assert [x["code"] for x in by_id[full["id"]]["reasons"]] == ["offer_full"]
    assert all(x["message"] for x in by_id[full["id"]]["reasons"])

    r = await client.post(
        "/v1/me/grants", json={"offer_id": only_nl["id"]}, headers=customer["auth"]
    )
    assert r.status_code == 403 and r.json()["code"] == "not_eligible"
    r = await client.post("/v1/me/grants", json={"offer_id": full["id"]}, headers=customer["auth"])
    assert r.status_code == 409 and r.json()["code"] == "offer_full"


async def test_narrowing_cannot_widen(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    r = await client.post(
        "/v1/me/grants",
        json={"offer_id": offer["id"], "categories": ["location", "billing"]},
        headers=customer["auth"],
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_terms" and body["field"] == "categories"
    assert "billing" in body["detail"]


async def test_max_grants_holds_under_200_simultaneous_accepts(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner, max_grants=50)
    customers = [await actors.customer() for _ in range(200)]

    async def accept(c):
        return await client.post("/v1/me/grants", json={"offer_id": offer["id"]}, headers=c["auth"])

    responses = await asyncio.gather(*(accept(c) for c in customers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 50
    assert statuses.count(409) == 150
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"offer_full"}
    r = await client.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"])
    assert r.json()["grant_count"] == 50


async def test_draft_paused_and_closed_offers_cannot_be_accepted(client, actors):
    partner = await actors.partner()
    draft = await actors.offer(partner, publish=False)
    customer = await actors.customer()
    r = await client.post("/v1/me/grants", json={"offer_id": draft["id"]}, headers=customer["auth"])
    assert r.status_code == 409 and r.json()["code"] == "offer_not_open"

    offer = await actors.offer(partner)
    grant = await actors.accept(customer, offer)
    await client.post(f"/v1/partner/offers/{offer['id']}/close", headers=partner["auth"])
    other = await actors.customer()
    r = await client.post("/v1/me/grants", json={"offer_id": offer["id"]}, headers=other["auth"])
    assert r.status_code == 409 and r.json()["code"] == "offer_not_open"
    # A closed offer leaves its grants running.
    r = await client.get(f"/v1/me/grants/{grant['id']}", headers=customer["auth"])
    assert r.json()["status"] == "active"


async def test_pagination_walks_every_item_once(client, actors):
    partner = await actors.partner()
    created = [(await actors.offer(partner, publish=False))["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        url = "/v1/partner/offers?limit=3" + (f"&starting_after={cursor}" if cursor else "")
        page = (await client.get(url, headers=partner["auth"])).json()
        seen += [o["id"] for o in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == sorted(created, reverse=True)


async def test_offer_body_validation_names_the_field(client, actors):
    partner = await actors.partner()
    cases = [
        ({"duration_days": 366}, "duration_days"),
        ({"categories": ["lokation"]}, "categories[0]"),
        ({"compensation": {"kind": "gift", "amount": 1, "currency": "EUR"}}, "compensation.kind"),
        ({"jurisdictions": ["Germany"]}, "jurisdictions[0]"),
        ({"max_grants": 0}, "max_grants"),
    ]
    for override, field in cases:
        r = await client.post(
            "/v1/partner/offers", json=offer_body(**override), headers=partner["auth"]
        )
        assert 400 <= r.status_code < 500, (override, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field, (override, r.json())
