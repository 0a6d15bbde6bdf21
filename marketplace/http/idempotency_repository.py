"""The Idempotency-Key store, on one connection: the HTTP edge's own table.

It lives in `marketplace.http` beside its middleware because it holds HTTP answers (a status
and the response bytes, per principal and key): no domain package knows about them.
"""

from __future__ import annotations

import asyncpg
import msgspec

from sql import load_queries

Q = load_queries("idempotency.sql")


class StoredRequest(msgspec.Struct, frozen=True):
    """What the store holds for one key: the first request's hash and, once it finished, its
    answer; `locked` while an attempt is (or claims to be) running."""

    request_hash: str
    response_status: int | None
    response_body: bytes | None
    locked: bool


class IdempotencyRepository:
    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    async def claim(self, principal: str, key: str, request_hash: str) -> bool:
        """True when this call created the key, so this request runs."""
        return await self._conn.fetchval(Q["begin"], principal, key, request_hash) is not None

    async def stored(self, principal: str, key: str) -> StoredRequest | None:
        row = await self._conn.fetchrow(Q["get"], principal, key)
        if row is None:
            return None
        body = row["response_body"]
        return StoredRequest(
            request_hash=row["request_hash"],
            response_status=row["response_status"],
            response_body=bytes(body) if body is not None else None,
            locked=bool(row["locked"]),
        )

    async def take_over(self, principal: str, key: str) -> bool:
        """True when the key's last attempt crashed (stale lock) and this request takes it."""
        return bool(await self._conn.fetchval(Q["take_over"], principal, key))

    async def finish(self, principal: str, key: str, status: int, body: bytes) -> None:
        await self._conn.execute(Q["finish"], principal, key, status, body)

    async def release(self, principal: str, key: str) -> None:
        """A failed attempt is not an answer: a retry may run again."""
        await self._conn.execute(Q["release"], principal, key)
