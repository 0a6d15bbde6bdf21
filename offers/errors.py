"""Errors raised by the offers service.

    OffersError
    ├── NotFound
    │   ├── PartnerNotFound
    │   ├── CustomerNotFound
    │   ├── OfferNotFound
    │   └── GrantNotFound
    ├── InvalidTerms
    ├── InvalidTransition
    ├── OfferNotOpen
    ├── OfferVersionChanged
    ├── OfferFull
    ├── AlreadyGranted
    ├── NotEligible
    ├── InvalidInput
    │   └── ImplausibleRecord
    └── AccessDenied
"""

from __future__ import annotations


class OffersError(Exception):
    """Base class: every subclass has a stable `code` and may name the offending `field`."""

    code = "offers_error"

    def __init__(self, detail: str, *, field: str | None = None, reasons: list | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.reasons = reasons or []


class NotFound(OffersError):
    """The object does not exist, or belongs to someone else (the two look the same)."""

    code = "not_found"


class PartnerNotFound(NotFound):
    """No such partner."""

    code = "partner_not_found"


class CustomerNotFound(NotFound):
    """No such customer."""

    code = "customer_not_found"


class OfferNotFound(NotFound):
    """No such offer visible to the caller."""

    code = "offer_not_found"


class GrantNotFound(NotFound):
    """No such grant visible to the caller."""

    code = "grant_not_found"


class InvalidTerms(OffersError):
    """Offer terms or a narrowing request that break a domain rule."""

    code = "invalid_terms"


class InvalidTransition(OffersError):
    """The requested status change is not allowed from the current status."""

    code = "invalid_transition"


class OfferNotOpen(OffersError):
    """The offer is not published (draft, paused or closed) so it cannot be accepted."""

    code = "offer_not_open"


class OfferVersionChanged(OffersError):
    """The customer accepted a version of the terms that is no longer current."""

    code = "offer_version_changed"


class OfferFull(OffersError):
    """The offer has reached its `max_grants`."""

    code = "offer_full"


class AlreadyGranted(OffersError):
    """The customer already holds a live grant on this offer."""

    code = "already_granted"


class NotEligible(OffersError):
    """The customer may not accept this offer; `reasons` says why."""

    code = "not_eligible"


class InvalidInput(OffersError):
    """A request value the schema cannot check (an unknown category, a bad record); 400."""

    code = "invalid_input"


class ImplausibleRecord(InvalidInput):
    """A well-formed record that cannot be true (recorded in the future); 422."""

    code = "implausible_record"


class AccessDenied(OffersError):
    """The policy engine denied a partner's read; `decision` is the recorded decision."""

    code = "access_denied"

    def __init__(self, detail: str, *, decision):
        super().__init__(detail)
        self.decision = decision
