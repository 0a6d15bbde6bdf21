"""The obligations service: partners list and confirm deletions, customers see them and their
notifications, the sweep job sends reminders and suspends overdue partners, the operator lifts
a suspension, regulators read per-partner metrics. Each method owns one unit of work."""

from __future__ import annotations

from datetime import datetime

from ledger.audit import AuditLog
from sql import UnitOfWorkFactory

from ..errors import GrantNotFound, PartnerNotFound
from ..models import Page
from ..receipts import ReceiptSigner
from ..repository import OffersRepository
from ..webhook_repository import WebhookRepository
from .afterlife import Afterlife, obligation_data, obligation_entry
from .errors import (
    InvalidConfirmation,
    InvalidLift,
    NotificationNotFound,
    ObligationNotFound,
    ObligationNotOpen,
)
from .messages import pick_language, render
from .models import (
    CustomerGrant,
    Deletion,
    DeletionObligation,
    NewNotification,
    Notification,
    NotificationsRead,
    PartnerDeletionMetrics,
    PartnerSuspension,
)
from .repository import ObligationsRepository

SWEEP_BATCH = 500
CONFIRMATION_RECEIPT = "deletion-confirmation"


def deletion_view(o: DeletionObligation) -> Deletion:
    """An obligation as its customer sees it on the ended grant."""
    return Deletion(
        obligation_id=o.id,
        grant_id=o.grant_id,
        partner_id=o.partner_id,
        cause=o.cause,
        categories=o.categories,
        records_released=o.records_released,
        state=o.state,
        due_at=o.due_at,
        confirmed=o.state == "confirmed",
        confirmed_at=o.confirmed_at,
        method=o.method,
        completed_at=o.completed_at,
        receipt_url=(f"/v1/me/deletion-confirmations/{o.id}" if o.state == "confirmed" else None),
    )


