"""What a customer is told before accepting, and what the acceptance then holds: the money
(compensation once per customer and offer, paid from an escrow that can pay it) and the law
(pairs a rule forbids never enter the grant)."""

from __future__ import annotations

import jwt

from tests.api.test_data_access import _rec, ingest, read

LOCATION_SENTENCE = "In Germany, your location data cannot be shared with companies."


async def listed(client, customer, offer) -> dict:
    r = await client.get("/v1/me/offers?limit=100", headers=customer["auth"])
    assert r.status_code == 200, r.text
    return next(o for o in r.json()["data"] if o["id"] == offer["id"])


async def receipt_claims(client, grant) -> dict:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(grant["receipt"])["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(grant["receipt"], jwt.PyJWK(key).key, algorithms=["EdDSA"])


async def test_an_offer_its_escrow_cannot_pay_is_not_eligible_and_says_why(client, actors):
    short = await actors.partner(fund=499)  # the offer pays 500 EUR
    offer = await actors.offer(short)
    in_usd = await actors.offer(
        await actors.partner(), compensation={"kind": "cash", "amount": 1, "currency": "USD"}
    )  # funded in EUR only
    customer = await actors.customer("FR")
    for o in (offer, in_usd):
        mine = await listed(client, customer, o)
        assert mine["eligible"] is False
        assert [x["code"] for x in mine["reasons"]] == ["insufficient_escrow"]
        assert mine["reasons"][0]["message"]
    r = await client.post("/v1/me/grants", json={"offer_id": offer["id"]}, headers=customer["auth"])
    assert r.status_code == 409 and r.json()["code"] == "insufficient_escrow"


async def test_a_returning_customer_is_not_blocked_by_an_empty_escrow_and_is_not_paid_again(
    client, actors
):
    partner = await actors.partner(fund=500)  # exactly one acceptance
    offer = await actors.offer(partner)
    customer, newcomer = await actors.customer("FR"), await actors.customer("FR")
    first = await actors.accept(customer, offer)
    assert first["compensated"] is True and first["not_compensated_reason"] is None
    r = await client.post(f"/v1/me/grants/{first['id']}/revoke", headers=customer["auth"])
    assert r.status_code == 200

    assert [x["code"] for x in (await listed(client, newcomer, offer))["reasons"]] == [
        "insufficient_escrow"
    ]
    mine = await listed(client, customer, offer)
    assert mine["eligible"] is True and mine["reasons"] == []
    again = await actors.accept(customer, offer)
    assert again["compensated"] is False
    assert again["not_compensated_reason"] == "already_compensated"
    claims = await receipt_claims(client, again)
    assert claims["grant"]["compensated"] is False
    assert claims["grant"]["not_compensated_reason"] == "already_compensated"

    r = await client.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"])
    assert r.json()["grant_count"] == 1
    r = await client.get("/v1/partner/balance", headers=partner["auth"])
    assert r.status_code == 200, r.text
    assert [b["amount"] for b in r.json()["escrow"]] == [0]
    r = await client.get("/v1/me/earnings", headers=customer["auth"])
    assert [b["earned"] for b in r.json()["balances"]] == [450]


async def test_a_german_customer_is_told_and_the_grant_leaves_location_out(client, actors):
    partner = await actors.partner()
    # location + data_usage, for aggregated_analytics + research
    offer = await actors.offer(partner)
    customer = await actors.customer("DE")
    rule = {"code": "rule:de-location-trading", "message": LOCATION_SENTENCE}
    excluded = [
        {"category": "location", "purpose": "aggregated_analytics", "reasons": [rule]},
        {"category": "location", "purpose": "research", "reasons": [rule]},
    ]

    mine = await listed(client, customer, offer)
    assert mine["eligible"] is True and mine["exclusions"] == excluded

    grant = await actors.accept(customer, offer)
    assert grant["categories"] == ["data_usage"]
    assert grant["purposes"] == ["aggregated_analytics", "research"]
    assert grant["exclusions"] == excluded
    r = await client.get(f"/v1/me/grants/{grant['id']}", headers=customer["auth"])
    assert r.json()["exclusions"] == excluded and r.json()["categories"] == ["data_usage"]

    claims = await receipt_claims(client, grant)
    assert claims["grant"]["exclusions"] == excluded
    for purpose in claims["services"][0]["purposes"]:
        assert purpose["piiCategory"] == ["data_usage"]

    await ingest(client, actors, customer["id"], [_rec("data_usage", 1), _rec("location", 1)])
    r = await read(client, partner, customer["id"], "data_usage", "research")
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 1
    r = await read(client, partner, customer["id"], "location", "research")
    assert r.status_code == 403
    assert "rule:de-location-trading" in r.json()["decision"]["reasons"]


async def test_a_customer_the_law_allows_everything_gets_the_whole_offer(client, actors):
    offer = await actors.offer(await actors.partner())
    customer = await actors.customer("FR")
    assert (await listed(client, customer, offer))["exclusions"] == []
    grant = await actors.accept(customer, offer)
    assert grant["categories"] == ["location", "data_usage"] and grant["exclusions"] == []
