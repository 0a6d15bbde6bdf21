"""Values of the Personal Data Space: what is held, who may read it, exports and imports."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Reader(msgspec.Struct, frozen=True, kw_only=True):
    """A partner that may read a category now, through an active grant."""

    grant_id: str
    partner_id: str
    partner_name: str
    purposes: tuple[str, ...]
    expires_at: datetime


class CategoryHeld(msgspec.Struct, frozen=True, kw_only=True):
    category: str
    iri: str
    record_count: int
    first_recorded_at: datetime | None
    last_recorded_at: datetime | None
    sources: tuple[str, ...]
    readers: tuple[Reader, ...]


class DataOverview(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    categories: tuple[CategoryHeld, ...]


class Record(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    category: str
    recorded_at: datetime
    source: str
    payload: msgspec.Raw
    ingested_at: datetime


class Erasure(msgspec.Struct, frozen=True, kw_only=True):
    """What an erasure did: records gone, grants ended, partners told."""

    categories: tuple[str, ...]
    records_deleted: int
    grants_revoked: tuple[str, ...]
    partners_notified: tuple[str, ...]
    account_closed_at: datetime | None = None


class Export(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    format: str
    media_type: str
    issuer: str
    record_count: int
    consent_count: int
    created_at: datetime
    invalidated_at: datetime | None
    signature: str
    download_url: str


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    issuer: str
    export_id: str
    record_count: int
    consent_count: int
    imported_at: datetime


class ImportedConsent(msgspec.Struct, frozen=True, kw_only=True):
    """A grant held at the former operator: shown to re-confirm, never live here."""

    id: str
    former_operator: str
    former_grant_id: str
    controller_id: str | None
    controller_name: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    former_status: str
    granted_at: datetime | None
    expires_at: datetime | None
    status: str
    created_at: datetime
