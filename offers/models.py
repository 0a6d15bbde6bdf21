"""Values of the consent domain: partners, customers, offers, grants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

import msgspec

OfferStatus = Literal["draft", "active", "paused", "closed"]
GrantStatus = Literal["active", "paused", "revoked", "expired"]
T = TypeVar("T")


# How a controller's contact details must look, at partner onboarding and in the operator's
# settings alike: an addr-spec without comments or quotes, an E.164 number, an http(s) URL.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"  # noqa: E501
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# (Explicit ranges, not \s: Python's and JavaScript's \s differ, and clients check it too.)
POLICY_URL_PATTERN = r"^https?://[^\x00-\x20\x7f]{1,2000}$"
MAX_RETENTION_DAYS = 3650


class ControllerProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What a consent receipt says about a controller beyond its name (Kantara CR 1.1
    `piiControllers[]`, `policyUrl`): whom to contact and how, and its retention."""

    contact: str  # a person or office, e.g. "Data Protection Officer"
    address: str  # postal address, one line
    email: str
    phone: str  # E.164
    policy_url: str  # the privacy policy the customer consents under
    retention_days: int  # how long data read under a grant is kept after the grant ends


class Controller(msgspec.Struct, frozen=True, kw_only=True):
    """A controller named on receipts: the operator of the marketplace, beside each partner."""

    id: str
    name: str
    jurisdiction: str
    profile: ControllerProfile


class Partner(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    jurisdiction: str
    status: str
    created_at: datetime
    # None only for a partner onboarded before receipts carried controller details.
    profile: ControllerProfile | None = None


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    external_ref: str
    jurisdiction: str
    birth_date: date | None = None
    created_at: datetime


class Compensation(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["discount", "cash"]
    amount: int  # minor units
    currency: str


class OfferTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer consents to; hashed into every grant's receipt."""

    title: str
    description: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    duration_days: int
    lookback_days: int
    compensation: Compensation
    jurisdictions: tuple[str, ...]


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    partner_id: str
    status: OfferStatus
    version: int
    max_grants: int
    grant_count: int
    terms: OfferTerms
    terms_hash: str
    created_at: datetime
    updated_at: datetime


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """A machine-readable code and a sentence a customer can read."""

    code: str
    message: str


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    """A (category, purpose) pair of the terms that the law keeps out of the customer's grant,
    with each forbidding rule (`rule:<id>`) and its sentence."""

    category: str
    purpose: str
    reasons: tuple[Reason, ...]


class CustomerOffer(msgspec.Struct, frozen=True, kw_only=True):
    """An offer as a customer sees it: the terms, and whether they may accept it.

    `exclusions`: what accepting would not share, because a rule forbids it for this customer.
    """

    id: str
    partner_id: str
    partner_name: str
    version: int
    terms: OfferTerms
    terms_hash: str
    eligible: bool
    reasons: tuple[Reason, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    partner_id: str
    offer_id: str
    offer_version: int
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    status: GrantStatus
    granted_at: datetime
    expires_at: datetime
    updated_at: datetime
    terms_hash: str
    receipt: str
    # Compensation is earned once per customer and offer: a later acceptance is not paid, and
    # `not_compensated_reason` says why (`already_compensated`).
    compensated: bool = True
    not_compensated_reason: str | None = None
    # The pairs of categories x purposes that a rule forbade at acceptance: not covered.
    exclusions: tuple[Exclusion, ...] = ()


class GrantReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """One signed receipt of a grant's chain: index 0 is the acceptance's; each later one is
    a state change (`event_type`, leaving the grant `event_state`) and names the SHA-256 of
    the receipt before it (`previous_hash`, as in its signed `previousReceiptHash`)."""

    index: int
    event_type: str
    event_state: str
    previous_hash: str | None
    created_at: datetime
    receipt: str  # compact JWS, verifiable with /.well-known/jwks.json


class GrantReceipts(msgspec.Struct, frozen=True, kw_only=True):
    grant_id: str
    data: list[GrantReceipt]


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a cursor-paginated list."""

    data: list[T]
    has_more: bool


# -- rows the repositories return to the services (not part of the public API) --------------


class OfferHead(msgspec.Struct, frozen=True, kw_only=True):
    """An offer's head row, read under its row lock before a change."""

    status: OfferStatus
    version: int
    max_grants: int
    grant_count: int


class OfferListing(msgspec.Struct, frozen=True, kw_only=True):
    """An open offer as listed to a customer, before their eligibility is worked out."""

    id: str
    partner_id: str
    partner_name: str
    version: int
    max_grants: int
    grant_count: int
    terms: OfferTerms
    terms_hash: str
    already_granted: bool
    already_compensated: bool = False
    escrow_balance: int = 0  # the partner's escrow in the compensation's currency


class OpenOffer(msgspec.Struct, frozen=True, kw_only=True):
    """An offer's current version as seen by an accepting customer."""

    id: str
    partner_id: str
    status: OfferStatus
    version: int
    terms: OfferTerms
    terms_hash: str
    partner_active: bool


class AcceptStart(msgspec.Struct, frozen=True, kw_only=True):
    """What an acceptance reads before it writes (the `start_acceptance` query)."""

    customer: Customer | None
    audit_secret: bytes | None
    offer: OpenOffer | None
    partner: Partner | None
    has_stale: bool
    wants_event: bool
    compensated_before: bool = False
    grant_id: str
    now: datetime


class Claimed(msgspec.Struct, frozen=True, kw_only=True):
    """What the acceptance's one statement did (`claim_slot_and_grant`)."""

    grant: Grant | None  # None: the offer is full (or changed since it was read)
    # False: the customer closed, or changed jurisdiction or birth date, since the read;
    # nothing was written.
    customer_unchanged: bool


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    partner_id: str | None  # None: the operator's own endpoint
    url: str
    events: tuple[str, ...]
    created_at: datetime
    # Shown once, in the response that creates the endpoint (or rotates its secret).
    secret: str | None = None
    # After a rotation: until when deliveries are also signed with the previous secret.
    previous_secret_expires_at: datetime | None = None


# Why an attempt failed, as a class: never the error's text, which would tell a partner what
# listens inside the operator's network (docs/webhooks.md; the text is in the server log).
DeliveryOutcome = Literal[
    "http_status",
    "timeout",
    "connection_refused",
    "connection_failed",
    "tls_error",
    "protocol_error",
    "unresolvable",
    "target_forbidden",
    "invalid_url",
    "endpoint_deleted",
    "internal_error",
]


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    at: str
    status_code: int | None
    error: DeliveryOutcome | None  # None: delivered (a 2xx answer)
    duration_ms: int


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    log: tuple[DeliveryAttempt, ...]


class DeliveryToSend(msgspec.Struct, frozen=True, kw_only=True):
    """What one delivery attempt needs: the event, and the endpoint's URL and secret."""

    id: str
    status: str
    attempts: int
    event_id: str
    type: str
    created_at: datetime
    data: str  # the event's JSON text
    url: str
    secret: str
    endpoint_deleted: bool
    # The secret a rotation replaced, while its overlap lasts: deliveries carry both signatures.
    previous_secret: str | None = None


class DeliveryState(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery's status and attempts so far, read under its row lock."""

    status: str
    attempts: int
