"""The registry of the service's signing keys: which key is active, which are retired (still
published, so what they signed keeps verifying), and which keys the stored signatures name."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
import msgspec

from sql import load_queries

Q = load_queries("signing_keys.sql")


class SigningKey(msgspec.Struct, frozen=True, kw_only=True):
    """One key's public half (a JWK, `kid` its RFC 7638 thumbprint) and its place in the life
    of the keys: `active` signs now, `retired` only verifies what it signed before."""

    kid: str
    public_jwk: dict
    status: str
    created_at: datetime
    retired_at: datetime | None = None


class StoredSignatures(msgspec.Struct, frozen=True, kw_only=True):
    """The newest signature of each kind in the database (None: there is none of that kind)."""

    receipt: str | None = None
    export_signature: str | None = None
    checkpoint: str | None = None

    @property
    def empty(self) -> bool:
        return self.receipt is None and self.export_signature is None and self.checkpoint is None


def _key(r) -> SigningKey:
    jwk = r["public_jwk"]
    return SigningKey(
        kid=r["kid"],
        public_jwk=json.loads(jwk) if isinstance(jwk, str) else dict(jwk),
        status=r["status"],
        created_at=r["created_at"],
        retired_at=r["retired_at"],
    )


class SigningKeyRepository:
    """Wraps one connection; the caller's unit of work owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def list(self) -> list[SigningKey]:
        """Every key, the active one first."""
        return [_key(r) for r in await self.conn.fetch(Q["list_signing_keys"])]

    async def register_first(self, kid: str, jwk: dict) -> None:
        """Makes `jwk` the active key if the registry is empty (else does nothing)."""
        await self.conn.execute(Q["register_first_key"], kid, json.dumps(jwk))

    async def rotate(self, kid: str, jwk: dict) -> str | None:
        """Retires the active key and makes `jwk` active; returns the retired kid."""
        await self.conn.execute(Q["lock_registry"])
        retired = await self.conn.fetchval(Q["retire_active_key"])
        await self.conn.execute(Q["insert_active_key"], kid, json.dumps(jwk))
        return retired

    async def latest_signatures(self) -> StoredSignatures:
        r = await self.conn.fetchrow(Q["latest_signatures"])
        return StoredSignatures(
            receipt=r["receipt"], export_signature=r["export_signature"], checkpoint=r["checkpoint"]
        )
