"""SQL of the sealer and of the log's readers; the only place their asyncpg.Records exist.
Every method returns Structs of `models.py` (or scalars)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from sql import load_queries

from .models import (
    AccessLogItem,
    DayActivity,
    DayGrantCounts,
    DayInsights,
    DecisionCount,
    SealedEntry,
    SealerState,
    StoredCheckpoint,
    UnsealedEntry,
)

Q = load_queries("audit_seal.sql")

# What the log's writer (AuditLog) is built on: one connection, its transaction owned by the
# caller's unit of work.
Connection = asyncpg.Connection

# The sealer's advisory lock (transaction-scoped): one sealer at a time, writers never wait.
SEALER_LOCK = 727_401_2027

_entry_json = msgspec.json.Decoder(dict[str, Any])


class AuditRepository:
    """Wraps one connection; the service owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def try_lock_sealer(self) -> bool:
        return bool(await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", SEALER_LOCK))

    async def state(self) -> SealerState:
        r = await self.conn.fetchrow(Q["lock_state"])
        return SealerState(
            tree_size=r["tree_size"],
            frontier=[bytes(h) for h in r["frontier"]],
            watermark=r["watermark"],
            last_txid=r["last_txid"],
            last_entry_id=r["last_entry_id"],
        )

    async def next_to_seal(self, state: SealerState, limit: int) -> tuple[list[UnsealedEntry], str]:
        """Entries to seal next, and the snapshot's xmin (an xid8, as text)."""
        rows = await self.conn.fetch(
            Q["next_to_seal"], state.watermark, state.last_txid, state.last_entry_id, limit
        )
        horizon: str = rows[0]["xmin"] if rows else await self.conn.fetchval(Q["horizon"])
        entries = [
            UnsealedEntry(id=r["id"], at=r["at"], txid=r["txid"], entry=r["entry"]) for r in rows
        ]
        return entries, horizon

    async def insert_leaves(
        self, first: int, entries: list[UnsealedEntry], hashes: list[bytes]
    ) -> None:
        indices = list(range(first, first + len(entries)))
        await self.conn.execute(
            Q["insert_leaves"], indices, [e.id for e in entries], [e.at for e in entries], hashes
        )

    async def insert_checkpoint(self, size: int, root: bytes, note: str) -> None:
        await self.conn.execute(Q["insert_checkpoint"], size, root, note)

    async def update_state(
        self, size: int, frontier: list[bytes], watermark: str, last_txid: str, last_id: int
    ) -> None:
        await self.conn.execute(Q["update_state"], size, frontier, watermark, last_txid, last_id)

    async def unsealed_count(self) -> int:
        return await self.conn.fetchval(Q["unsealed_count"])

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        r = await self.conn.fetchrow(Q["latest_checkpoint"])
        if r is None:
            return None
        return StoredCheckpoint(
            tree_size=r["tree_size"],
            root_hash=bytes(r["root_hash"]),
            note=r["note"],
            sealed_at=r["sealed_at"],
        )

    async def leaves(self, start: int, end: int) -> tuple[list[bytes | None], list[int]]:
        hashes: list[bytes | None] = [None] * (end - start)
        missing = []
        for r in await self.conn.fetch(Q["leaves"], start, end):
            hashes[r["leaf_index"] - start] = bytes(r["leaf_hash"])
            if r["entry_missing"]:
                missing.append(r["leaf_index"])
        return hashes, missing

    async def leaf_hashes_from(self, start: int) -> list[tuple[int, bytes]]:
        rows = await self.conn.fetch(Q["leaf_hashes_from"], start)
        return [(r["leaf_index"], bytes(r["leaf_hash"])) for r in rows]

    async def entries(
        self, jurisdictions: list[str], filters: dict[str, Any], limit: int | None
    ) -> list[SealedEntry]:
        rows = await self.conn.fetch(Q["entries"], *_args(jurisdictions, filters, limit))
        return [_sealed(r) for r in rows]

    async def entries_cursor(
        self, jurisdictions: list[str], filters: dict[str, Any]
    ) -> AsyncIterator[SealedEntry]:
        """Every matching entry from a server-side cursor (the caller holds a transaction
        open while iterating)."""
        args = _args(jurisdictions, filters, None)
        async for r in self.conn.cursor(Q["entries"], *args, prefetch=1000):
            yield _sealed(r)

    async def access_log(
        self,
        subject: str,
        before: int | None,
        limit: int,
        partner_id: str | None,
        outcome: str | None,
    ) -> list[AccessLogItem]:
        rows = await self.conn.fetch(Q["access_log"], subject, before, limit, partner_id, outcome)
        return [_access_item(r) for r in rows]

    async def grant_metrics(
        self, start: datetime, end: datetime, jurisdictions: list[str]
    ) -> list[DayGrantCounts]:
        rows = await self.conn.fetch(Q["grant_metrics"], start, end, jurisdictions)
        return [
            DayGrantCounts(
                day_start=r["day_start"],
                active=r["active"],
                new=r["new"],
                revoked=r["revoked"],
                expired=r["expired"],
            )
            for r in rows
        ]

    async def activity_metrics(
        self, start: datetime, end: datetime, jurisdictions: list[str]
    ) -> dict[str, DayActivity]:
        """Per UTC date (ISO), the day's erasures, exports, closures and payouts."""
        rows = await self.conn.fetch(Q["activity_metrics"], start, end, jurisdictions)
        return {
            r["day_start"].date().isoformat(): DayActivity(
                erasures=r["erasures"],
                exports=r["exports"],
                accounts_closed=r["accounts_closed"],
                payouts=r["payouts"],
            )
            for r in rows
        }

    async def decision_metrics(
        self, start: datetime, end: datetime, jurisdictions: list[str]
    ) -> list[DecisionCount]:
        rows = await self.conn.fetch(Q["decision_metrics"], start, end, jurisdictions)
        return [
            DecisionCount(
                day_start=r["day_start"],
                outcome=r["outcome"],
                reason=r["reason"],
                is_total=bool(r["is_total"]),
                n=r["n"],
            )
            for r in rows
        ]

    async def insight_metrics(
        self, start: datetime, end: datetime, jurisdictions: list[str]
    ) -> list[tuple[datetime, DayInsights]]:
        rows = await self.conn.fetch(Q["insight_metrics"], start, end, jurisdictions)
        return [
            (
                r["day_start"],
                DayInsights(
                    jurisdiction=r["jurisdiction"],
                    releases=r["releases"],
                    epsilon=float(r["epsilon"]),
                    cells=r["cells"],
                    suppressed_cells=r["suppressed_cells"],
                ),
            )
            for r in rows
        ]


def _args(jurisdictions: list[str], f: dict[str, Any], limit: int | None) -> list[Any]:
    return [
        jurisdictions,
        f.get("starting_after", -1),
        f.get("before"),
        f.get("from"),
        f.get("to"),
        f.get("kind"),
        f.get("partner_id"),
        f.get("category"),
        f.get("outcome"),
        f.get("subject"),
        limit,
        f.get("rule"),
    ]


def _sealed(r: asyncpg.Record) -> SealedEntry:
    return SealedEntry(
        leaf_index=r["leaf_index"],
        id=r["id"],
        kind=r["kind"],
        at=r["at"],
        jurisdictions=list(r["jurisdictions"]),
        partner_id=r["partner_id"],
        subject=r["subject"],
        category=r["category"],
        outcome=r["outcome"],
        entry=r["entry"],
    )


def _access_item(r: asyncpg.Record) -> AccessLogItem:
    body = _entry_json.decode(r["entry"])
    reasons = body.get("reasons")
    return AccessLogItem(
        id=r["id"],
        kind=r["kind"],
        at=r["at"],
        partner_id=r["partner_id"],
        category=r["category"],
        outcome=r["outcome"],
        purpose=body.get("purpose"),
        reasons=[str(x) for x in reasons] if isinstance(reasons, list) else [],
        grant_id=body.get("grant_id"),
    )
