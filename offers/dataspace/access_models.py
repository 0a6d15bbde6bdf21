"""Values of the data-access path: records in a Personal Data Space and access decisions."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from policies import GrantView


class AccessDecision(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded decision on a partner's request, as stored and as the partner sees it."""

    id: str
    at: datetime
    partner_id: str
    customer_id: str
    category: str
    purpose: str
    allowed: bool
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    grant_id: str | None
    rules_version: str
    obligations: tuple[str, ...] = ()
    window_start: datetime | None = None  # earliest recorded_at the partner may read


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """One datum of a customer's Personal Data Space; the payload is passed through as stored."""

    id: str
    category: str
    recorded_at: datetime
    source: str
    payload: msgspec.Raw


class RecordsPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of released records, with the decision that released them."""

    data: list[Record]
    has_more: bool
    decision: AccessDecision


class NewRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A validated record to ingest; `payload` is its JSON text (a JSON object)."""

    category: str
    recorded_at: datetime
    source: str
    payload: str
    position: tuple[float, float] | None = None  # (lat, lon) where the record says the phone was
    measure: int | None = None  # the quantity the category measures (data_usage: megabytes)


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one ingestion stored, per customer."""

    ingested: int
    by_category: dict[str, int]
    customers: int = 1


class AccessContext(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one decision needs, read in one round trip."""

    at: datetime
    decision_id: str
    partner_status: str
    customer_id: str | None
    jurisdiction: str | None
    birth_date: date | None
    audit_secret: bytes | None
    grants: tuple[GrantView, ...]
    # The read's snapshot (pg_current_snapshot): the transactions whose effects it saw.
    snapshot: str = ""


class IngestingCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """A customer records are ingested for: their jurisdiction and pseudonym key."""

    jurisdiction: str
    audit_secret: bytes | None
