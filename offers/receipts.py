"""Consent receipts: a JWS (EdDSA) over a record shaped after Kantara CR 1.1 / ISO/IEC TS 27560."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import msgspec
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policies import CATEGORIES, PURPOSES

from .models import Customer, Exclusion, OfferTerms, Partner

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

    @cached_property
    def _header(self) -> bytes:
        # The JOSE header as pyjwt writes it (sorted keys, compact), base64url once.
        return _b64(
            json.dumps(
                {"alg": "EdDSA", "kid": self.kid, "typ": RECEIPT_TYPE},
                separators=(",", ":"),
                sort_keys=True,
            ).encode()
        )

    def sign(self, claims: dict) -> str:
        """A compact JWS (RFC 7515, EdDSA/Ed25519 per RFC 8037) over the claims' JSON; any
        JWT library verifies it with the published JWKS. Built directly on the key: the same
        token pyjwt makes, without its per-call overhead."""
        signing_input = self._header + b"." + _b64(_encode(claims))
        return (signing_input + b"." + _b64(self.private_key.sign(signing_input))).decode()


_encode = msgspec.json.Encoder().encode


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


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
    exclusions: tuple[Exclusion, ...] = (),
    compensated: bool = True,
    not_compensated_reason: str | None = None,
) -> dict:
    """The receipt's claims: Kantara CR 1.1 field names, plus the offer version and terms hash.

    Each purpose lists the categories consented for it (less the pairs of `exclusions`, which
    the law kept out); `grant.exclusions` says what was left out and by which rule, and
    `grant.compensated` whether this acceptance earned the offer's compensation (once per
    customer and offer; `not_compensated_reason` says why not).
    """
    excluded = {(e.category, e.purpose) for e in exclusions}

    def consented(purpose: str) -> list[str]:
        return [c for c in categories if (c, purpose) not in excluded]

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
                        "piiCategory": consented(p),
                        "piiCategoryIRI": [_CATEGORY[c].iri for c in consented(p)],
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
            "compensated": compensated,
            "not_compensated_reason": not_compensated_reason,
            "exclusions": [
                {
                    "category": e.category,
                    "purpose": e.purpose,
                    "reasons": [{"code": r.code, "message": r.message} for r in e.reasons],
                }
                for e in exclusions
            ],
        },
        "offer": {"id": offer_id, "version": offer_version, "terms_hash": terms_hash},
    }
