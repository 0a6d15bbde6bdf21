"""Values of consent's afterlife: deletion obligations, their confirmations, notifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from ..models import Grant

ObligationState = Literal["open", "confirmed", "not_required"]
ObligationCause = Literal["revoked", "expired", "data_erased", "account_closed", "narrowed"]
DeletionMethod = Literal["deleted", "de_identified"]
# What a partner must do on a grant event: stop using the data, delete it, or nothing.
RequiredAction = Literal["stop", "delete", "nothing"]

# The time, injected: tests travel through it instead of sleeping.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeletionPolicy:
    """The settings of obligations: the deadline (GDPR Art. 12(3): within one month), the
    reminder before it, the grace after it before suspension, and the customer reminders."""

    deadline: timedelta = timedelta(days=30)
    reminder_before: timedelta = timedelta(days=7)
    grace: timedelta = timedelta(days=7)
    expiry_notice: timedelta = timedelta(days=7)
    reminder_every: timedelta = timedelta(days=90)


class DeletionObligation(msgspec.Struct, frozen=True, kw_only=True):
    """What a partner owes once a grant ended or narrowed, and its confirmation."""

    id: str
    grant_id: str
    partner_id: str
    customer_id: str
    # The customer's jurisdiction: its regulator sees the obligation (the grant's receipt
    # already names it to the partner).
    jurisdiction: str
    cause: ObligationCause
    categories: tuple[str, ...]
    records_released: int
    # The span of the data released: the earliest record, and the last read of it.
    data_from: datetime | None
    data_to: datetime | None
    state: ObligationState
    opened_at: datetime
    due_at: datetime
    confirmed_at: datetime | None = None
    method: DeletionMethod | None = None
    statement: str | None = None
    completed_at: datetime | None = None
    # Whether the confirmation came after the deadline (None until confirmed).
    late: bool | None = None
    # The signed confirmation receipt (a compact JWS), once confirmed.
    receipt: str | None = None


class Deletion(msgspec.Struct, frozen=True, kw_only=True):
    """An obligation as the customer sees it on the ended grant."""

    obligation_id: str
    grant_id: str
    partner_id: str
    cause: ObligationCause
    categories: tuple[str, ...]
    records_released: int
    state: ObligationState
    due_at: datetime
    confirmed: bool
    confirmed_at: datetime | None
    method: DeletionMethod | None
    completed_at: datetime | None
    receipt_url: str | None


class CustomerGrant(Grant, frozen=True, kw_only=True):
    """A grant as its customer sees it: once it ended or narrowed, what the partner owes and
    whether it confirmed deletion (`deletion`, one entry per obligation)."""

    deletion: tuple[Deletion, ...] = ()

    @classmethod
    def of(cls, grant: Grant, deletion: tuple[Deletion, ...]) -> CustomerGrant:
        return cls(**msgspec.structs.asdict(grant), deletion=deletion)


class PartnerSuspension(msgspec.Struct, frozen=True, kw_only=True):
    """A partner's standing on deletions, for the operator."""

    partner_id: str
    status: str
    suspended_reason: str | None
    suspended_at: datetime | None
    suspension_lifted_until: datetime | None
    open_obligations: int
    overdue_obligations: int


class PartnerDeletionMetrics(msgspec.Struct, frozen=True, kw_only=True):
    partner_id: str
    partner_name: str
    opened: int
    confirmed_in_time: int
    confirmed_late: int
    open_overdue: int
    median_seconds_to_confirm: float | None


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a person should be told, in their language."""

    id: str
    kind: str
    language: str
    title: str
    body: str
    params: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None  # when the customer marked it (or a later one) read


class StoredNotification(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    kind: str
    params: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None


class NotificationsRead(msgspec.Struct, frozen=True, kw_only=True):
    """What marking the feed read did: how many it marked, and how many are still unread."""

    marked: int
    unread: int


class NewNotification(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    jurisdiction: str
    kind: str
    params: dict[str, Any]
    dedupe_key: str | None = None


class Released(msgspec.Struct, frozen=True, kw_only=True):
    records: int
    data_from: datetime | None
    data_to: datetime | None


class GrantReminder(msgspec.Struct, frozen=True, kw_only=True):
    """A live grant to tell its customer about (expiry soon, or the periodic reminder)."""

    grant_id: str
    customer_id: str
    jurisdiction: str
    partner_name: str
    purposes: tuple[str, ...]
    granted_at: datetime
    expires_at: datetime
    period: int = 0


class SuspendedPartner(msgspec.Struct, frozen=True, kw_only=True):
    partner_id: str
    jurisdictions: tuple[str, ...]
    overdue: int
