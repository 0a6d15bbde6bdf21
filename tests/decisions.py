"""The access decisions recorded about customers, as the tests read them back: a decision about
a customer is stored once, as its `access.decision` audit entry (migration 0084)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledger.audit import AuditLog


async def recorded_decisions(db: Any, customer_id: str) -> list[dict]:
    """The customer's decisions, oldest first, each its parsed entry (found, like the access
    log finds it, through the customer's pseudonym; none once the key is destroyed)."""
    subject = await AuditLog(db).subject(customer_id)
    if subject is None:
        return []
    rows = await db.fetch(
        "SELECT entry FROM audit_entries WHERE kind = 'access.decision' AND subject = $1"
        " ORDER BY id",
        subject,
    )
    return [json.loads(r["entry"]) for r in rows]


async def decisions_by_id(db: Any, decision_ids: Sequence[str]) -> dict[str, dict]:
    """The entries of these decisions, by decision id (those not stored are absent)."""
    rows = await db.fetch(
        "SELECT entry FROM audit_entries WHERE kind = 'access.decision'"
        " AND entry::jsonb ->> 'decision_id' = ANY($1::text[])",
        list(decision_ids),
    )
    return {e["decision_id"]: e for e in (json.loads(r["entry"]) for r in rows)}


async def decision_rows(db: Any, customer_id: str) -> int:
    """How many decisions rows name this id: only an id that is no customer's gets one."""
    return await db.fetchval("SELECT count(*) FROM decisions WHERE customer_id = $1", customer_id)
