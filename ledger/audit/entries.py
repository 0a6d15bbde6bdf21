"""Appending to the audit log, inside the caller's transaction (no action without its entry)."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any

from sql import load_queries

from .canonical import canonical_json
from .repository import Connection

Q = load_queries("audit.sql")

PSEUDONYM_PREFIX = "psn_"


def pseudonym(secret: bytes, customer_id: str) -> str:
    """The customer's keyed pseudonym: HMAC-SHA256 under their own audit key."""
    return PSEUDONYM_PREFIX + hmac.new(secret, customer_id.encode(), hashlib.sha256).hexdigest()


class AuditLog:
    """Writes audit entries on one connection; the caller owns the transaction.

    An entry holds no personal data: ids of partners, offers, grants and money, codes, and the
    customer only as a pseudonym. Its canonical JSON is stored as written and is what the
    Merkle leaf hashes. Every entry reaches the table through the database's one writer,
    `append_audit_entries` (migration 0008), as do the statements that append entries
    together with their action (`ledger_post`, `claim_slot_and_grant`, `record_decisions`).
    """

    def __init__(self, conn: Connection):
        self.conn = conn

    async def create_customer_key(self, customer_id: str) -> None:
        await self.conn.execute(Q["create_customer_audit_key"], customer_id, os.urandom(32))

    async def subject(self, customer_id: str) -> str | None:
        """The pseudonym of a customer, or None once their key was destroyed (erasure)."""
        secret = await self.conn.fetchval(Q["customer_audit_key"], customer_id)
        return pseudonym(bytes(secret), customer_id) if secret is not None else None

    async def append(
        self,
        kind: str,
        *,
        jurisdictions: list[str] | tuple[str, ...] = (),
        partner_id: str | None = None,
        customer_id: str | None = None,
        subject: str | None = None,
        category: str | None = None,
        outcome: str | None = None,
        at: datetime | None = None,
        **details: Any,
    ) -> None:
        """Appends one entry. Pass `customer_id` (turned into its pseudonym) or `subject`."""
        if customer_id is not None and subject is None:
            subject = await self.subject(customer_id)
        await self.conn.execute(
            Q["append"],
            *entry_row(
                kind,
                jurisdictions=jurisdictions,
                partner_id=partner_id,
                subject=subject,
                category=category,
                outcome=outcome,
                at=at,
                **details,
            ),
        )


def entry_time(t: datetime) -> str:
    """An instant as entries write it: ISO 8601, UTC as `Z`."""
    return t.isoformat().replace("+00:00", "Z")


def entry_row(
    kind: str,
    *,
    jurisdictions: list[str] | tuple[str, ...] = (),
    partner_id: str | None = None,
    subject: str | None = None,
    category: str | None = None,
    outcome: str | None = None,
    at: datetime | None = None,
    **details: Any,
) -> tuple[Any, ...]:
    """The columns of one entry, in the order of the `append` query (kind, at, jurisdictions,
    partner_id, subject, category, outcome, entry): for callers that insert entries themselves,
    in bulk, inside their own statement (still one transaction with their action)."""
    at = at or datetime.now(UTC)
    entry = {
        "kind": kind,
        "at": entry_time(at),
        "jurisdictions": sorted(jurisdictions) or None,
        "partner_id": partner_id,
        "subject": subject,
        "category": category,
        "outcome": outcome,
        **details,
    }
    body = canonical_json({k: v for k, v in entry.items() if v is not None}).decode()
    return kind, at, sorted(jurisdictions), partner_id, subject, category, outcome, body
