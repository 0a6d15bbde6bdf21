"""The Idempotency-Key store, on one connection: the HTTP edge's own table.

It lives in `marketplace.http` beside its middleware because it holds HTTP answers (a status
and the response bytes, per principal and key): no domain package knows about them. A row is
written only with its answer, in the transaction of the request's effect.
"""

from __future__ import annotations

import asyncpg
import msgspec

from sql import load_queries

Q = load_queries("idempotency.sql")


class StoredAnswer(msgspec.Struct, frozen=True):
    """The first request's hash and the answer it got."""

    request_hash: str
    status: int
    body: bytes


class IdempotencyRepository:
    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    async def stored(self, principal: str, key: str) -> StoredAnswer | None:
        row = await self._conn.fetchrow(Q["get"], principal, key)
        if row is None:
            return None
        return StoredAnswer(
            request_hash=row["request_hash"],
            status=row["response_status"],
            body=bytes(row["response_body"]),
        )

    async def record(
        self, principal: str, key: str, request_hash: str, status: int, body: bytes
    ) -> bool:
        """Stores the answer in the current transaction; False when another attempt with the
        key committed first (this one must then roll back)."""
        try:
            inserted = await self._conn.fetchval(
                Q["record"], principal, key, request_hash, status, body
            )
        except asyncpg.SerializationError:  # REPEATABLE READ: the other attempt's row is newer
            return False
        return inserted is not None
