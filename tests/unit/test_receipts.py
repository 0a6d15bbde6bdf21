"""Terms hashes and consent receipts, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.keys import public_jwk
from offers import Compensation, Customer, OfferTerms, Partner, ReceiptSigner, terms_hash
from offers.models import Exclusion, Reason
from offers.receipts import receipt_claims

TERMS = OfferTerms(
    title="Footfall",
    description="Counts",
    categories=("location", "health"),
    purposes=("research",),
    duration_days=30,
    lookback_days=7,
    compensation=Compensation(kind="cash", amount=250, currency="EUR"),
    jurisdictions=("FR",),
)


def test_terms_hash_is_stable_and_covers_every_term():
    assert terms_hash("ptn_1", TERMS) == terms_hash("ptn_1", msgspec.structs.replace(TERMS))
    assert terms_hash("ptn_1", TERMS) != terms_hash("ptn_2", TERMS)
    changed = [
        msgspec.structs.replace(TERMS, title="Footfall!"),
        msgspec.structs.replace(TERMS, duration_days=31),
        msgspec.structs.replace(
            TERMS, compensation=Compensation(kind="cash", amount=251, currency="EUR")
        ),
        msgspec.structs.replace(TERMS, purposes=("research", "advertising")),
    ]
    assert len({terms_hash("ptn_1", t) for t in [TERMS, *changed]}) == 5


def test_receipt_verifies_with_the_published_key_and_names_the_terms():
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key)
    signer = ReceiptSigner(key, jwk["kid"], "issuer-x")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    claims = receipt_claims(
        grant_id="gnt_1",
        issuer="issuer-x",
        customer=Customer(
            id="cus_1",
            external_ref="r",
            jurisdiction="FR",
            birth_date=date(1990, 1, 1),
            created_at=now,
        ),
        partner=Partner(id="ptn_1", name="P", jurisdiction="DE", status="active", created_at=now),
        offer_id="ofr_1",
        offer_version=3,
        terms=TERMS,
        terms_hash=terms_hash("ptn_1", TERMS),
        categories=("health",),
        purposes=("research",),
        granted_at=now,
        expires_at=now + timedelta(days=30),
    )
    token = signer.sign(claims)
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    decoded = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"])
    assert decoded["offer"] == {
        "id": "ofr_1",
        "version": 3,
        "terms_hash": terms_hash("ptn_1", TERMS),
    }
    assert decoded["sensitive"] is True and decoded["spiCat"] == ["health"]
    purpose = decoded["services"][0]["purposes"][0]
    assert purpose["piiCategory"] == ["health"]
    assert purpose["purposeIRI"].startswith("https://w3id.org/dpv")

    other = Ed25519PrivateKey.generate()
    forged = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": jwk["kid"]})
    try:
        jwt.decode(forged, jwt.PyJWK(jwk).key, algorithms=["EdDSA"])
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a receipt signed by another key verified")


def test_receipt_lists_per_purpose_what_was_consented_and_what_the_law_left_out():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rule = Reason(code="rule:gdpr-art9-advertising", message="No health data for ads.")
    claims = receipt_claims(
        grant_id="gnt_1",
        issuer="issuer-x",
        customer=Customer(id="cus_1", external_ref="r", jurisdiction="IT", created_at=now),
        partner=Partner(id="ptn_1", name="P", jurisdiction="DE", status="active", created_at=now),
        offer_id="ofr_1",
        offer_version=1,
        terms=TERMS,
        terms_hash=terms_hash("ptn_1", TERMS),
        categories=("health", "billing"),
        purposes=("advertising", "research"),
        granted_at=now,
        expires_at=now + timedelta(days=30),
        exclusions=(Exclusion(category="health", purpose="advertising", reasons=(rule,)),),
        compensated=False,
        not_compensated_reason="already_compensated",
    )
    by_purpose = {p["purpose"]: p["piiCategory"] for p in claims["services"][0]["purposes"]}
    assert by_purpose == {"advertising": ["billing"], "research": ["health", "billing"]}
    assert claims["grant"]["exclusions"] == [
        {
            "category": "health",
            "purpose": "advertising",
            "reasons": [
                {"code": "rule:gdpr-art9-advertising", "message": "No health data for ads."}
            ],
        }
    ]
    assert claims["grant"]["compensated"] is False
    assert claims["grant"]["not_compensated_reason"] == "already_compensated"
