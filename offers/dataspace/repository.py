"""SQL access for the Personal Data Space: the only place an asyncpg.Record exists here.

`RecordsRepository` is the one writer of `records` (ingestion, import, erasure);
`DataSpaceRepository` holds readers, exports and imports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import asyncpg
import msgspec

from sql import load_queries

from .access_models import NewRecord
from .cells import cell_of
from .models import (
    CategorySummary,
    ExportGrant,
    ExportRecord,
    FormerConsent,
    ImportedConsent,
    NewExport,
    Reader,
    Record,
    StoredExport,
    StoredImport,
)

Q = load_queries("dataspace.sql")

RECORD_COLUMNS = (
    "customer_id",
    "category",
    "recorded_at",
    "source",
    "payload",
    "h3_cell",
    "measure",
)


def _export(r: asyncpg.Record) -> StoredExport:
    return StoredExport(
        id=r["id"],
        status=r["status"],
        format=r["format"],
        issuer=r["issuer"],
        signature=r["signature"],
        record_count=r["record_count"],
        consent_count=r["consent_count"],
        created_at=r["created_at"],
        invalidated_at=r["invalidated_at"],
        prefix_lines=r["prefix_lines"],
        last_record_id=r["last_record_id"],
        manifest=r["manifest"],
    )


class RecordsRepository:
    """The records of Personal Data Spaces, their one writer. Wraps one connection; the
    caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def copy_records(
        self, rows: Sequence[tuple[str, NewRecord]], *, cell_resolution: int
    ) -> None:
        """Bulk insert of (customer id, record) with COPY (binary), not row by row; ids and
        ingested_at are defaults. Positions are stored as H3 cells at `cell_resolution`."""
        await self.conn.copy_records_to_table(
            "records",
            columns=RECORD_COLUMNS,
            records=[
                (
                    cid,
                    r.category,
                    r.recorded_at,
                    r.source,
                    r.payload,
                    cell_of(r.position, cell_resolution),
                    r.measure,
                )
                for cid, r in rows
            ],
        )

    async def insert_records(
        self, customer_id: str, rows: Sequence[NewRecord], *, cell_resolution: int
    ) -> None:
        """One customer's records (an import's batch), in one statement."""
        await self.conn.execute(
            Q["insert_records"],
            customer_id,
            [r.category for r in rows],
            [r.recorded_at for r in rows],
            [r.source for r in rows],
            [r.payload for r in rows],
            [cell_of(r.position, cell_resolution) for r in rows],
            [r.measure for r in rows],
        )

    async def delete_records(self, customer_id: str, categories: Sequence[str]) -> int:
        """Erases the customer's records of these categories; returns how many."""
        deleted: int = await self.conn.fetchval(Q["delete_records"], customer_id, list(categories))
        return deleted

    async def category_summaries(self, customer_id: str) -> list[CategorySummary]:
        rows = await self.conn.fetch(Q["category_summaries"], customer_id)
        return [
            CategorySummary(
                category=r["category"],
                record_count=r["record_count"],
                first_recorded_at=r["first_recorded_at"],
                last_recorded_at=r["last_recorded_at"],
                sources=tuple(r["sources"] or ()),
            )
            for r in rows
        ]

    async def list_records(
        self, customer_id: str, category: str, starting_after: str | None, limit: int
    ) -> list[Record]:
        rows = await self.conn.fetch(
            Q["list_records"], customer_id, category, starting_after, limit
        )
        return [
            Record(
                id=r["id"],
                category=r["category"],
                recorded_at=r["recorded_at"],
                source=r["source"],
                payload=msgspec.Raw(r["payload"].encode()),
                ingested_at=r["ingested_at"],
            )
            for r in rows
        ]

    async def last_record_id(self, customer_id: str) -> str | None:
        last: str | None = await self.conn.fetchval(Q["last_record_id"], customer_id)
        return last

    async def export_records(
        self, customer_id: str, last_record_id: str | None, prefetch: int = 500
    ) -> AsyncIterator[ExportRecord]:
        """Records up to `last_record_id` through a server-side cursor (needs an open
        transaction)."""
        if last_record_id is None:
            return
        async for r in self.conn.cursor(
            Q["export_records"], customer_id, last_record_id, prefetch=prefetch
        ):
            yield ExportRecord(
                id=r["id"],
                category=r["category"],
                recorded_at=r["recorded_at"],
                source=r["source"],
                payload=r["payload"],
            )


