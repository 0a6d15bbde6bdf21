"""SQL of the sealer and of the log's readers; the only place their asyncpg.Records exist."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from sql import load_queries

from .models import AccessLogItem, SealedEntry, StoredCheckpoint

Q = load_queries("audit_seal.sql")

# The sealer's advisory lock (transaction-scoped): one sealer at a time, writers never wait.
SEALER_LOCK = 727_401_2027

_entry_json = msgspec.json.Decoder(dict)


class SealerState(msgspec.Struct, frozen=True):
    tree_size: int
    frontier: list[bytes]
    watermark: str
    last_txid: str
    last_entry_id: int


class AuditRepository:
    """Wraps one connection; the service owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def try_lock_sealer(self) -> bool:
        return await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", SEALER_LOCK)

    async def state(self) -> SealerState:
        r = await self.conn.fetchrow(Q["lock_state"])
        return SealerState(
            r["tree_size"], [bytes(h) for h in r["frontier"]], r["watermark"], r["last_txid"],
            r["last_entry_id"],
        )

    async def next_to_seal(
        self, state: SealerState, limit: int
    ) -> tuple[list[tuple[int, str, str]], str | None]:
        """Entries to seal next, as (id, txid, entry), and the snapshot's xmin."""
        rows = await self.conn.fetch(
            Q["next_to_seal"], state.watermark, state.last_txid, state.last_entry_id, limit
        )
        horizon = rows[0]["xmin"] if rows else await self.conn.fetchval(Q["horizon"])
        return [(r["id"], r["txid"], r["entry"]) for r in rows], horizon

    async def insert_leaves(self, first: int, entry_ids: list[int], hashes: list[bytes]) -> None:
        indices = list(range(first, first + len(entry_ids)))
        await self.conn.execute(Q["insert_leaves"], indices, entry_ids, hashes)

    async def insert_checkpoint(self, size: int, root: bytes, note: str) -> None:
        await self.conn.execute(Q["insert_checkpoint"], size, root, note)

    async def update_state(
        self, size: int, frontier: list[bytes], watermark: str, last_txid: str, last_id: int
    ) -> None:
        await self.conn.execute(Q["update_state"], size, frontier, watermark, last_txid, last_id)

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        return _checkpoint(await self.conn.fetchrow(Q["latest_checkpoint"]))

    async def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        return _checkpoint(await self.conn.fetchrow(Q["checkpoint_at"], size))

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

    async def entries(self, jurisdictions: list[str], filters: dict, limit: int | None):
        return [_sealed(r) for r in await self.conn.fetch(Q["entries"], *_args(
            jurisdictions, filters, limit))]

    def entries_cursor(self, jurisdictions: list[str], filters: dict):
        """Async iterator over every matching entry (the caller holds a transaction open)."""
        return self.conn.cursor(Q["entries"], *_args(jurisdictions, filters, None), prefetch=1000)

    async def access_log(self, subject: str, before: int | None, limit: int) -> list:
        rows = await self.conn.fetch(Q["access_log"], subject, before, limit)
        return [_access_item(r) for r in rows]

    async def grant_metrics(self, start: datetime, end: datetime, jurisdictions: list[str]):
        return await self.conn.fetch(Q["grant_metrics"], start, end, jurisdictions)

    async def decision_metrics(self, start: datetime, end: datetime, jurisdictions: list[str]):
        return await self.conn.fetch(Q["decision_metrics"], start, end, jurisdictions)


def _args(jurisdictions: list[str], f: dict, limit: int | None) -> list:
    return [
        jurisdictions, f.get("starting_after", -1), f.get("before"), f.get("from"), f.get("to"),
        f.get("kind"), f.get("partner_id"), f.get("category"), f.get("outcome"),
        f.get("subject"), limit,
    ]


def _checkpoint(r) -> StoredCheckpoint | None:
    if r is None:
        return None
    return StoredCheckpoint(
        tree_size=r["tree_size"], root_hash=bytes(r["root_hash"]), note=r["note"],
        sealed_at=r["sealed_at"],
    )


def _sealed(r) -> SealedEntry:
    return SealedEntry(
        leaf_index=r["leaf_index"], id=r["id"], kind=r["kind"], at=r["at"],
        jurisdictions=list(r["jurisdictions"]), partner_id=r["partner_id"], subject=r["subject"],
        category=r["category"], outcome=r["outcome"], entry=r["entry"],
    )


def sealed_entry(r) -> SealedEntry:
    return _sealed(r)


def _access_item(r) -> AccessLogItem:
    body = _entry_json.decode(r["entry"])
    reasons = body.get("reasons")
    return AccessLogItem(
        id=r["id"], kind=r["kind"], at=r["at"], partner_id=r["partner_id"],
        category=r["category"], outcome=r["outcome"], purpose=body.get("purpose"),
        reasons=[str(x) for x in reasons] if isinstance(reasons, list) else [],
        grant_id=body.get("grant_id"),
    )
