"""A grant's chain of consent receipts: the acceptance's, then one signed receipt per state
change, each naming the hash of the one before it (docs/receipts.md)."""

from __future__ import annotations

from typing import Any

from .models import Grant
from .receipts import EVENT_OF_STATUS, EVENTS, ReceiptSigner, event_claims, receipt_hash
from .receipts import unverified_claims as _claims
from .repository import OffersRepository


class ReceiptChain:
    """Appends a grant's state-change receipts, in the transaction of the change itself."""

    def __init__(self, signer: ReceiptSigner):
        self.signer = signer

    async def record(self, uow: Any, grant: Grant) -> None:
        """Signs and stores the receipt of the change that left `grant` in its status (the
        grant row is locked by that change, so one chain never forks)."""
        repo = uow.repository(OffersRepository)
        event_type = EVENT_OF_STATUS[grant.status]
        index, previous = await repo.last_receipt(grant.customer_id, grant.id)
        previous_hash = receipt_hash(previous)
        at = grant.updated_at
        receipt = self.signer.sign(
            event_claims(
                original=_claims(grant.receipt),
                issuer=self.signer.issuer,
                index=index + 1,
                event_type=event_type,
                at=at,
                previous_hash=previous_hash,
                grant={
                    "id": grant.id,
                    "status": grant.status,
                    "granted_at": grant.granted_at.isoformat(),
                    "expires_at": grant.expires_at.isoformat(),
                },
            )
        )
        await repo.append_receipt(
            grant.customer_id,
            grant.id,
            index + 1,
            event_type,
            EVENTS[event_type][0],
            previous_hash,
            receipt,
            at,
        )
