"""Consent receipts: a JWS (EdDSA) over a record shaped after Kantara CR 1.1 / ISO/IEC TS 27560."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import jwt
import msgspec
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policies import CATEGORIES, PURPOSES

from .models import Customer, OfferTerms, Partner

RECEIPT_VERSION = "KI-CR-v1.1.0"
_CATEGORY = {t.code: t for t in CATEGORIES}
_PURPOSE = {t.code: t for t in PURPOSES}
RECEIPT_TYPE = "consent-receipt+jwt"


def terms_hash(partner_id: str, terms: OfferTerms) -> str:
    """SHA-256 over the RFC 8785 canonical JSON of exactly what the customer is shown."""
    doc = {"partner_id": partner_id, **msgspec.to_builtins(terms)}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


@dataclass(frozen=True)
class ReceiptSigner:
    """The service's signing key, as published in its JWKS under `kid`."""

    private_key: Ed25519PrivateKey
    kid: str
    issuer: str

    def sign(self, claims: dict) -> str:
        headers = {"kid": self.kid, "typ": RECEIPT_TYPE}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers=headers)


def receipt_claims(
    *,
    grant_id: str,
    issuer: str,
    customer: Customer,
    partner: Partner,
    offer_id: str,
    offer_version: int,
    terms: OfferTerms,
    terms_hash: str,
    categories: tuple[str, ...],
    purposes: tuple[str, ...],
    granted_at: datetime,
    expires_at: datetime,
) -> dict:
    """The receipt's claims: Kantara CR 1.1 field names, plus the offer version and terms hash."""
    return {
        "iss": issuer,
        "sub": customer.id,
        "iat": int(granted_at.timestamp()),
        "jti": grant_id,
        "version": RECEIPT_VERSION,
        "jurisdiction": customer.jurisdiction,
        "consentTimestamp": int(granted_at.timestamp()),
        "collectionMethod": "in-app acceptance of a marketplace offer",
        "consentReceiptID": grant_id,
        "language": "en",
        "piiPrincipalId": customer.id,
        "piiControllers": [
            {
                "piiController": partner.name,
                "controllerId": partner.id,
                "jurisdiction": partner.jurisdiction,
            }
        ],
        "services": [
            {
                "service": terms.title,
                "purposes": [
                    {
                        "purpose": p,
                        "purposeIRI": _PURPOSE[p].iri,
                        "consentType": "EXPLICIT",
                        "purposeCategory": [p],
                        "piiCategory": list(categories),
                        "piiCategoryIRI": [_CATEGORY[c].iri for c in categories],
                        "primaryPurpose": True,
                        "termination": expires_at.isoformat(),
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": partner.name,
                    }
                    for p in purposes
                ],
            }
        ],
        "sensitive": any(_CATEGORY[c].special for c in categories),
        "spiCat": [c for c in categories if _CATEGORY[c].special],
        "grant": {
            "id": grant_id,
            "granted_at": granted_at.isoformat(),
            "expires_at": expires_at.isoformat(),
            "duration_days": terms.duration_days,
            "lookback_days": terms.lookback_days,
            "compensation": msgspec.to_builtins(terms.compensation),
        },
        "offer": {"id": offer_id, "version": offer_version, "terms_hash": terms_hash},
    }
