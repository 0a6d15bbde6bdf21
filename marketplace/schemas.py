"""Request bodies of the public API: strict msgspec Structs (unknown fields are refused)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Jurisdiction = Annotated[str, Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(min_length=1, max_length=5000)]
Code = Annotated[str, Meta(min_length=1, max_length=64, pattern="^[a-z_]+$")]
Codes = Annotated[list[Code], Meta(min_length=1, max_length=20)]
Jurisdictions = Annotated[list[Jurisdiction], Meta(min_length=1, max_length=50)]
DurationDays = Annotated[int, Meta(ge=1, le=365)]
LookbackDays = Annotated[int, Meta(ge=0, le=3650)]
MaxGrants = Annotated[int, Meta(ge=1, le=10_000_000)]
Amount = Annotated[int, Meta(ge=0, le=100_000_000, description="minor units")]
ObjectId = Annotated[str, Meta(min_length=1, max_length=64)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: an unknown field is an error, not silently dropped."""


class CreatePartner(Strict, kw_only=True):
    name: Name
    jurisdiction: Jurisdiction


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
    categories: Codes
    purposes: Codes
    duration_days: DurationDays
    lookback_days: LookbackDays = 30
    compensation: CompensationIn
    jurisdictions: Jurisdictions
    max_grants: MaxGrants = 1000


class UpdateOffer(Strict, kw_only=True):
    """PATCH: only the fields present change; changed terms make a new version."""

    title: Name | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    categories: Codes | UnsetType = UNSET
    purposes: Codes | UnsetType = UNSET
    duration_days: DurationDays | UnsetType = UNSET
    lookback_days: LookbackDays | UnsetType = UNSET
    compensation: CompensationIn | UnsetType = UNSET
    jurisdictions: Jurisdictions | UnsetType = UNSET
    max_grants: MaxGrants | UnsetType = UNSET


class AcceptOffer(Strict, kw_only=True):
    offer_id: ObjectId
    categories: Codes | None = None
    purposes: Codes | None = None
    offer_version: Annotated[int, Meta(ge=1)] | None = None


class CreateWebhookEndpoint(Strict, kw_only=True):
    url: Annotated[str, Meta(min_length=1, max_length=2000)]
    events: Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]],
                      Meta(min_length=1, max_length=20)]
