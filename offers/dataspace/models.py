"""Values of the Personal Data Space: what is held, who may read it, exports and imports."""

from __future__ import annotations

from datetime import datetime

import msgspec

from ..obligations import Deletion


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
    # For each ended or narrowed grant (newest first, the latest 100): what its partner owes,
    # and whether it confirmed deletion, when and how.
    deletions: tuple[Deletion, ...] = ()


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
    # Grants that covered the erased category and others: they lose the category and go on.
    grants_narrowed: tuple[str, ...] = ()


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


# -- rows the repositories return to the services (not part of the public API) --------------


class CategorySummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer holds of one category."""

    category: str
    record_count: int
    first_recorded_at: datetime
    last_recorded_at: datetime
    sources: tuple[str, ...]


class ExportGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A grant as an export package carries it: with its partner and its offer's terms."""

    id: str
    customer_id: str
    partner_id: str
    partner_name: str
    partner_jurisdiction: str
    offer_id: str
    offer_version: int
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    status: str
    granted_at: datetime
    expires_at: datetime
    updated_at: datetime
    terms_hash: str
    receipt: str
    title: str
    compensation_kind: str
    compensation_amount: int
    compensation_currency: str
    compensated: bool = True  # False: a re-acceptance, not paid (once per customer and offer)
    # The receipts of the grant's state changes after the acceptance's, in chain order.
    later_receipts: tuple[str, ...] = ()


class ExportRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record as an export package carries it; `payload` is its JSON text."""

    id: str
    category: str
    recorded_at: datetime
    source: str
    payload: str


class NewExport(msgspec.Struct, frozen=True, kw_only=True):
    """A fresh export id and the instant the export is made at."""

    id: str
    now: datetime


class StoredExport(msgspec.Struct, frozen=True, kw_only=True):
    """An export as stored: what the customer sees, and what its download streams."""

    id: str
    status: str
    format: str
    issuer: str
    signature: str
    record_count: int
    consent_count: int
    created_at: datetime
    invalidated_at: datetime | None
    prefix_lines: str  # the customer, consent and earnings lines, as signed
    last_record_id: str | None
    manifest: str  # JSON text


class StoredImport(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    imported_at: datetime


class FormerConsent(msgspec.Struct, frozen=True, kw_only=True):
    """A grant of the former operator, read from an imported package."""

    former_grant_id: str
    controller_id: str | None
    controller_name: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    former_status: str
    granted_at: datetime | None
    expires_at: datetime | None
    receipt: str
