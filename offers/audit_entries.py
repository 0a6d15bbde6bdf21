"""The shape of every offers and grants audit entry, built in one place: the consent
service, the erasure and the expiry job all append the same fields for the same event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .models import Grant, Offer


def offer_entry(offer: Offer) -> dict[str, Any]:
    """AuditLog.append's keywords for an offer event (created, changed, published, …)."""
    return {
        "jurisdictions": offer.terms.jurisdictions,
        "partner_id": offer.partner_id,
        "offer_id": offer.id,
        "offer_version": offer.version,
        "status": offer.status,
        "terms_hash": offer.terms_hash,
    }


def grant_details(
    *,
    grant_id: str,
    offer_id: str,
    offer_version: int,
    categories: Sequence[str],
    purposes: Sequence[str],
    expires_at: datetime,
    terms_hash: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """The details of a grant's audit entries (no personal data). `reason` says why a grant
    ended when it was not the customer's own act (e.g. `data_erased`)."""
    details: dict[str, Any] = {
        "grant_id": grant_id,
        "offer_id": offer_id,
        "offer_version": offer_version,
        "categories": list(categories),
        "purposes": list(purposes),
        "expires_at": expires_at.isoformat(),
        "terms_hash": terms_hash,
    }
    if reason is not None:
        details["reason"] = reason
    return details


def grant_entry(
    grant: Grant, jurisdictions: Sequence[str], *, reason: str | None = None
) -> dict[str, Any]:
    """AuditLog.append's keywords for an event of an existing grant (paused, resumed,
    revoked, expired); the customer is turned into their pseudonym by the log."""
    return {
        "jurisdictions": list(jurisdictions),
        "partner_id": grant.partner_id,
        "customer_id": grant.customer_id,
        **grant_details(
            grant_id=grant.id,
            offer_id=grant.offer_id,
            offer_version=grant.offer_version,
            categories=grant.categories,
            purposes=grant.purposes,
            expires_at=grant.expires_at,
            terms_hash=grant.terms_hash,
            reason=reason,
        ),
    }
