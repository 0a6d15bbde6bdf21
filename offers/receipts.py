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

from .models import Controller, Customer, Exclusion, OfferTerms, Partner

RECEIPT_VERSION = "KI-CR-v1.1.0"
_CATEGORY = {t.code: t for t in CATEGORIES}
_PURPOSE = {t.code: t for t in PURPOSES}
RECEIPT_TYPE = "consent-receipt+jwt"
DPV = "https://w3id.org/dpv#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
# Where the GDPR is the law of consent (EU and EEA): its articles name the legal basis.
GDPR_JURISDICTIONS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)
# Each receipt's event (ISO/IEC TS 27560 `event_type`), the state it leaves the consent in
# (`event_state`: the grant's status) and that state as a DPV consent status.
EVENTS = {
    "given": ("active", "ConsentGiven"),
    "paused": ("paused", "ConsentStatusInvalidForProcessing"),
    "resumed": ("active", "RenewedConsentGiven"),
    "withdrawn": ("revoked", "ConsentWithdrawn"),
    "expired": ("expired", "ConsentExpired"),
}
# A grant status reached by a change -> the event that reached it.
EVENT_OF_STATUS = {
    "paused": "paused",
    "active": "resumed",
    "revoked": "withdrawn",
    "expired": "expired",
}


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
    # Where the API is reached: receipts name the withdrawal endpoint under it.
    service_url: str = ""

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


def receipt_hash(receipt: str) -> str:
    """What the next receipt of a chain names as its predecessor: SHA-256 of the compact JWS."""
    return "sha256:" + hashlib.sha256(receipt.encode()).hexdigest()


def _controller(*, controller_id: str, name: str, jurisdiction: str, profile, role: str) -> dict:
    """One Kantara CR 1.1 `piiControllers[]` entry (None where a profile field is unknown)."""
    p = profile
    return {
        "piiController": name,
        "controllerId": controller_id,
        "onBehalf": False,
        "contact": p.contact if p else None,
        "address": p.address if p else None,
        "email": p.email if p else None,
        "phone": p.phone if p else None,
        "piiControllerUrl": p.policy_url if p else None,
        "jurisdiction": jurisdiction,
        "role": role,
    }


def controllers(partner: Partner, operator: Controller | None) -> list[dict]:
    """The partner (who reads the data) and the operator (who holds it and runs the
    marketplace), each a controller of the personal data the receipt covers."""
    found = [
        _controller(
            controller_id=partner.id,
            name=partner.name,
            jurisdiction=partner.jurisdiction,
            profile=partner.profile,
            role="recipient: reads the data consented to, for the purposes consented to",
        )
    ]
    if operator is not None:
        found.append(
            _controller(
                controller_id=operator.id,
                name=operator.name,
                jurisdiction=operator.jurisdiction,
                profile=operator.profile,
                role="operator: holds the data and enforces this consent on every read",
            )
        )
    return found


def legal_basis(jurisdiction: str, special: bool) -> list[dict]:
    """Consent (explicit, for special categories), and under the GDPR its articles."""
    basis = [
        {"id": "dpv:Consent", "iri": DPV + "Consent"},
        {"id": "dpv:ExplicitlyExpressedConsent", "iri": DPV + "ExplicitlyExpressedConsent"},
    ]
    if jurisdiction in GDPR_JURISDICTIONS:
        basis.append({"id": "eu-gdpr:A6-1-a", "iri": GDPR + "A6-1-a"})
        if special:
            basis.append({"id": "eu-gdpr:A9-2-a", "iri": GDPR + "A9-2-a"})
    return basis


def withdrawal_method(grant_id: str, service_url: str) -> dict:
    """How to withdraw: as easily as it was given (GDPR Art. 7(3)), in the app or the API."""
    return {
        "description": (
            "Withdraw at any time in the app (My grants, Revoke) or with the API call below; "
            "it takes effect for every later read. Pausing stops reads until resumed."
        ),
        "method": "POST",
        "url": f"{service_url}/v1/me/grants/{grant_id}/revoke",
        "right": {"id": "eu-gdpr:A7-3", "iri": GDPR + "A7-3"},
    }


