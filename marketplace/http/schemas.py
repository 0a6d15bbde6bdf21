"""Request bodies of the public API: strict msgspec Structs (unknown fields are refused)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from offers import (
    EMAIL_PATTERN,
    EVENT_TYPES,
    MAX_RETENTION_DAYS,
    OPERATOR_EVENT_TYPES,
    PHONE_PATTERN,
    POLICY_URL_PATTERN,
)
from policies import CATEGORIES, JURISDICTIONS, PURPOSES

from .dates import RANGE, in_range

# Closed vocabularies are published as enums, so clients see exactly what is accepted. The
# Literals are built from the vocabulary at run time, which a type checker cannot follow: to
# it they are the strings they hold.
if TYPE_CHECKING:
    Category = str
    Purpose = str
    Jurisdiction = str
else:
    Category = Literal[tuple(t.code for t in CATEGORIES)]
    Purpose = Literal[tuple(t.code for t in PURPOSES)]
    Jurisdiction = Literal[tuple(sorted(JURISDICTIONS))]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217")]
# PostgreSQL text cannot hold NUL; refusing it here makes it a 400 naming the field. Every
# string of a request body is one of the types below or has a pattern of its own that refuses
# NUL, and every integer is bounded to bigint: tests/unit/test_request_types.py walks every
# body to hold that. (Lone surrogates never get this far: the JSON decoder refuses them.)
NO_NUL = "^[^\x00]*$"
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]
Text = Annotated[str, Meta(min_length=1, max_length=5000, pattern=NO_NUL)]
Reference = Annotated[str, Meta(min_length=1, max_length=255, pattern=NO_NUL)]
Categories = Annotated[list[Category], Meta(min_length=1, max_length=20)]
Purposes = Annotated[list[Purpose], Meta(min_length=1, max_length=20)]
Jurisdictions = Annotated[list[Jurisdiction], Meta(min_length=1, max_length=50)]
DurationDays = Annotated[int, Meta(ge=1, le=365)]
LookbackDays = Annotated[int, Meta(ge=0, le=3650)]
MaxGrants = Annotated[int, Meta(ge=1, le=10_000_000)]
Amount = Annotated[int, Meta(ge=0, le=100_000_000, description="minor units")]
ObjectId = Annotated[str, Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9_]+$")]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: an unknown field is an error, not silently dropped, and
    every date and time lies in the one documented range (dates.py)."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, date) and not in_range(value):
                # msgspec turns this into a ValidationError at `$.<path of this struct>`
                raise ValueError(f"Field `{name}` must be {RANGE}")


Line = Annotated[str, Meta(min_length=1, max_length=500, pattern="^[^\x00-\x1f]+$")]
Email = Annotated[str, Meta(max_length=254, pattern=EMAIL_PATTERN, examples=["dpo@acme.example"])]
Phone = Annotated[str, Meta(pattern=PHONE_PATTERN, description="E.164", examples=["+4930123456"])]
PolicyUrl = Annotated[str, Meta(max_length=2000, pattern=POLICY_URL_PATTERN)]
RetentionDays = Annotated[int, Meta(ge=0, le=MAX_RETENTION_DAYS)]


class CreatePartner(Strict, kw_only=True):
    """A partner and what its consent receipts state about it as a controller (Kantara CR
    1.1 `piiControllers[]` and `policyUrl`; see docs/receipts.md)."""

    name: Name
    jurisdiction: Jurisdiction
    contact: Annotated[str, Meta(min_length=1, max_length=200, pattern="^[^\x00-\x1f]+$")]
    address: Line
    email: Email
    phone: Phone
    policy_url: PolicyUrl
    retention_days: Annotated[
        RetentionDays,
        Meta(description="days data read under a grant is kept after the grant ends"),
    ]


class CreateCustomer(Strict, kw_only=True):
    external_ref: Name
    jurisdiction: Jurisdiction
    birth_date: date | None = None


class CompensationIn(Strict, kw_only=True):
    kind: Literal["discount", "cash"]
    amount: Amount
    currency: Currency


class CreateOffer(Strict, kw_only=True):
    title: Name
    description: Text
    categories: Categories
    purposes: Purposes
    duration_days: DurationDays
    lookback_days: LookbackDays = 30
    compensation: CompensationIn
    jurisdictions: Jurisdictions
    max_grants: MaxGrants = 1000


class UpdateOffer(Strict, kw_only=True):
    """PATCH: only the fields present change; changed terms make a new version."""

    title: Name | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    categories: Categories | UnsetType = UNSET
    purposes: Purposes | UnsetType = UNSET
    duration_days: DurationDays | UnsetType = UNSET
    lookback_days: LookbackDays | UnsetType = UNSET
    compensation: CompensationIn | UnsetType = UNSET
    jurisdictions: Jurisdictions | UnsetType = UNSET
    max_grants: MaxGrants | UnsetType = UNSET


class MarkNotificationsRead(Strict, kw_only=True):
    """The newest notification to mark read: it and every earlier one are marked."""

    up_to: ObjectId


class AcceptOffer(Strict, kw_only=True):
    offer_id: ObjectId
    categories: Categories | None = None
    purposes: Purposes | None = None
    offer_version: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None


class RecordIn(Strict, kw_only=True):
    """One datum for a customer's Personal Data Space; `recorded_at` needs an offset."""

    category: Category
    recorded_at: datetime
    payload: dict[str, Any]
    source: Name


