"""Consent receipts (Kantara CR 1.1 / ISO/IEC TS 27560): what they say about both controllers,
the legal basis, withdrawal and retention; and the signed chain of one receipt per state
change, each verifiable with the JWKS and linked to the one before by its hash."""

from __future__ import annotations

import hashlib

import jwt
import pytest

from marketplace.config import SettingInvalid, Settings
from tests.conftest import backdate_grant, partner_body


async def _jwks(client) -> dict:
    return (await client.get("/.well-known/jwks.json")).json()


def _verify(receipt: str, jwks: dict) -> dict:
    header = jwt.get_unverified_header(receipt)
    assert header["typ"] == "consent-receipt+jwt"
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    return jwt.decode(receipt, key.key, algorithms=["EdDSA"])


def _sha256(receipt: str) -> str:
    return "sha256:" + hashlib.sha256(receipt.encode()).hexdigest()


async def test_the_receipt_names_both_controllers_the_basis_withdrawal_and_retention(
    client, actors, settings
):
    partner = await actors.partner(name="Receipt Partner")
    offer = await actors.offer(partner, categories=["location", "health"])
    customer = await actors.customer("FR")
    grant = await actors.accept(customer, offer)
    claims = _verify(grant["receipt"], await _jwks(client))
    profile = partner_body()

    assert claims["policyUrl"] == profile["policy_url"]
    ours, operator = claims["piiControllers"]
    assert ours["piiController"] == "Receipt Partner" and ours["controllerId"] == partner["id"]
    for field in ("contact", "address", "email", "phone"):
        assert ours[field] == profile[field]
    assert ours["piiControllerUrl"] == profile["policy_url"]
    expected = settings.operator
    assert operator["controllerId"] == expected.id and operator["piiController"] == expected.name
    assert operator["email"] == expected.profile.email
    assert operator["phone"] == expected.profile.phone
    assert operator["address"] == expected.profile.address
    basis = [b["id"] for b in claims["legalBasis"]]
    # Consent under the GDPR (a French customer), explicit for a special category (health).
    assert {"dpv:Consent", "eu-gdpr:A6-1-a", "eu-gdpr:A9-2-a"} <= set(basis)
    assert claims["withdrawalMethod"]["url"].endswith(f"/v1/me/grants/{grant['id']}/revoke")
    assert claims["withdrawalMethod"]["right"]["id"] == "eu-gdpr:A7-3"
    retention = {r["controllerId"]: r["duration"] for r in claims["retention"]}
    assert retention == {
        partner["id"]: f"P{profile['retention_days']}D",
        expected.id: f"P{expected.profile.retention_days}D",
    }
    assert (claims["event_type"], claims["event_state"], claims["receiptIndex"]) == (
        "given",
        "active",
        0,
    )
    assert claims["consentStatus"]["iri"] == "https://w3id.org/dpv#ConsentGiven"
    # The onboarding answer shows the profile back.
    assert partner["profile"]["email"] == profile["email"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("phone", "030 123456"),
        ("phone", "+0123"),
        ("policy_url", "ftp://partner.example/privacy"),
        ("retention_days", -1),
        ("retention_days", 100_000),
        ("address", "line one\nline two"),
        ("contact", ""),
    ],
)
async def test_onboarding_refuses_a_bad_controller_detail_naming_it(client, actors, field, value):
    r = await client.post(
        "/v1/admin/partners", json=partner_body(**{field: value}), headers=actors.operator
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


async def test_onboarding_requires_every_controller_detail(client, actors):
    body = partner_body()
    del body["policy_url"]
    r = await client.post("/v1/admin/partners", json=body, headers=actors.operator)
    assert r.status_code == 400 and "policy_url" in r.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPERATOR_EMAIL", "privacy-at-example"),
        ("OPERATOR_PHONE", "12345"),
        ("OPERATOR_POLICY_URL", "javascript:alert(1)"),
        ("OPERATOR_JURISDICTION", "XX"),
        ("OPERATOR_RETENTION_DAYS", "-5"),
    ],
)
def test_operator_settings_are_validated(name, value):
    with pytest.raises(SettingInvalid, match=name):
        Settings.from_env({name: value})


def test_operator_settings_fill_the_operator_controller():
    s = Settings.from_env(
        {
            "PUBLIC_URL": "https://api.market.example",
            "OPERATOR_NAME": "Market GmbH",
            "OPERATOR_EMAIL": "dpo@market.example",
            "OPERATOR_PHONE": "+4930999888",
            "OPERATOR_ADDRESS": "Hauptstrasse 2, 10117 Berlin",
            "OPERATOR_POLICY_URL": "https://market.example/privacy",
            "OPERATOR_RETENTION_DAYS": "365",
        }
    )
    op = s.operator
    assert (op.id, op.name, op.profile.email, op.profile.retention_days) == (
        "https://api.market.example",
        "Market GmbH",
        "dpo@market.example",
        365,
    )


