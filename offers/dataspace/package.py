"""The portable export package (format v1): JSON Lines, a signed manifest of content hashes.

Line 1 is the header, carrying the manifest's JWS. Then the parts, in this order, each line an
object whose `part` names its part: `customer` (one line), `consent` (one per grant), `earnings`
(one line), `record` (one per record). A part's hash is SHA-256 over the exact bytes of its
lines, each followed by "\\n". docs/export-format.md and docs/export-format.schema.json are the
public description; nothing here needs the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime

import jwt
import msgspec

from policies import CATEGORIES, PURPOSES

from .errors import ExportContentMismatch, ExportMalformed, ExportSignatureInvalid
from .models import ExportGrant, ExportRecord

FORMAT = "urn:consent-marketplace:export:v1"
FORMAT_VERSION = "1.0"
MEDIA_TYPE = "application/jsonl"
JWS_TYPE = "marketplace-export+jwt"
# Part names in the manifest, in package order, and the `part` value of their lines.
PARTS: tuple[tuple[str, str], ...] = (
    ("customer", "customer"),
    ("consents", "consent"),
    ("earnings", "earnings"),
    ("records", "record"),
)
PART_OF_LINE = {line: part for part, line in PARTS}
MAX_LINE_BYTES = 1_048_576
CONSENT_SCHEMA = "ISO/IEC TS 27560:2023"
CATEGORY_IRI = {t.code: t.iri for t in CATEGORIES}
CATEGORY_BY_IRI = {t.iri: t.code for t in CATEGORIES}
PURPOSE_IRI = {t.code: t.iri for t in PURPOSES}
# The grant's effective status as a TS 27560 consent state.
CONSENT_STATE = {
    "active": "given",
    "paused": "paused",
    "revoked": "withdrawn",
    "expired": "expired",
}

_encode = msgspec.json.Encoder().encode


def line(obj: dict) -> bytes:
    return _encode(obj) + b"\n"


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def customer_line(customer_id: str, jurisdiction: str, birth_date: date | None) -> bytes:
    return line(
        {
            "part": "customer",
            "id": customer_id,
            "jurisdiction": jurisdiction,
            "birth_date": birth_date.isoformat() if birth_date else None,
        }
    )


def consent_line(g: ExportGrant, jurisdiction: str) -> bytes:
    """One grant as a consent record shaped after ISO/IEC TS 27560, with its signed receipt."""
    return line(
        {
            "part": "consent",
            "record": {
                "schema": CONSENT_SCHEMA,
                "record_id": g.id,
                "pii_principal_id": g.customer_id,
                "jurisdiction": jurisdiction,
                "legal_basis": "https://w3id.org/dpv#Consent",
                "consent_type": "explicit",
                "state": CONSENT_STATE[g.status],
                "status": g.status,
                "controllers": [
                    {
                        "id": g.partner_id,
                        "name": g.partner_name,
                        "jurisdiction": g.partner_jurisdiction,
                    }
                ],
                "service": g.title,
                "purposes": [{"code": p, "iri": PURPOSE_IRI.get(p)} for p in g.purposes],
                "pii_categories": [{"code": c, "iri": CATEGORY_IRI.get(c)} for c in g.categories],
                "given_at": _iso(g.granted_at),
                "expires_at": _iso(g.expires_at),
                "updated_at": _iso(g.updated_at),
                "offer": {"id": g.offer_id, "version": g.offer_version, "terms_hash": g.terms_hash},
                "compensation": {
                    "kind": g.compensation_kind,
                    "amount": g.compensation_amount,
                    "currency": g.compensation_currency,
                },
            },
            "receipt": g.receipt,
            # The whole chain: the acceptance's receipt, then one per state change.
            "receipts": [g.receipt, *g.later_receipts],
        }
    )


def earnings_line(grants: Sequence[ExportGrant]) -> bytes:
    """Totals per kind and currency of the compensation earned by accepting grants.

    Computed from the grants' offer versions (compensation is earned at acceptance, so revoked
    and expired grants count too, and once per customer and offer: a re-acceptance, not
    compensated, does not); `source` says so, and becomes `ledger` once it is wired.
    """
    totals: dict[tuple[str, str], list[int]] = {}
    for g in grants:
        if not g.compensated:
            continue
        t = totals.setdefault((g.compensation_kind, g.compensation_currency), [0, 0])
        t[0] += g.compensation_amount
        t[1] += 1
    return line(
        {
            "part": "earnings",
            "source": "grants",
            "totals": [
                {"kind": k, "currency": c, "amount": a, "grants": n}
                for (k, c), (a, n) in sorted(totals.items())
            ],
        }
    )


def record_line(r: ExportRecord) -> bytes:
    return line(
        {
            "part": "record",
            "id": r.id,
            "category": r.category,
            "category_iri": CATEGORY_IRI.get(r.category),
            "recorded_at": _iso(r.recorded_at),
            "source": r.source,
            "payload": msgspec.Raw(r.payload.encode()),
        }
    )


class PartHashes:
    """Running SHA-256 and line count of each part."""

    def __init__(self) -> None:
        self._h = {part: hashlib.sha256() for part, _ in PARTS}
        self.counts = {part: 0 for part, _ in PARTS}

    def add(self, part: str, data: bytes) -> None:
        self._h[part].update(data)
        self.counts[part] += 1

    def manifest_parts(self) -> dict:
        return {p: {"sha256": self._h[p].hexdigest(), "count": self.counts[p]} for p, _ in PARTS}


def sign_manifest(private_key, kid: str, manifest: dict) -> str:
    return jwt.encode(
        manifest, private_key, algorithm="EdDSA", headers={"kid": kid, "typ": JWS_TYPE}
    )


def header_line(*, export_id: str, issuer: str, created_at: datetime, signature: str) -> bytes:
    return line(
        {
            "part": "header",
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "export_id": export_id,
            "issuer": issuer,
            "created_at": _iso(created_at),
            "jwks_uri": issuer.rstrip("/") + "/.well-known/jwks.json",
            "signature": signature,
        }
    )


# -- reading a package (the importing side) ----------------------------------------------------


class Header(msgspec.Struct, kw_only=True):
    part: str
    format: str
    format_version: str
    export_id: str
    issuer: str
    signature: str


def parse_header(raw: bytes) -> Header:
    try:
        header = msgspec.json.decode(raw, type=Header)
    except msgspec.DecodeError as e:
        raise ExportMalformed(f"line 1 is not an export header: {e}", field="header") from None
    if header.part != "header" or header.format != FORMAT:
        raise ExportMalformed(f"not a {FORMAT} package", field="header.format")
    return header


def unverified_issuer(signature: str) -> tuple[str, str]:
    """The (issuer, kid) the JWS claims, to pick the keys that will verify it."""
    try:
        kid = jwt.get_unverified_header(signature).get("kid")
        claims = jwt.decode(signature, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise ExportSignatureInvalid(
            "the manifest signature is not a JWS", field="signature"
        ) from None
    if not isinstance(kid, str) or not isinstance(claims.get("iss"), str):
        raise ExportSignatureInvalid("the manifest JWS has no kid or iss", field="signature")
    return claims["iss"], kid


def verify_manifest(signature: str, jwks: dict, issuer: str, export_id: str) -> dict:
    """The manifest, if the JWS verifies with a key of `jwks`; raises otherwise."""
    try:
        header = jwt.get_unverified_header(signature)
        jwk = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            raise ExportSignatureInvalid(
                "no published key of the issuer has this kid", field="signature"
            )
        if header.get("alg") != "EdDSA" or header.get("typ") != JWS_TYPE:
            raise ExportSignatureInvalid("unexpected JWS algorithm or type", field="signature")
        manifest = jwt.decode(
            signature,
            jwt.PyJWK(jwk).key,
            algorithms=["EdDSA"],
            issuer=issuer,
            options={"require": ["iss", "iat", "jti", "sub"], "verify_aud": False},
        )
    except jwt.InvalidTokenError as e:
        raise ExportSignatureInvalid(
            f"the manifest signature does not verify: {e}", field="signature"
        ) from None
    except (jwt.PyJWKError, ValueError, TypeError, AttributeError) as e:
        raise ExportSignatureInvalid(f"unusable issuer key: {e}", field="signature") from None
    if manifest.get("jti") != export_id or manifest.get("format") != FORMAT:
        raise ExportSignatureInvalid(
            "the header does not match its signed manifest", field="signature"
        )
    parts = manifest.get("parts")
    if not isinstance(parts, dict) or set(parts) != {p for p, _ in PARTS}:
        raise ExportMalformed("the manifest does not list the parts of format v1", field="parts")
    return manifest


def check_parts(manifest: dict, hashes: PartHashes) -> None:
    actual = hashes.manifest_parts()
    for part, _ in PARTS:
        if actual[part] != manifest["parts"][part]:
            raise ExportContentMismatch(
                f"part {part!r} does not match the signed manifest"
                f" ({actual[part]['count']} lines, expected {manifest['parts'][part]['count']})",
                field=f"parts.{part}",
            )


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """(line number, line bytes without the newline) from a byte stream, bounded per line."""
    buffer, number = b"", 0
    async for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            number += 1
            yield number, raw
        if len(buffer) > MAX_LINE_BYTES:
            raise ExportMalformed(f"line {number + 1} is longer than {MAX_LINE_BYTES} bytes")
    if buffer:
        raise ExportMalformed(f"line {number + 1} does not end with a newline")