class ObligationService:
    def __init__(self, uow: UnitOfWorkFactory, signer: ReceiptSigner, afterlife: Afterlife):
        self.uow = uow
        self.signer = signer
        self.afterlife = afterlife
        self.policy = afterlife.policy

    def now(self) -> datetime:
        return self.afterlife.clock()

    # -- partner ------------------------------------------------------------------------------

    async def list_for_partner(
        self, partner_id: str, *, state: str | None, starting_after: str | None, limit: int
    ) -> Page[DeletionObligation]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(ObligationsRepository).list_for_partner(
                partner_id, state, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def get_for_partner(self, partner_id: str, obligation_id: str) -> DeletionObligation:
        async with self.uow(transaction=False) as uow:
            o = await uow.repository(ObligationsRepository).get_for_partner(
                obligation_id, partner_id
            )
        if o is None:
            raise ObligationNotFound(f"no deletion obligation {obligation_id}", field="id")
        return o

    async def confirm(
        self,
        partner_id: str,
        obligation_id: str,
        *,
        method: str,
        statement: str,
        completed_at: datetime,
    ) -> DeletionObligation:
        """The partner's confirmation, answered with a signed receipt; a partner suspended
        for overdue deletions is reinstated once none is left past the grace period."""
        now = self.now()
        if completed_at > now:
            raise InvalidConfirmation("completed_at is in the future", field="completed_at")
        async with self.uow() as uow:
            repo = uow.repository(ObligationsRepository)
            o = await repo.lock_for_partner(obligation_id, partner_id)
            if o is None:
                raise ObligationNotFound(f"no deletion obligation {obligation_id}", field="id")
            if o.state != "open":
                raise ObligationNotOpen(
                    f"this obligation is {o.state}: there is nothing left to confirm",
                    field="id",
                )
            if o.data_to is not None and completed_at < o.data_to:
                raise InvalidConfirmation(
                    f"completed_at is before the last read of this data ({o.data_to.isoformat()})",
                    field="completed_at",
                )
            receipt = self.signer.sign(
                {
                    "iss": self.signer.issuer,
                    "sub": o.customer_id,
                    "iat": int(now.timestamp()),
                    "jti": o.id,
                    "receipt_type": CONFIRMATION_RECEIPT,
                    "partner_id": o.partner_id,
                    "grant_id": o.grant_id,
                    "jurisdiction": o.jurisdiction,
                    "obligation": {
                        "id": o.id,
                        "cause": o.cause,
                        "categories": list(o.categories),
                        "records_released": o.records_released,
                        "data_from": o.data_from.isoformat() if o.data_from else None,
                        "data_to": o.data_to.isoformat() if o.data_to else None,
                        "opened_at": o.opened_at.isoformat(),
                        "due_at": o.due_at.isoformat(),
                    },
                    "confirmation": {
                        "method": method,
                        "statement": statement,
                        "completed_at": completed_at.isoformat(),
                        "confirmed_at": now.isoformat(),
                        "late": now > o.due_at,
                    },
                }
            )
            done = await repo.confirm(
                o.id,
                at=now,
                method=method,
                statement=statement,
                completed_at=completed_at,
                receipt=receipt,
            )
            audit = uow.repository(AuditLog)
            await audit.append(
                "deletion.confirmed",
                **obligation_entry(done, method=method, late=bool(done.late)),
            )
            partner_name, _ = await repo.grant_context(o.grant_id)
            await self.afterlife.notify(
                uow,
                [
                    NewNotification(
                        customer_id=o.customer_id,
                        jurisdiction=o.jurisdiction,
                        kind="deletion.confirmed",
                        params={
                            "grant_id": o.grant_id,
                            "obligation_id": o.id,
                            "partner_name": partner_name,
                            "categories": list(o.categories),
                            "method": method,
                            "completed_at": completed_at.isoformat(),
                        },
                    )
                ],
            )
            if await repo.reinstate_if_clear(partner_id, now, self.policy.grace):
                await audit.append(
                    "partner.reinstated",
                    jurisdictions=[o.jurisdiction],
                    partner_id=partner_id,
                    outcome="active",
                    reason="deletions_confirmed",
                )
            return done

    # -- customer -----------------------------------------------------------------------------

    async def customer_grant(self, customer_id: str, grant_id: str) -> CustomerGrant:
        """The grant with, once it ended or narrowed, whether the partner confirmed deletion."""
        async with self.uow(transaction=False) as uow:
            grant = await uow.repository(OffersRepository).get_customer_grant(grant_id, customer_id)
            if grant is None:
                raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
            owed = await uow.repository(ObligationsRepository).for_grants([grant.id])
        return CustomerGrant.of(grant, tuple(deletion_view(o) for o in owed))

    async def customer_deletions(self, customer_id: str, limit: int = 100) -> list[Deletion]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(ObligationsRepository).for_customer(customer_id, limit)
        return [deletion_view(o) for o in rows]

    async def confirmation_receipt(self, customer_id: str, obligation_id: str) -> str:
        async with self.uow(transaction=False) as uow:
            o = await uow.repository(ObligationsRepository).get_for_customer(
                obligation_id, customer_id
            )
        if o is None or o.receipt is None:
            raise ObligationNotFound(
                f"no confirmed deletion {obligation_id}", field="obligation_id"
            )
        return o.receipt

    async def notifications(
        self,
        customer_id: str,
        *,
        accept_language: str | None,
        starting_after: str | None,
        limit: int,
        state: str | None = None,
    ) -> Page[Notification]:
        """Newest first; `state` "read" or "unread" keeps only those."""
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(ObligationsRepository)
            jurisdiction = await repo.customer_jurisdiction(customer_id) or ""
            rows = await repo.list_notifications(
                customer_id, starting_after, limit + 1, state=state
            )
        language = pick_language(accept_language, jurisdiction)
        data = []
        for n in rows[:limit]:
            title, body = render(n.kind, n.params, language)
            data.append(
                Notification(
                    id=n.id,
                    kind=n.kind,
                    language=language,
                    title=title,
                    body=body,
                    params=n.params,
                    created_at=n.created_at,
                    read_at=n.read_at,
                )
            )
        return Page(data=data, has_more=len(rows) > limit)

    async def unread_notifications(self, customer_id: str) -> int:
        async with self.uow(transaction=False) as uow:
            return await uow.repository(ObligationsRepository).unread_notifications(customer_id)

    async def mark_notifications_read(self, customer_id: str, up_to: str) -> NotificationsRead:
        """Marks `up_to` and every earlier notification of the customer read (the feed's
        "mark all read" names its newest); marking again changes nothing."""
        async with self.uow(transaction=False) as uow:
            done = await uow.repository(ObligationsRepository).mark_notifications_read(
                customer_id, up_to, self.now()
            )
        if done is None:
            raise NotificationNotFound(f"no notification {up_to}", field="up_to")
        return done

    # -- the sweep (a job) ----------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Reminders before deadlines, overdue notices, suspensions, and the customer's
        scheduled notifications (expiry soon, the periodic reminder). Safe to repeat: each
        step marks what it did in the same transaction."""
        now = self.now()
        counts: dict[str, int] = {}
        async with self.uow() as uow:
            repo = uow.repository(ObligationsRepository)
            webhooks = uow.repository(WebhookRepository)
            audit = uow.repository(AuditLog)
            soon = await repo.mark_due_soon(now, self.policy.reminder_before, SWEEP_BATCH)
            for o in soon:
                await webhooks.record_event(o.partner_id, "deletion.due_soon", obligation_data(o))
            late = await repo.mark_overdue(now, SWEEP_BATCH)
            told = []
            for o in late:
                await webhooks.record_event(o.partner_id, "deletion.overdue", obligation_data(o))
                await audit.append("deletion.overdue", **obligation_entry(o))
                partner_name, _ = await repo.grant_context(o.grant_id)
                told.append(
                    NewNotification(
                        customer_id=o.customer_id,
                        jurisdiction=o.jurisdiction,
                        kind="deletion.overdue",
                        params={
                            "grant_id": o.grant_id,
                            "obligation_id": o.id,
                            "partner_name": partner_name,
                            "categories": list(o.categories),
                            "due_at": o.due_at.isoformat(),
                        },
                        dedupe_key=f"overdue:{o.id}",
                    )
                )
            await self.afterlife.notify(uow, told)
            suspended = await repo.suspend_overdue_partners(now, self.policy.grace)
            for s in suspended:
                await audit.append(
                    "partner.suspended",
                    jurisdictions=list(s.jurisdictions),
                    partner_id=s.partner_id,
                    outcome="suspended",
                    reason="deletion_overdue",
                    overdue_obligations=s.overdue,
                )
            expiring = await repo.grants_expiring(now, self.policy.expiry_notice, SWEEP_BATCH)
            reminders = await repo.grants_to_remind(now, self.policy.reminder_every, SWEEP_BATCH)
            rows = [
                NewNotification(
                    customer_id=g.customer_id,
                    jurisdiction=g.jurisdiction,
                    kind="grant.expiring",
                    params={
                        "grant_id": g.grant_id,
                        "partner_name": g.partner_name,
                        "purposes": list(g.purposes),
                        "expires_at": g.expires_at.isoformat(),
                    },
                    dedupe_key=f"expiring:{g.grant_id}",
                )
                for g in expiring
            ] + [
                NewNotification(
                    customer_id=g.customer_id,
                    jurisdiction=g.jurisdiction,
                    kind="grant.reminder",
                    params={
                        "grant_id": g.grant_id,
                        "partner_name": g.partner_name,
                        "purposes": list(g.purposes),
                        "expires_at": g.expires_at.isoformat(),
                        "granted_at": g.granted_at.isoformat(),
                        "period": g.period,
                    },
                    dedupe_key=f"reminder:{g.grant_id}:{g.period}",
                )
                for g in reminders
            ]
            notified = await self.afterlife.notify(uow, rows)
        counts.update(
            due_soon=len(soon), overdue=len(late), suspended=len(suspended), notified=notified
        )
        return counts

    # -- operator -----------------------------------------------------------------------------

    async def partner_standing(self, partner_id: str) -> PartnerSuspension:
        async with self.uow(transaction=False) as uow:
            s = await uow.repository(ObligationsRepository).partner_status(partner_id, self.now())
        if s is None:
            raise PartnerNotFound(f"no partner {partner_id}", field="partner_id")
        return s

    async def lift_suspension(
        self, partner_id: str, operator: str, until: datetime | None = None
    ) -> PartnerSuspension:
        """Reinstates the partner and holds the sweep off until `until` (default: one grace
        period from now), so the operator's decision is not undone a minute later."""
        now = self.now()
        hold = until or now + self.policy.grace
        if hold <= now:
            raise InvalidLift("until must lie in the future", field="until")
        async with self.uow() as uow:
            repo = uow.repository(ObligationsRepository)
            before = await repo.partner_status(partner_id, now)
            if before is None:
                raise PartnerNotFound(f"no partner {partner_id}", field="partner_id")
            await repo.lift_suspension(partner_id, hold)
            partner = await uow.repository(OffersRepository).get_partner(partner_id)
            assert partner is not None
            await uow.repository(AuditLog).append(
                "partner.suspension_lifted",
                jurisdictions=[partner.jurisdiction],
                partner_id=partner_id,
                outcome="active",
                operator=operator,
                held_until=hold.isoformat(),
                overdue_obligations=before.overdue_obligations,
            )
            after = await repo.partner_status(partner_id, now)
            assert after is not None
            return after

    # -- regulator ----------------------------------------------------------------------------

    async def metrics(self, jurisdictions: list[str]) -> list[PartnerDeletionMetrics]:
        """The regulator's figures per partner: the replica serves them within its lag."""
        async with self.uow(transaction=False, replica="within_lag") as uow:
            return await uow.repository(ObligationsRepository).metrics(jurisdictions, self.now())
