"""Partner webhook events: their types, and the data each carries.

Events are written in the transaction of the consent event they announce
(`WebhookRepository.record_event`): the delivery job exists if and only if the transaction
commits, and the customer's call never waits for a partner's server.
"""

from __future__ import annotations

from typing import Any

from .models import Grant

DELIVER_ENTRYPOINT = "deliver_webhook"
EVENT_TYPES: tuple[str, ...] = (
    "grant.created",
    "grant.paused",
    "grant.resumed",
    "grant.revoked",
    "grant.expired",
    "grant.narrowed",
    "customer.data_erased",
    "deletion.required",
    "deletion.due_soon",
    "deletion.overdue",
)
# The operator's own events: what customers are told, to forward to its channels.
OPERATOR_EVENT_TYPES: tuple[str, ...] = ("notification.created",)


def grant_event_data(grant: Grant, **extra: Any) -> dict[str, Any]:
    """A grant event's data, for the partner holding the grant (its own grant: the customer
    id is ok to tell)."""
    return {
        "grant_id": grant.id,
        "offer_id": grant.offer_id,
        "offer_version": grant.offer_version,
        "customer_id": grant.customer_id,
        "status": grant.status,
        **extra,
    }
