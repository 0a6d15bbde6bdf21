"""Errors raised by the offers service; each has a stable `code` and an HTTP `status`.

OffersError
├── NotFound
│   ├── PartnerNotFound
│   ├── CustomerNotFound
│   ├── OfferNotFound
│   └── GrantNotFound
├── InvalidTerms
├── InvalidCustomer
├── InvalidTransition
├── OfferNotOpen
├── OfferVersionChanged
├── OfferFull
├── AlreadyGranted
└── NotEligible
"""

from __future__ import annotations

from collections.abc import Callable


class OffersError(Exception):
    """Base class: every subclass has a stable `code` and may name the offending `field`."""

    code = "offers_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None, reasons: list | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.reasons = reasons or []


class NotFound(OffersError):
    """The object does not exist, or belongs to someone else (the two look the same)."""

    code = "not_found"
    status = 404


class PartnerNotFound(NotFound):
    """No such partner."""

    code = "partner_not_found"
    status = 404


class CustomerNotFound(NotFound):
    """No such customer."""

    code = "customer_not_found"
    status = 404


class OfferNotFound(NotFound):
    """No such offer visible to the caller."""

    code = "offer_not_found"
    status = 404


class GrantNotFound(NotFound):
    """No such grant visible to the caller."""

    code = "grant_not_found"
    status = 404


class InvalidTerms(OffersError):
    """Offer terms or a narrowing request that break a domain rule."""

    code = "invalid_terms"
    status = 422


class InvalidCustomer(OffersError):
    """A customer record that cannot be true (born in the future)."""

    code = "invalid_customer"
    status = 422


class InvalidTransition(OffersError):
    """The requested status change is not allowed from the current status."""

    code = "invalid_transition"
    status = 409


class OfferNotOpen(OffersError):
    """The offer is not published (draft, paused or closed) so it cannot be accepted."""

    code = "offer_not_open"
    status = 409


class OfferVersionChanged(OffersError):
    """The customer accepted a version of the terms that is no longer current."""

    code = "offer_version_changed"
    status = 409


class OfferFull(OffersError):
    """The offer has reached its `max_grants`."""

    code = "offer_full"
    status = 409


class AlreadyGranted(OffersError):
    """The customer already holds a live grant on this offer."""

    code = "already_granted"
    status = 409


class NotEligible(OffersError):
    """The customer may not accept this offer; `reasons` says why."""

    code = "not_eligible"
    status = 403


# Violated database constraints (by name) and the domain error each means; the unit of work
# translates them once, at the data layer's boundary.
CONSTRAINT_ERRORS: dict[str, Callable[[], Exception]] = {
    # One live grant per customer and offer (a second acceptance, or a race of two).
    "grants_one_live": lambda: AlreadyGranted(
        "you already hold a live grant on this offer", field="offer_id"
    ),
    # A second compensation of one customer for one offer: a race of two first acceptances
    # (the loser read "not compensated" before the winner committed).
    "offer_compensations_once": lambda: AlreadyGranted(
        "you have already accepted this offer", field="offer_id"
    ),
    # A webhook endpoint for a partner that does not exist (the token's subject).
    "webhook_endpoints_partner_id_fkey": lambda: PartnerNotFound(
        "the partner in this token does not exist"
    ),
}
