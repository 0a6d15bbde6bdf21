"""SQL of the data-access path: decision context, records, decisions (the caller owns the tx)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from policies import GrantView
from sql import load_queries

from .access_models import AccessContext, IngestingCustomer, Record

Q = load_queries("access.sql")
DECISION_COLUMNS = 13  # record_decisions' decision arrays, $1..$13
ENTRY_COLUMNS = 8  # and its audit entry arrays, $14..$21


def _columns(rows: Sequence[tuple], width: int) -> list[list]:
    """Rows as the statement's per-column arrays (empty arrays for no rows)."""
    return [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width)]


class _Pair(msgspec.Struct, frozen=True):
    category: str
    purpose: str


_pairs = msgspec.json.Decoder(list[_Pair]).decode


def _excluded(text: str | None) -> frozenset[tuple[str, str]]:
    """The (category, purpose) pairs of a grant's `exclusions` (most grants have none)."""
    if text is None or text == "[]":
        return frozenset()
    return frozenset((p.category, p.purpose) for p in _pairs(text))


def _context(rows: Sequence[asyncpg.Record], partner_id: str) -> AccessContext:
    first = rows[0]
    secret = first["secret"]
    return AccessContext(
        at=first["at"],
        decision_id=first["decision_id"],
        partner_status=first["partner_status"],
        customer_id=first["customer_id"],
        jurisdiction=first["jurisdiction"],
        birth_date=first["birth_date"],
        audit_secret=bytes(secret) if secret is not None else None,
        snapshot=first["snapshot"],
        grants=tuple(
            GrantView(
                grant_id=r["grant_id"],
                partner_id=partner_id,  # the query returns only this partner's grants
                status=r["status"],
                categories=tuple(r["categories"]),
                purposes=tuple(r["purposes"]),
                granted_at=r["granted_at"],
                expires_at=r["expires_at"],
                lookback_days=r["lookback_days"],
                excluded=_excluded(r["exclusions"]),
            )
            for r in rows
            if r["grant_id"] is not None
        ),
    )


def _record(r: asyncpg.Record) -> Record:
    return Record(
        id=r["id"],
        category=r["category"],
        recorded_at=r["recorded_at"],
        source=r["source"],
        payload=msgspec.Raw(r["payload"].encode()),
    )


class AccessRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def read(
        self,
        partner_id: str,
        customer_id: str,
        category: str,
        purpose: str,
        starting_after: str | None,
        limit: int,
    ) -> tuple[AccessContext, list[Record]] | None:
        """The decision's context and, when a grant of this partner could cover the read, the
        newest `limit` records of the category as far back as any such grant reaches (the
        caller narrows them to the decided window); None when the partner does not exist."""
        rows = await self.conn.fetch(
            Q["partner_read"], partner_id, customer_id, category, purpose, starting_after, limit
        )
        context = [r for r in rows if r["decision_id"] is not None]
        if not context:
            return None
        records = [
            Record(
                id=r["record_id"],
                category=category,
                recorded_at=r["recorded_at"],
                source=r["source"],
                payload=msgspec.Raw(r["payload"].encode()),
            )
            for r in rows
            if r["record_id"] is not None
        ]
        return _context(context, partner_id), records

    async def record_decisions(
        self, rows: Sequence[tuple[tuple | None, tuple | None]], *, audit: bool = True
    ) -> None:
        """Decisions, each as (its decisions row, its audit entry), in one statement: a
        decision with an entry is recorded as that entry alone (its row may be None), one
        without as its row
        (rows: the decisions columns, reasons and rule_ids as JSON text; entries:
        ledger.audit.entry_row, jurisdictions as JSON text). `audit=False` exists for the
        benchmark's audit-off baseline only: every decision as a row, no entry."""
        decisions = [d for d, e in rows if d is not None and (e is None or not audit)]
        entries = [e for _, e in rows if e is not None and audit]
        await self.conn.execute(
            Q["record_decisions"],
            *_columns(decisions, DECISION_COLUMNS),
            *_columns(entries, ENTRY_COLUMNS),
        )

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, IngestingCustomer]:
        """The customers among these ids that exist, by id."""
        rows = await self.conn.fetch(Q["existing_customers"], list(customer_ids))
        return {
            r["id"]: IngestingCustomer(
                jurisdiction=r["jurisdiction"],
                audit_secret=bytes(r["secret"]) if r["secret"] is not None else None,
            )
            for r in rows
        }

    async def baseline_records(self, customer_id: str, category: str) -> list[Record]:
        """The benchmark's one-SELECT baseline (bench/bench_access.py): no decision."""
        rows = await self.conn.fetch(Q["baseline_records"], customer_id, category)
        return [_record(r) for r in rows]