class IngestRecords(Strict, kw_only=True):
    records: Annotated[list[RecordIn], Meta(min_length=1, max_length=10_000)]


class DecisionQuery(Strict, kw_only=True):
    customer_id: ObjectId
    category: Category
    purpose: Purpose


PositiveAmount = Annotated[int, Meta(ge=1, le=100_000_000_000, description="minor units")]
StripeAccountId = Annotated[str, Meta(pattern="^acct_[A-Za-z0-9]{1,64}$")]


class CreateFunding(Strict, kw_only=True):
    """Fund the partner's escrow through Stripe."""

    amount: PositiveAmount
    currency: Currency
    # A saved payment method to confirm with at once (server-side); without one the client
    # confirms the PaymentIntent with its client_secret.
    payment_method: Reference | None = None


class SetPayoutAccount(Strict, kw_only=True):
    stripe_account: StripeAccountId


class EscrowAdjustment(Strict, kw_only=True):
    """An operator's funding adjustment: money received outside Stripe, or a correction."""

    amount: Annotated[int, Meta(ge=-100_000_000_000, le=100_000_000_000)]
    currency: Currency
    reference: Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]


WebhookEvent = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class CreateWebhookEndpoint(Strict, kw_only=True):
    url: Annotated[
        str,
        Meta(
            max_length=2000,
            pattern="^https?://[^/?#\\x00]+[^\\x00]*$",
            description="an absolute http(s) URL at a public internet address"
            " (no user name or password; see docs/webhooks.md)",
        ),
    ]
    events: Annotated[list[WebhookEvent], Meta(min_length=1, max_length=20)]


OperatorWebhookEvent = Literal[OPERATOR_EVENT_TYPES]  # type: ignore[valid-type]


class CreateOperatorWebhookEndpoint(Strict, kw_only=True):
    url: Annotated[
        str,
        Meta(
            max_length=2000,
            pattern="^https?://[^/?#\\x00]+[^\\x00]*$",
            description="an absolute http(s) URL at a public internet address",
        ),
    ]
    events: Annotated[list[OperatorWebhookEvent], Meta(min_length=1, max_length=5)]


class ConfirmDeletion(Strict, kw_only=True):
    """The partner's word that it deleted (or de-identified) what it received, and when."""

    method: Literal["deleted", "de_identified"]
    statement: Annotated[str, Meta(min_length=1, max_length=2000, pattern=NO_NUL)]
    completed_at: Annotated[datetime, Meta(tz=True, description="when it was done (RFC 3339)")]


class LiftSuspension(Strict, kw_only=True):
    """Reinstates a partner suspended for overdue deletions; `until` holds the sweep off
    (default: one grace period from now)."""

    until: Annotated[datetime, Meta(tz=True)] | None = None


H3Cell = Annotated[str, Meta(min_length=15, max_length=16, pattern="^[0-9a-fA-F]{15,16}$")]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]


class BoundingBoxIn(Strict, kw_only=True):
    south: Latitude
    west: Longitude
    north: Latitude
    east: Longitude


class InsightAreaIn(Strict, kw_only=True):
    """H3 cells at one resolution, or a bounding box with the resolution to cover it at."""

    # No bounds on the optional fields here: a union loses them in the published schema, so
    # the service checks them (422 naming the field) instead.
    cells: Annotated[list[H3Cell], Meta(max_length=2000, description="H3 cell indexes")] = []
    bbox: BoundingBoxIn | None = None
    # A bounding box's cells are listed at this resolution; cells carry their own.
    resolution: Annotated[int, Meta(ge=0, le=15)] = 8


class CreateInsight(Strict, kw_only=True):
    """Ask for an aggregate release. `start` is inclusive, `end` exclusive; buckets start at
    `start`. `epsilon` (default and maximum: settings) is spent from the partner's budget and
    from the budget of every customer counted."""

    metric: Literal["footfall", "data_usage"]
    area: InsightAreaIn
    start: datetime
    end: datetime
    bucket: Literal["hour", "day"]
    breakdown: Literal["age_band"] | None = None
    epsilon: float | None = None
