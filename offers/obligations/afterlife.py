"""What happens, inside the unit of work of the act itself, when a grant ends or narrows: the
deletion obligation opens (or closes at once when nothing was ever released), the audit log
records it, the partner is told what it must do, and the customer is told why.

Used by the consent service (revoke, expiry), the data space (erasure, account closure) and
the obligations service (confirmations, the sweep): one shape for every cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger.audit import AuditLog
from sql import UnitOfWork

from ..models import Grant
from ..webhook_repository import WebhookRepository
from .messages import language_for, render
from .models import (
    Clock,
    DeletionObligation,
    DeletionPolicy,
    NewNotification,
    RequiredAction,
    system_clock,
)
from .repository import ObligationsRepository

NOTIFICATION_CREATED = "notification.created"


def obligation_data(o: DeletionObligation, action: RequiredAction = "delete") -> dict[str, Any]:
    """A deletion event's data for the partner that owes it."""
    return {
        "obligation_id": o.id,
        "grant_id": o.grant_id,
        "customer_id": o.customer_id,
        "cause": o.cause,
        "categories": list(o.categories),
        "records_released": o.records_released,
        "data_from": _iso(o.data_from),
        "data_to": _iso(o.data_to),
        "state": o.state,
        "due_at": o.due_at.isoformat(),
        "required_action": action,
        "confirm_url": f"/v1/partner/deletion-obligations/{o.id}/confirm",
    }


def obligation_entry(o: DeletionObligation, **extra: Any) -> dict[str, Any]:
    """AuditLog.append's keywords for an obligation event, in the customer's jurisdiction."""
    return {
        "jurisdictions": [o.jurisdiction],
        "partner_id": o.partner_id,
        "customer_id": o.customer_id,
        "obligation_id": o.id,
        "grant_id": o.grant_id,
        "cause": o.cause,
        "categories": list(o.categories),
        "records_released": o.records_released,
        "due_at": o.due_at.isoformat(),
        "outcome": o.state,
        **extra,
    }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


class Afterlife:
    """Opens obligations and tells people; every method runs in the caller's unit of work."""

    def __init__(self, clock: Clock = system_clock, policy: DeletionPolicy | None = None):
        self.clock = clock
        self.policy = policy or DeletionPolicy()

    async def grant_ended(
        self,
        uow: UnitOfWork,
        grant: Grant,
        jurisdiction: str,
        *,
        event: str,
        cause: str,
        categories: Sequence[str] | None = None,
        reason: str | None = None,
    ) -> DeletionObligation:
        """The grant ended (or, with `categories`, lost those): its obligation, the partner's
        grant event saying what to do, the deletion event, the customer's notification."""
        cats = list(categories or grant.categories)
        repo = uow.repository(ObligationsRepository)
        # The reads are found through the pseudonym: close_account ends the grants first.
        subject = await uow.repository(AuditLog).subject(grant.customer_id)
        released = await repo.released(grant.customer_id, subject, grant.id, cats)
        now = self.clock()
        o = await repo.insert(
            grant=grant,
            jurisdiction=jurisdiction,
            cause=cause,
            categories=cats,
            released=released,
            opened_at=now,
            due_at=now + self.policy.deadline,
        )
        owed = o.state == "open"
        await uow.repository(AuditLog).append(
            "deletion.required" if owed else "deletion.not_required",
            **obligation_entry(o),
        )
        webhooks = uow.repository(WebhookRepository)
        extra: dict[str, Any] = {"required_action": "delete" if owed else "nothing"}
        if reason is not None:
            extra["reason"] = reason
        if event == "grant.narrowed":
            extra["categories_removed"] = cats
        if owed:
            extra["obligation_id"] = o.id
            extra["deletion_due_at"] = o.due_at.isoformat()
        await webhooks.grant_event(event, grant, **extra)
        if owed:
            await webhooks.record_event(grant.partner_id, "deletion.required", obligation_data(o))
        if cause != "account_closed":  # a closed account has no one left to tell
            partner_name, _ = await repo.grant_context(grant.id)
            kind = "grant.narrowed" if event == "grant.narrowed" else "grant.ended"
            await self.notify(
                uow,
                [
                    NewNotification(
                        customer_id=grant.customer_id,
                        jurisdiction=jurisdiction,
                        kind=kind,
                        params={
                            "grant_id": grant.id,
                            "partner_name": partner_name,
                            "reason": cause,
                            "categories": cats,
                            "obligation_id": o.id,
                            "obligation_state": o.state,
                            "due_at": o.due_at.isoformat(),
                        },
                    )
                ],
            )
        return o

    async def notify(self, uow: UnitOfWork, rows: list[NewNotification]) -> int:
        """Stores notifications (a dedupe key already used is skipped; closed accounts get
        none) and forwards each to the operator's `notification.created` endpoints, rendered
        in the customer's language. Returns how many were stored."""
        stored = await uow.repository(ObligationsRepository).insert_notifications(
            rows, self.clock()
        )
        if not stored:
            return 0
        language = {n.customer_id: language_for(n.jurisdiction) for n in rows}
        events = []
        for s in stored:
            lang = language[s.customer_id]
            title, body = render(s.kind, s.params, lang)
            events.append(
                {
                    "notification_id": s.id,
                    "customer_id": s.customer_id,
                    "kind": s.kind,
                    "language": lang,
                    "title": title,
                    "body": body,
                    "params": s.params,
                    "created_at": s.created_at.isoformat(),
                }
            )
        await uow.repository(WebhookRepository).record_operator_events(NOTIFICATION_CREATED, events)
        return len(stored)
