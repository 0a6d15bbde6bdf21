"""SQL access for the Personal Data Space: the only place an asyncpg.Record exists here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec

from sql import load_queries

from ..models import Grant
from .models import ImportedConsent, Reader, Record

Q = load_queries("dataspace.sql")


def _grant(r) -> Grant:
    return Grant(**{**dict(r), "categories": tuple(r["categories"]), "purposes": tuple(r["purposes"])})


class DataSpaceRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def customer(self, customer_id: str) -> asyncpg.Record | None:
        """The open (not closed) customer, or None."""
        r = await self.conn.fetchrow(Q["customer_state"], customer_id)
        return r if r is not None and r["closed_at"] is None else None

    async def lock_open_customer(self, customer_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(Q["lock_open_customer"], customer_id)

    async def category_summaries(self, customer_id: str) -> list[dict]:
        return [dict(r) for r in await self.conn.fetch(Q["category_summaries"], customer_id)]

    async def active_readers(self, customer_id: str) -> list[tuple[tuple[str, ...], Reader]]:
        rows = await self.conn.fetch(Q["active_readers"], customer_id)
        return [
            (tuple(r["categories"]), Reader(
                grant_id=r["grant_id"], partner_id=r["partner_id"],
                partner_name=r["partner_name"], purposes=tuple(r["purposes"]),
                expires_at=r["expires_at"],
            ))
            for r in rows
        ]  # fmt: skip

    async def list_records(
        self, customer_id: str, category: str, starting_after: str | None, limit: int
    ) -> list[Record]:
        rows = await self.conn.fetch(Q["list_records"], customer_id, category, starting_after, limit)
        return [
            Record(**{**dict(r), "payload": msgspec.Raw(r["payload"].encode())}) for r in rows
        ]

    async def delete_records(self, customer_id: str, categories: list[str]) -> int:
        return await self.conn.fetchval(Q["delete_records"], customer_id, categories)

    async def revoke_covering_grants(self, customer_id: str, categories: list[str]) -> list[Grant]:
        rows = await self.conn.fetch(Q["revoke_covering_grants"], customer_id, categories)
        return [_grant(r) for r in rows]

    async def partners_to_tell(
        self, customer_id: str, categories: list[str]
    ) -> list[tuple[str, list[str]]]:
        rows = await self.conn.fetch(Q["partners_to_tell"], customer_id, categories)
        return [(r["partner_id"], list(r["grant_ids"])) for r in rows]

    async def invalidate_exports(self, customer_id: str) -> None:
        await self.conn.execute(Q["invalidate_exports"], customer_id)

    async def close_account(self, customer_id: str):
        """Destroys the audit pseudonym key and what was imported; leaves a tombstone."""
        await self.conn.execute(Q["destroy_audit_key"], customer_id)
        await self.conn.execute(Q["delete_imported_consents"], customer_id)
        await self.conn.execute(Q["delete_imports"], customer_id)
        return await self.conn.fetchval(Q["tombstone_customer"], customer_id)

    # -- exports ------------------------------------------------------------------------------

    async def new_export_id(self):
        r = await self.conn.fetchrow(Q["new_export_id"])
        return r["id"], r["now"]

    async def last_record_id(self, customer_id: str) -> str | None:
        return await self.conn.fetchval(Q["last_record_id"], customer_id)

    async def export_grants(self, customer_id: str) -> list[dict]:
        rows = await self.conn.fetch(Q["export_grants"], customer_id)
        return [{**dict(r), "customer_id": customer_id} for r in rows]

    async def export_records(
        self, customer_id: str, last_record_id: str | None, prefetch: int = 500
    ) -> AsyncIterator[asyncpg.Record]:
        """Records through a server-side cursor (needs an open transaction)."""
        if last_record_id is None:
            return
        async for r in self.conn.cursor(
            Q["export_records"], customer_id, last_record_id, prefetch=prefetch
        ):
            yield r

    async def insert_export(self, **v) -> dict:
        r = await self.conn.fetchrow(
            Q["insert_export"], v["id"], v["customer_id"], v["format"], v["issuer"],
            v["manifest"], v["signature"], v["record_count"], v["consent_count"],
            v["prefix_lines"], v["last_record_id"], v["created_at"],
        )  # fmt: skip
        return dict(r)

    async def get_export(self, export_id: str, customer_id: str) -> dict | None:
        r = await self.conn.fetchrow(Q["get_export"], export_id, customer_id)
        return dict(r) if r else None

    # -- imports ------------------------------------------------------------------------------

    async def insert_import(self, customer_id: str, issuer: str, export_id: str,
                            manifest: str, record_count: int, consent_count: int):  # fmt: skip
        r = await self.conn.fetchrow(
            Q["insert_import"], customer_id, issuer, export_id, manifest, record_count,
            consent_count,
        )
        return r["id"], r["imported_at"]

    async def insert_records(self, customer_id: str, rows: list[tuple]) -> None:
        cats, times, sources, payloads = (list(c) for c in zip(*rows, strict=True))
        await self.conn.execute(Q["insert_records"], customer_id, cats, times, sources, payloads)

    async def insert_imported_consent(self, customer_id: str, import_id: str, c: dict) -> None:
        await self.conn.execute(
            Q["insert_imported_consent"], customer_id, import_id, c["former_grant_id"],
            c["controller_id"], c["controller_name"], c["categories"], c["purposes"],
            c["former_status"], c["granted_at"], c["expires_at"], c["receipt"],
        )  # fmt: skip

    async def list_imported_consents(
        self, customer_id: str, starting_after: str | None, limit: int
    ) -> list[ImportedConsent]:
        rows = await self.conn.fetch(
            Q["list_imported_consents"], customer_id, starting_after, limit
        )
        return [
            ImportedConsent(**{**dict(r), "categories": tuple(r["categories"]),
                               "purposes": tuple(r["purposes"])})
            for r in rows
        ]  # fmt: skip
