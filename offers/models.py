"""Values of the consent domain: partners, customers, offers, grants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

import msgspec

OfferStatus = Literal["draft", "active", "paused", "closed"]
GrantStatus = Literal["active", "paused", "revoked", "expired"]
T = TypeVar("T")


class Partner(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    jurisdiction: str
    status: str
    created_at: datetime


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


class CustomerOffer(msgspec.Struct, frozen=True, kw_only=True):
    """An offer as a customer sees it: the terms, and whether they may accept it."""

    id: str
    partner_id: str
    partner_name: str
    version: int
    terms: OfferTerms
    terms_hash: str
    eligible: bool
    reasons: tuple[Reason, ...] = ()


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


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a cursor-paginated list."""

    data: list[T]
    has_more: bool