async def test_each_state_change_signs_a_receipt_linked_to_the_one_before(client, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    base = f"/v1/me/grants/{grant['id']}"
    for action in ("pause", "resume", "revoke"):
        r = await client.post(f"{base}/{action}", headers=customer["auth"])
        assert r.status_code == 200, r.text
        # The receipt endpoint answers the newest receipt: the one of this change.
        r = await client.get(f"{base}/receipt", headers=customer["auth"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/jose")
        assert r.text != grant["receipt"]

    r = await client.get(f"{base}/receipts", headers=customer["auth"])
    assert r.status_code == 200, r.text
    chain = r.json()
    assert chain["grant_id"] == grant["id"]
    receipts = chain["data"]
    assert [x["index"] for x in receipts] == [0, 1, 2, 3]
    assert [x["event_type"] for x in receipts] == ["given", "paused", "resumed", "withdrawn"]
    assert [x["event_state"] for x in receipts] == ["active", "paused", "active", "revoked"]
    assert receipts[0]["receipt"] == grant["receipt"] and receipts[0]["previous_hash"] is None
    jwks = await _jwks(client)
    previous = None
    for x in receipts:
        claims = _verify(x["receipt"], jwks)
        assert claims["consentReceiptID"] == grant["id"] and claims["sub"] == customer["id"]
        assert claims["receiptIndex"] == x["index"]
        assert (claims["event_type"], claims["event_state"]) == (x["event_type"], x["event_state"])
        if previous is not None:
            assert claims["previousReceiptHash"] == x["previous_hash"] == _sha256(previous)
            # Each stands on its own: who, under which policy, about what.
            assert claims["piiControllers"][0]["controllerId"] == partner["id"]
            assert claims["policyUrl"] == partner_body()["policy_url"]
        previous = x["receipt"]
    last = _verify(receipts[-1]["receipt"], jwks)
    assert last["consentStatus"]["id"] == "dpv:ConsentWithdrawn"
    assert last["grant"]["status"] == "revoked"
    r = await client.get(f"{base}/receipt", headers=customer["auth"])
    assert r.text == receipts[-1]["receipt"]

    # The partner sees the same chain; nobody else sees it.
    r = await client.get(f"/v1/partner/grants/{grant['id']}/receipts", headers=partner["auth"])
    assert r.status_code == 200 and r.json() == chain
    stranger, other = await actors.customer(), await actors.partner()
    r = await client.get(f"{base}/receipts", headers=stranger["auth"])
    assert r.status_code == 404 and r.json()["code"] == "grant_not_found"
    r = await client.get(f"/v1/partner/grants/{grant['id']}/receipts", headers=other["auth"])
    assert r.status_code == 404


async def test_a_refused_change_signs_nothing(client, actors):
    partner = await actors.partner()
    customer = await actors.customer()
    grant = await actors.accept(customer, await actors.offer(partner))
    r = await client.post(f"/v1/me/grants/{grant['id']}/resume", headers=customer["auth"])
    assert r.status_code == 409
    r = await client.get(f"/v1/me/grants/{grant['id']}/receipts", headers=customer["auth"])
    assert [x["event_type"] for x in r.json()["data"]] == ["given"]


async def test_expiry_and_erasure_sign_their_receipts(client, actors, pool, settings):
    from marketplace.bootstrap import bootstrap

    partner = await actors.partner()
    customer = await actors.customer()
    expiring = await actors.accept(customer, await actors.offer(partner, duration_days=1))
    erased = await actors.accept(customer, await actors.offer(partner, categories=["location"]))
    await backdate_grant(pool, expiring["id"], days=2)
    assert await bootstrap(settings, pool).consent.expire_due_grants() >= 1
    r = await client.delete("/v1/me/data/location", headers=customer["auth"])
    assert r.status_code == 200, r.text

    jwks = await _jwks(client)
    for grant, event, state in ((expiring, "expired", "expired"), (erased, "withdrawn", "revoked")):
        r = await client.get(f"/v1/me/grants/{grant['id']}/receipts", headers=customer["auth"])
        first, change = r.json()["data"]
        assert (change["event_type"], change["event_state"]) == (event, state)
        claims = _verify(change["receipt"], jwks)
        assert claims["previousReceiptHash"] == _sha256(first["receipt"])


async def test_the_export_carries_each_grants_whole_chain(client, actors):
    import json

    partner = await actors.partner()
    customer = await actors.customer()
    grant = await actors.accept(customer, await actors.offer(partner))
    for action in ("pause", "revoke"):
        r = await client.post(f"/v1/me/grants/{grant['id']}/{action}", headers=customer["auth"])
        assert r.status_code == 200, r.text
    r = await client.get(f"/v1/me/grants/{grant['id']}/receipts", headers=customer["auth"])
    chain = [x["receipt"] for x in r.json()["data"]]
    r = await client.post("/v1/me/exports", headers=customer["auth"])
    assert r.status_code == 201, r.text
    body = (await client.get(r.json()["download_url"], headers=customer["auth"])).content
    [consent] = [
        line for line in map(json.loads, body.splitlines()[1:]) if line["part"] == "consent"
    ]
    assert consent["receipt"] == chain[0] and consent["receipts"] == chain and len(chain) == 3
