"""SQL of deletion obligations, overdue suspensions and notifications. The only place an
asyncpg.Record exists for them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import asyncpg
import msgspec

from sql import load_queries

from ..models import Grant
from ..repository import grant_from_row
from .models import (
    DeletionObligation,
    GrantReminder,
    NewNotification,
    NotificationsRead,
    PartnerDeletionMetrics,
    PartnerSuspension,
    Released,
    StoredNotification,
    SuspendedPartner,
)

Q = load_queries("obligations.sql")


def _obligation(r: asyncpg.Record) -> DeletionObligation:
    confirmed = r["confirmed_at"]
    return DeletionObligation(
        id=r["id"],
        grant_id=r["grant_id"],
        partner_id=r["partner_id"],
        customer_id=r["customer_id"],
        jurisdiction=r["jurisdiction"],
        cause=r["cause"],
        categories=tuple(r["categories"]),
        records_released=r["records_released"],
        data_from=r["data_from"],
        data_to=r["data_to"],
        state=r["state"],
        opened_at=r["opened_at"],
        due_at=r["due_at"],
        confirmed_at=confirmed,
        method=r["method"],
        statement=r["statement"],
        completed_at=r["completed_at"],
        late=(confirmed > r["due_at"]) if confirmed is not None else None,
        receipt=r["receipt"],
    )


def _stored(r: asyncpg.Record) -> StoredNotification:
    return StoredNotification(
        id=r["id"],
        customer_id=r["customer_id"],
        kind=r["kind"],
        params=json.loads(r["params"]),
        created_at=r["created_at"],
        read_at=r.get("read_at"),
    )


def _reminder(r: asyncpg.Record, period: int = 0) -> GrantReminder:
    return GrantReminder(
        grant_id=r["id"],
        customer_id=r["customer_id"],
        jurisdiction=r["jurisdiction"],
        partner_name=r["partner_name"],
        purposes=tuple(r["purposes"]),
        granted_at=r["granted_at"],
        expires_at=r["expires_at"],
        period=period,
    )


class ObligationsRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def released(
        self, customer_id: str, subject: str | None, grant_id: str, categories: list[str]
    ) -> Released:
        """What the grant released, from its reads' audit entries (`subject`: the customer's
        pseudonym; None, once the key is destroyed, finds none)."""
        r = await self.conn.fetchrow(Q["released"], customer_id, grant_id, categories, subject)
        assert r is not None  # an aggregate always returns its row
        return Released(records=r["records"], data_from=r["data_from"], data_to=r["data_to"])

    async def insert(
        self,
        *,
        grant: Grant,
        jurisdiction: str,
        cause: str,
        categories: list[str],
        released: Released,
        opened_at: datetime,
        due_at: datetime,
    ) -> DeletionObligation:
        r = await self.conn.fetchrow(
            Q["insert_obligation"],
            grant.id,
            grant.partner_id,
            grant.customer_id,
            jurisdiction,
            cause,
            categories,
            released.records,
            released.data_from,
            released.data_to,
            "open" if released.records else "not_required",
            opened_at,
            due_at,
        )
        assert r is not None  # INSERT … RETURNING always returns its row
        return _obligation(r)

    async def list_for_partner(
        self, partner_id: str, state: str | None, starting_after: str | None, limit: int
    ) -> list[DeletionObligation]:
        rows = await self.conn.fetch(
            Q["partner_obligations"], partner_id, state, starting_after, limit
        )
        return [_obligation(r) for r in rows]

    async def get_for_partner(
        self, obligation_id: str, partner_id: str
    ) -> DeletionObligation | None:
        r = await self.conn.fetchrow(Q["partner_obligation"], obligation_id, partner_id)
        return _obligation(r) if r else None

    async def lock_for_partner(
        self, obligation_id: str, partner_id: str
    ) -> DeletionObligation | None:
        r = await self.conn.fetchrow(Q["lock_partner_obligation"], obligation_id, partner_id)
        return _obligation(r) if r else None

    async def confirm(
        self,
        obligation_id: str,
        *,
        at: datetime,
        method: str,
        statement: str,
        completed_at: datetime,
        receipt: str,
    ) -> DeletionObligation:
        r = await self.conn.fetchrow(
            Q["confirm_obligation"], obligation_id, at, method, statement, completed_at, receipt
        )
        assert r is not None  # locked open by lock_for_partner in this transaction
        return _obligation(r)

    async def for_grants(self, grant_ids: list[str]) -> list[DeletionObligation]:
        return [_obligation(r) for r in await self.conn.fetch(Q["grant_obligations"], grant_ids)]

    async def get_for_customer(
        self, obligation_id: str, customer_id: str
    ) -> DeletionObligation | None:
        r = await self.conn.fetchrow(Q["customer_obligation"], obligation_id, customer_id)
        return _obligation(r) if r else None

    async def for_customer(self, customer_id: str, limit: int) -> list[DeletionObligation]:
        rows = await self.conn.fetch(Q["customer_obligations"], customer_id, limit)
        return [_obligation(r) for r in rows]

    async def mark_due_soon(
        self, now: datetime, before: timedelta, batch: int
    ) -> list[DeletionObligation]:
        return [_obligation(r) for r in await self.conn.fetch(Q["due_soon"], now, before, batch)]

    async def mark_overdue(self, now: datetime, batch: int) -> list[DeletionObligation]:
        return [_obligation(r) for r in await self.conn.fetch(Q["overdue"], now, batch)]

    async def suspend_overdue_partners(
        self, now: datetime, grace: timedelta
    ) -> list[SuspendedPartner]:
        rows = await self.conn.fetch(Q["suspend_overdue_partners"], now, grace)
        return [
            SuspendedPartner(
                partner_id=r["id"], jurisdictions=tuple(r["jurisdictions"]), overdue=r["overdue"]
            )
            for r in rows
        ]

    async def reinstate_if_clear(self, partner_id: str, now: datetime, grace: timedelta) -> bool:
        return await self.conn.fetchval(Q["reinstate_if_clear"], partner_id, now, grace) is not None

    async def lift_suspension(self, partner_id: str, until: datetime) -> bool:
        return await self.conn.fetchval(Q["lift_suspension"], partner_id, until) is not None

    async def partner_status(self, partner_id: str, now: datetime) -> PartnerSuspension | None:
        r = await self.conn.fetchrow(Q["partner_deletion_status"], partner_id, now)
        if r is None:
            return None
        return PartnerSuspension(
            partner_id=r["id"],
            status=r["status"],
            suspended_reason=r["suspended_reason"],
            suspended_at=r["suspended_at"],
            suspension_lifted_until=r["suspension_lifted_until"],
            open_obligations=r["open"],
            overdue_obligations=r["overdue"],
        )

    async def metrics(
        self, jurisdictions: list[str], now: datetime
    ) -> list[PartnerDeletionMetrics]:
        rows = await self.conn.fetch(Q["metrics"], jurisdictions, now)
        return [
            PartnerDeletionMetrics(
                partner_id=r["partner_id"],
                partner_name=r["partner_name"],
                opened=r["opened"],
                confirmed_in_time=r["confirmed_in_time"],
                confirmed_late=r["confirmed_late"],
                open_overdue=r["open_overdue"],
                median_seconds_to_confirm=r["median_seconds_to_confirm"],
            )
            for r in rows
        ]

    # -- notifications -----------------------------------------------------------------------

    async def insert_notifications(
        self, rows: list[NewNotification], at: datetime
    ) -> list[StoredNotification]:
        if not rows:
            return []
        stored = await self.conn.fetch(
            Q["insert_notifications"],
            [n.customer_id for n in rows],
            [n.kind for n in rows],
            [msgspec.json.encode(n.params).decode() for n in rows],
            [n.dedupe_key for n in rows],
            [at] * len(rows),
        )
        return [_stored(r) for r in stored]

    async def list_notifications(
        self, customer_id: str, starting_after: str | None, limit: int, *, state: str | None
    ) -> list[StoredNotification]:
        rows = await self.conn.fetch(
            Q["list_notifications"], customer_id, starting_after, limit, state
        )
        return [_stored(r) for r in rows]

    async def unread_notifications(self, customer_id: str) -> int:
        return await self.conn.fetchval(Q["unread_notifications"], customer_id)

    async def mark_notifications_read(
        self, customer_id: str, up_to: str, at: datetime
    ) -> NotificationsRead | None:
        """None when `up_to` is not one of the customer's notifications."""
        row = await self.conn.fetchrow(Q["mark_notifications_read"], customer_id, up_to, at)
        return NotificationsRead(marked=row["marked"], unread=row["unread"]) if row else None

    async def forget_notifications(self, customer_id: str) -> None:
        await self.conn.execute(Q["forget_customer_notifications"], customer_id)

    async def customer_jurisdiction(self, customer_id: str) -> str | None:
        return await self.conn.fetchval(Q["customer_language"], customer_id)

    async def grants_expiring(
        self, now: datetime, within: timedelta, batch: int
    ) -> list[GrantReminder]:
        rows = await self.conn.fetch(Q["grants_expiring"], now, within, batch)
        return [_reminder(r) for r in rows]

    async def grants_to_remind(
        self, now: datetime, every: timedelta, batch: int
    ) -> list[GrantReminder]:
        rows = await self.conn.fetch(Q["grants_to_remind"], now, every, batch)
        return [_reminder(r, r["period"]) for r in rows]

    async def live_grants_of_offer(self, offer_id: str) -> list[tuple[str, str, str]]:
        """(customer id, jurisdiction, partner name) of each live grant on the offer."""
        rows = await self.conn.fetch(Q["live_grants_of_offer"], offer_id)
        return [(r["customer_id"], r["jurisdiction"], r["partner_name"]) for r in rows]

    async def grant_context(self, grant_id: str) -> tuple[str, str]:
        """(partner name, offer title) of a grant."""
        r = await self.conn.fetchrow(Q["grant_context"], grant_id)
        assert r is not None  # a grant is never deleted
        return r["partner_name"], r["title"]

    async def narrow_grants(self, customer_id: str, category: str) -> list[Grant]:
        """Removes `category` from the customer's live grants covering it and others."""
        return [
            grant_from_row(r)
            for r in await self.conn.fetch(Q["narrow_grant"], customer_id, category)
        ]