class DataSpaceRepository:
    """Who may read, what partners to tell, exports and imports. Wraps one connection; the
    caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def active_readers(self, customer_id: str) -> list[tuple[tuple[str, ...], Reader]]:
        """Each active grant's categories, with the partner that may read them."""
        rows = await self.conn.fetch(Q["active_readers"], customer_id)
        return [
            (
                tuple(r["categories"]),
                Reader(
                    grant_id=r["grant_id"],
                    partner_id=r["partner_id"],
                    partner_name=r["partner_name"],
                    purposes=tuple(r["purposes"]),
                    expires_at=r["expires_at"],
                ),
            )
            for r in rows
        ]

    async def partners_to_tell(
        self, customer_id: str, categories: Sequence[str]
    ) -> list[tuple[str, list[str]]]:
        """(partner id, its grant ids) of every partner that held a grant on a category."""
        rows = await self.conn.fetch(Q["partners_to_tell"], customer_id, list(categories))
        return [(r["partner_id"], list(r["grant_ids"])) for r in rows]

    async def invalidate_exports(self, customer_id: str) -> None:
        await self.conn.execute(Q["invalidate_exports"], customer_id)

    async def forget_account(self, customer_id: str) -> None:
        """A closing account: destroys its audit pseudonym key and what was imported."""
        await self.conn.execute(Q["destroy_audit_key"], customer_id)
        await self.conn.execute(Q["delete_imported_consents"], customer_id)
        await self.conn.execute(Q["delete_imports"], customer_id)

    # -- exports ------------------------------------------------------------------------------

    async def new_export_id(self) -> NewExport:
        r = await self.conn.fetchrow(Q["new_export_id"])
        assert r is not None  # a SELECT without FROM returns its row
        return NewExport(id=r["id"], now=r["now"])

    async def export_grants(self, customer_id: str) -> list[ExportGrant]:
        rows = await self.conn.fetch(Q["export_grants"], customer_id)
        return [
            ExportGrant(
                id=r["id"],
                customer_id=customer_id,
                partner_id=r["partner_id"],
                partner_name=r["partner_name"],
                partner_jurisdiction=r["partner_jurisdiction"],
                offer_id=r["offer_id"],
                offer_version=r["offer_version"],
                categories=tuple(r["categories"]),
                purposes=tuple(r["purposes"]),
                status=r["status"],
                granted_at=r["granted_at"],
                expires_at=r["expires_at"],
                updated_at=r["updated_at"],
                terms_hash=r["terms_hash"],
                receipt=r["receipt"],
                later_receipts=tuple(r["later_receipts"]),
                title=r["title"],
                compensation_kind=r["compensation_kind"],
                compensation_amount=r["compensation_amount"],
                compensation_currency=r["compensation_currency"],
                compensated=r["compensated"],
            )
            for r in rows
        ]

    async def insert_export(
        self,
        *,
        id: str,
        customer_id: str,
        format: str,
        issuer: str,
        manifest: str,
        signature: str,
        record_count: int,
        consent_count: int,
        prefix_lines: str,
        last_record_id: str | None,
        created_at: datetime,
    ) -> StoredExport:
        r = await self.conn.fetchrow(
            Q["insert_export"],
            id,
            customer_id,
            format,
            issuer,
            manifest,
            signature,
            record_count,
            consent_count,
            prefix_lines,
            last_record_id,
            created_at,
        )
        assert r is not None  # INSERT … RETURNING always returns its row
        return _export(r)

    async def get_export(self, export_id: str, customer_id: str) -> StoredExport | None:
        r = await self.conn.fetchrow(Q["get_export"], export_id, customer_id)
        return _export(r) if r else None

    # -- imports ------------------------------------------------------------------------------

    async def insert_import(
        self,
        customer_id: str,
        issuer: str,
        export_id: str,
        manifest: str,
        record_count: int,
        consent_count: int,
    ) -> StoredImport:
        """The import of (issuer, export_id); a second one violates imports' unique key
        (CONSTRAINT_ERRORS: ExportAlreadyImported)."""
        r = await self.conn.fetchrow(
            Q["insert_import"],
            customer_id,
            issuer,
            export_id,
            manifest,
            record_count,
            consent_count,
        )
        assert r is not None  # INSERT … RETURNING always returns its row
        return StoredImport(id=r["id"], imported_at=r["imported_at"])

    async def insert_imported_consent(
        self, customer_id: str, import_id: str, c: FormerConsent
    ) -> None:
        await self.conn.execute(
            Q["insert_imported_consent"],
            customer_id,
            import_id,
            c.former_grant_id,
            c.controller_id,
            c.controller_name,
            list(c.categories),
            list(c.purposes),
            c.former_status,
            c.granted_at,
            c.expires_at,
            c.receipt,
        )

    async def list_imported_consents(
        self, customer_id: str, starting_after: str | None, limit: int
    ) -> list[ImportedConsent]:
        rows = await self.conn.fetch(
            Q["list_imported_consents"], customer_id, starting_after, limit
        )
        return [
            ImportedConsent(
                id=r["id"],
                former_operator=r["former_operator"],
                former_grant_id=r["former_grant_id"],
                controller_id=r["controller_id"],
                controller_name=r["controller_name"],
                categories=tuple(r["categories"]),
                purposes=tuple(r["purposes"]),
                former_status=r["former_status"],
                granted_at=r["granted_at"],
                expires_at=r["expires_at"],
                status=r["status"],
                created_at=r["created_at"],
            )
            for r in rows
        ]