def retention(partner: Partner, operator: Controller | None) -> list[dict]:
    """Each controller's declared retention, as an ISO 8601 duration after consent ends."""
    out = []
    if partner.profile is not None:
        days = partner.profile.retention_days
        out.append(
            {
                "controllerId": partner.id,
                "duration": f"P{days}D",
                "description": f"data read under this consent is deleted at most {days} "
                "days after the consent ends",
            }
        )
    if operator is not None:
        days = operator.profile.retention_days
        out.append(
            {
                "controllerId": operator.id,
                "duration": f"P{days}D",
                "description": f"this consent record is kept {days} days after the consent "
                "ends, to demonstrate the consent (GDPR Art. 7(1)); the data stays in the "
                "customer's data space until they erase it",
            }
        )
    return out


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
    operator: Controller | None = None,
    service_url: str = "",
) -> dict:
    """The receipt's claims: Kantara CR 1.1 field names, plus the offer version and terms hash.

    Each purpose lists the categories consented for it (less the pairs of `exclusions`, which
    the law kept out); `grant.exclusions` says what was left out and by which rule, and
    `grant.compensated` whether this acceptance earned the offer's compensation (once per
    customer and offer; `not_compensated_reason` says why not).
    """
    excluded = {(e.category, e.purpose) for e in exclusions}
    special = any(_CATEGORY[c].special for c in categories)

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
        "policyUrl": partner.profile.policy_url if partner.profile else None,
        "piiControllers": controllers(partner, operator),
        "legalBasis": legal_basis(customer.jurisdiction, special),
        "withdrawalMethod": withdrawal_method(grant_id, service_url),
        "retention": retention(partner, operator),
        "receiptIndex": 0,
        "event_type": "given",
        "event_state": EVENTS["given"][0],
        "event_time": granted_at.isoformat(),
        "consentStatus": _status("given"),
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
        "sensitive": special,
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


def _status(event_type: str) -> dict:
    name = EVENTS[event_type][1]
    return {"id": f"dpv:{name}", "iri": DPV + name}


# What a state change's receipt repeats of the acceptance's: who, under which policy, about
# which purposes and data, so each receipt of the chain stands on its own.
_CARRIED = (
    "version",
    "jurisdiction",
    "language",
    "piiPrincipalId",
    "policyUrl",
    "piiControllers",
    "legalBasis",
    "withdrawalMethod",
    "retention",
    "services",
    "sensitive",
    "spiCat",
    "offer",
)


def event_claims(
    *,
    original: dict,
    issuer: str,
    index: int,
    event_type: str,
    at: datetime,
    previous_hash: str,
    grant: dict,
) -> dict:
    """The claims of receipt `index` (≥ 1) of a grant's chain: one state change (`event_type`,
    leaving the consent in `event_state`), linked to the receipt before it by its hash."""
    grant_id = original["consentReceiptID"]
    return {
        "iss": issuer,
        "sub": original["sub"],
        "iat": int(at.timestamp()),
        "jti": f"{grant_id}.{index}",
        "consentReceiptID": grant_id,
        "receiptIndex": index,
        "previousReceiptHash": previous_hash,
        "event_type": event_type,
        "event_state": EVENTS[event_type][0],
        "event_time": at.isoformat(),
        "consentStatus": _status(event_type),
        "consentTimestamp": original["consentTimestamp"],
        **{k: original[k] for k in _CARRIED if k in original},
        "grant": grant,
    }


def unverified_claims(receipt: str) -> dict:
    """The claims of one of our own stored receipts (its signature was ours when stored)."""
    payload = receipt.split(".")[1]
    return msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
