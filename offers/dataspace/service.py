"""The Personal Data Space service: see, erase (Art. 17) and take along (Art. 20).

Each method owns its transaction. Erasure ends every grant covering the erased data and tells
the partners (webhooks) in the same transaction as the deletion and its audit entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import msgspec

from ledger.audit import AuditLog
from policies import CATEGORIES

from ..events import grant_event, record_event
from ..models import Grant, Page
from ..repository import OffersRepository
from . import package as pkg
from .errors import (
    CustomerExists,
    CustomerNotFound,
    ExportAlreadyImported,
    ExporterKeysUnavailable,
    ExporterNotTrusted,
    ExportInvalidated,
    ExportMalformed,
    ExportNotFound,
    ExportStale,
    UnknownCategory,
)
from .models import (
    CategoryHeld,
    DataOverview,
    Erasure,
    Export,
    ImportedConsent,
    ImportResult,
    Record,
)
from .repository import DataSpaceRepository

CATEGORY_IRI = {t.code: t.iri for t in CATEGORIES}
ALL_CATEGORIES = [t.code for t in CATEGORIES]
IMPORT_BATCH = 1000


class _RecordIn(msgspec.Struct, kw_only=True):
    part: str
    category: str
    recorded_at: datetime
    source: str
    payload: msgspec.Raw


class _CustomerIn(msgspec.Struct, kw_only=True):
    part: str
    id: str
    jurisdiction: str
    birth_date: str | None = None


class _Controller(msgspec.Struct, kw_only=True):
    id: str | None = None
    name: str


class _Coded(msgspec.Struct, kw_only=True):
    code: str


class _ConsentRecordIn(msgspec.Struct, kw_only=True):
    record_id: str
    status: str
    controllers: list[_Controller]
    purposes: list[_Coded]
    pii_categories: list[_Coded]
    given_at: datetime | None = None
    expires_at: datetime | None = None


class _ConsentIn(msgspec.Struct, kw_only=True):
    part: str
    record: _ConsentRecordIn
    receipt: str


def _decode(raw: bytes, kind, number: int):
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as e:
        raise ExportMalformed(f"line {number}: {e}", field=f"line {number}") from None
    except msgspec.DecodeError:
        raise ExportMalformed(f"line {number} is not JSON", field=f"line {number}") from None


class _Part(msgspec.Struct):
    part: str


class DataSpaceService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        private_key,
        kid: str,
        issuer: str,
        trusted_exporters: Mapping[str, str] | None = None,
    ):
        self.pool = pool
        self.private_key = private_key
        self.kid = kid
        self.issuer = issuer
        self.trusted_exporters = dict(trusted_exporters or {})

    # -- see --------------------------------------------------------------------------------

    async def ensure_open(self, customer_id: str) -> None:
        """Raises CustomerNotFound for an unknown or closed account."""
        async with self.pool.acquire() as conn:
            if await DataSpaceRepository(conn).customer(customer_id) is None:
                raise CustomerNotFound("the customer in this token does not exist")

    async def overview(self, customer_id: str) -> DataOverview:
        """Every category held, with counts, dates, sources, and who may read it now."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            repo = DataSpaceRepository(conn)
            if await repo.customer(customer_id) is None:
                raise CustomerNotFound("the customer in this token does not exist")
            summaries = {s["category"]: s for s in await repo.category_summaries(customer_id)}
            readers = await repo.active_readers(customer_id)
        categories = []
        for code in sorted(set(summaries) | {c for cats, _ in readers for c in cats}):
            s = summaries.get(code, {})
            categories.append(CategoryHeld(
                category=code, iri=CATEGORY_IRI.get(code, ""),
                record_count=s.get("record_count", 0),
                first_recorded_at=s.get("first_recorded_at"),
                last_recorded_at=s.get("last_recorded_at"),
                sources=tuple(sorted(s.get("sources") or ())),
                readers=tuple(r for cats, r in readers if code in cats),
            ))  # fmt: skip
        return DataOverview(customer_id=customer_id, categories=tuple(categories))

    async def records(
        self, customer_id: str, category: str, *, starting_after: str | None, limit: int
    ) -> Page[Record]:
        _check_category(category)
        async with self.pool.acquire() as conn:
            repo = DataSpaceRepository(conn)
            if await repo.customer(customer_id) is None:
                raise CustomerNotFound("the customer in this token does not exist")
            rows = await repo.list_records(customer_id, category, starting_after, limit + 1)
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def imported_consents(
        self, customer_id: str, *, starting_after: str | None, limit: int
    ) -> Page[ImportedConsent]:
        async with self.pool.acquire() as conn:
            rows = await DataSpaceRepository(conn).list_imported_consents(
                customer_id, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    # -- erase ------------------------------------------------------------------------------

    async def erase(self, customer_id: str, category: str | None) -> Erasure:
        """Deletes one category (or all) and ends every grant covering it, at once."""
        if category is not None:
            _check_category(category)
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._erase(conn, customer_id, category)

    async def close_account(self, customer_id: str) -> Erasure:
        """Erases everything, destroys the audit pseudonym key, leaves a tombstone."""
        async with self.pool.acquire() as conn, conn.transaction():
            erasure = await self._erase(conn, customer_id, None)
            customer = await DataSpaceRepository(conn).customer(customer_id)
            await AuditLog(conn).append(
                "account.closed", jurisdictions=[customer["jurisdiction"]],
                customer_id=customer_id, outcome="closed",
            )  # fmt: skip
            closed_at = await DataSpaceRepository(conn).close_account(customer_id)
        return msgspec.structs.replace(erasure, account_closed_at=closed_at)

    async def _erase(self, conn, customer_id: str, category: str | None) -> Erasure:
        repo = DataSpaceRepository(conn)
        customer = await repo.lock_open_customer(customer_id)
        if customer is None:
            raise CustomerNotFound("the customer in this token does not exist")
        categories = [category] if category else ALL_CATEGORIES
        # Everything the customer holds, even categories outside today's vocabulary.
        if category is None:
            categories = sorted(
                set(categories) | {s["category"] for s in await repo.category_summaries(customer_id)}
            )
        jurisdictions = [customer["jurisdiction"]]
        deleted = await repo.delete_records(customer_id, categories)
        revoked = await repo.revoke_covering_grants(customer_id, categories)
        audit = AuditLog(conn)
        for grant in revoked:
            await _audit_revoked(audit, grant, jurisdictions)
            await grant_event(conn, "grant.revoked", grant, reason="data_erased")
        told = await repo.partners_to_tell(customer_id, categories)
        for partner_id, grant_ids in told:
            await record_event(conn, partner_id, "customer.data_erased", {
                "customer_id": customer_id, "grant_ids": grant_ids,
                "categories": [c for c in categories if category or c in ALL_CATEGORIES],
                "scope": "category" if category else "all",
            })  # fmt: skip
        await repo.invalidate_exports(customer_id)
        await audit.append(
            "data.erased", jurisdictions=jurisdictions, customer_id=customer_id,
            category=category, outcome="erased", scope="category" if category else "all",
            records_deleted=deleted, grants_revoked=[g.id for g in revoked],
        )  # fmt: skip
        return Erasure(
            categories=tuple(categories), records_deleted=deleted,
            grants_revoked=tuple(g.id for g in revoked),
            partners_notified=tuple(p for p, _ in told),
        )  # fmt: skip

    # -- take along: export -----------------------------------------------------------------

    def _export(self, e: dict) -> Export:
        return Export(
            id=e["id"], status=e["status"], format=e["format"], media_type=pkg.MEDIA_TYPE,
            issuer=e["issuer"], record_count=e["record_count"],
            consent_count=e["consent_count"], created_at=e["created_at"],
            invalidated_at=e["invalidated_at"], signature=e["signature"],
            download_url=f"/v1/me/exports/{e['id']}/download",
        )  # fmt: skip

    async def create_export(self, customer_id: str) -> Export:
        """Hashes every part (records through a server-side cursor) and signs the manifest."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            repo = DataSpaceRepository(conn)
            customer = await repo.customer(customer_id)
            if customer is None:
                raise CustomerNotFound("the customer in this token does not exist")
            export_id, now = await repo.new_export_id()
            hashes = pkg.PartHashes()
            prefix = [pkg.customer_line(customer_id, customer["jurisdiction"],
                                        customer["birth_date"])]  # fmt: skip
            hashes.add("customer", prefix[0])
            grants = await repo.export_grants(customer_id)
            for g in grants:
                prefix.append(pkg.consent_line(g, customer["jurisdiction"]))
                hashes.add("consents", prefix[-1])
            prefix.append(pkg.earnings_line(grants))
            hashes.add("earnings", prefix[-1])
            last_id = await repo.last_record_id(customer_id)
            async for r in repo.export_records(customer_id, last_id):
                hashes.add("records", pkg.record_line(r))
            manifest = {
                "iss": self.issuer, "sub": customer_id, "jti": export_id,
                "iat": int(now.timestamp()), "format": pkg.FORMAT,
                "format_version": pkg.FORMAT_VERSION, "parts": hashes.manifest_parts(),
            }  # fmt: skip
            signature = pkg.sign_manifest(self.private_key, self.kid, manifest)
            row = await repo.insert_export(
                id=export_id, customer_id=customer_id, format=pkg.FORMAT, issuer=self.issuer,
                manifest=json.dumps(manifest), signature=signature,
                record_count=hashes.counts["records"], consent_count=len(grants),
                prefix_lines=b"".join(prefix).decode(), last_record_id=last_id, created_at=now,
            )  # fmt: skip
            await AuditLog(conn).append(
                "data.exported", jurisdictions=[customer["jurisdiction"]],
                customer_id=customer_id, outcome="ready", export_id=export_id,
                record_count=hashes.counts["records"], consent_count=len(grants),
            )  # fmt: skip
            return self._export(row)

    async def get_export(self, customer_id: str, export_id: str) -> Export:
        async with self.pool.acquire() as conn:
            repo = DataSpaceRepository(conn)
            if await repo.customer(customer_id) is None:
                raise CustomerNotFound("the customer in this token does not exist")
            e = await repo.get_export(export_id, customer_id)
        if e is None:
            raise ExportNotFound(f"no export {export_id}", field="export_id")
        return self._export(e)

    async def open_download(self, customer_id: str, export_id: str) -> AsyncIterator[bytes]:
        """Checks the export, then returns the package as a stream of bytes.

        The records are read twice in one snapshot: once to check them against the signed
        manifest (a refusal can still be a clean 409), then to stream them.
        """
        conn = await self.pool.acquire()
        tx = conn.transaction(isolation="repeatable_read", readonly=True)
        await tx.start()
        try:
            repo = DataSpaceRepository(conn)
            if await repo.customer(customer_id) is None:
                raise CustomerNotFound("the customer in this token does not exist")
            e = await repo.get_export(export_id, customer_id)
            if e is None:
                raise ExportNotFound(f"no export {export_id}", field="export_id")
            if e["status"] != "ready":
                raise ExportInvalidated(
                    "data in this export was erased since it was made; make a new export",
                    field="export_id",
                )
            expected = json.loads(e["manifest"])["parts"]["records"]
            h, n = hashlib.sha256(), 0
            async for r in repo.export_records(customer_id, e["last_record_id"]):
                h.update(pkg.record_line(r))
                n += 1
            if {"sha256": h.hexdigest(), "count": n} != expected:
                raise ExportStale("the records changed since this export was made; make a new one")
        except BaseException:
            await tx.rollback()
            await self.pool.release(conn)
            raise
        return self._stream(conn, tx, e, customer_id)

    async def _stream(self, conn, tx, e: dict, customer_id: str) -> AsyncIterator[bytes]:
        try:
            yield pkg.header_line(export_id=e["id"], issuer=e["issuer"],
                                  created_at=e["created_at"], signature=e["signature"])  # fmt: skip
            yield e["prefix_lines"].encode()
            batch: list[bytes] = []
            async for r in DataSpaceRepository(conn).export_records(customer_id, e["last_record_id"]):
                batch.append(pkg.record_line(r))
                if len(batch) >= 500:
                    yield b"".join(batch)
                    batch = []
            if batch:
                yield b"".join(batch)
        finally:
            await tx.rollback()
            await self.pool.release(conn)

    # -- take along: import -----------------------------------------------------------------

    async def _issuer_jwks(self, issuer: str) -> dict:
        source = self.trusted_exporters.get(issuer)
        if source is None:
            raise ExporterNotTrusted(
                f"issuer {issuer!r} is not in trusted_exporters", field="header.issuer"
            )
        try:
            if source.startswith(("http://", "https://")):
                async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                    response = await http.get(source)
                    response.raise_for_status()
                    return response.json()
            return json.loads(Path(source).read_text())
        except (httpx.HTTPError, OSError, ValueError) as e:
            raise ExporterKeysUnavailable(
                f"the published keys of {issuer!r} could not be loaded: {type(e).__name__}",
                field="header.issuer",
            ) from None

    async def import_package(
        self, chunks: AsyncIterator[bytes], *, external_ref: str, jurisdiction: str | None
    ) -> ImportResult:
        """Verifies the signature, then every part's hash while importing; all or nothing."""
        lines = pkg.split_lines(chunks)
        first = await anext(lines, None)
        if first is None:
            raise ExportMalformed("the package is empty", field="header")
        header = pkg.parse_header(first[1])
        claimed_issuer, _ = pkg.unverified_issuer(header.signature)
        if claimed_issuer != header.issuer:
            raise ExportMalformed("the header issuer differs from the signed one", field="header")
        jwks = await self._issuer_jwks(header.issuer)
        manifest = pkg.verify_manifest(header.signature, jwks, header.issuer, header.export_id)
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._import(conn, lines, header, manifest, external_ref, jurisdiction)

    async def _import(self, conn, lines, header, manifest, external_ref, jurisdiction):
        repo = DataSpaceRepository(conn)
        hashes = pkg.PartHashes()
        order = [line for _, line in pkg.PARTS]
        position = 0
        customer_id = import_id = None
        imported_at = None
        batch: list[tuple] = []
        consents = 0
        async for number, raw in lines:
            kind = _decode(raw, _Part, number).part
            if kind not in order or order.index(kind) < position:
                raise ExportMalformed(f"line {number}: part {kind!r} out of order",
                                      field=f"line {number}")  # fmt: skip
            position = order.index(kind)
            hashes.add(pkg.PART_OF_LINE[kind], raw + b"\n")
            if kind == "customer":
                if customer_id is not None:
                    raise ExportMalformed(f"line {number}: a second customer line")
                c = _decode(raw, _CustomerIn, number)
                customer_jurisdiction = jurisdiction or c.jurisdiction
                customer_id, import_id, imported_at = await self._create_customer(
                    conn, c, manifest, header, external_ref, jurisdiction
                )
                continue
            if customer_id is None:
                raise ExportMalformed(f"line {number}: the customer line must come first")
            if kind == "consent":
                await repo.insert_imported_consent(customer_id, import_id,
                                                   _consent(_decode(raw, _ConsentIn, number)))
                consents += 1  # fmt: skip
            elif kind == "record":
                r = _decode(raw, _RecordIn, number)
                if r.category not in CATEGORY_IRI or not 1 <= len(r.source) <= 200:
                    raise ExportMalformed(f"line {number}: unknown category or bad source",
                                          field=f"line {number}")  # fmt: skip
                batch.append((r.category, r.recorded_at, r.source, bytes(r.payload).decode()))
                if len(batch) >= IMPORT_BATCH:
                    await repo.insert_records(customer_id, batch)
                    batch = []
        if batch:
            await repo.insert_records(customer_id, batch)
        pkg.check_parts(manifest, hashes)  # raising here rolls everything back
        await AuditLog(conn).append(
            "data.imported", jurisdictions=[customer_jurisdiction],
            customer_id=customer_id, outcome="imported", import_id=import_id,
            issuer=header.issuer, export_id=header.export_id,
            record_count=hashes.counts["records"], consent_count=consents,
        )  # fmt: skip
        return ImportResult(
            id=import_id, customer_id=customer_id, issuer=header.issuer,
            export_id=header.export_id, record_count=hashes.counts["records"],
            consent_count=consents, imported_at=imported_at,
        )  # fmt: skip

    async def _create_customer(self, conn, c, manifest, header, external_ref, jurisdiction):
        if c.id != manifest["sub"]:
            raise ExportMalformed("the customer line is not the manifest's subject",
                                  field="customer")  # fmt: skip
        birth = None
        if c.birth_date:
            try:
                birth = datetime.fromisoformat(c.birth_date).date()
            except ValueError:
                raise ExportMalformed("customer birth_date is not a date", field="customer") from None
        created = await OffersRepository(conn).insert_customer(
            external_ref, jurisdiction or c.jurisdiction, birth
        )
        if created is None:
            raise CustomerExists("a customer with this external_ref exists",
                                 field="external_ref")  # fmt: skip
        await AuditLog(conn).create_customer_key(created.id)
        try:
            async with conn.transaction():
                import_id, imported_at = await DataSpaceRepository(conn).insert_import(
                    created.id, header.issuer, header.export_id, json.dumps(manifest),
                    manifest["parts"]["records"]["count"], manifest["parts"]["consents"]["count"],
                )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise ExportAlreadyImported(
                f"export {header.export_id} of {header.issuer} was already imported",
                field="header.export_id",
            ) from None
        return created.id, import_id, imported_at


def _consent(c: _ConsentIn) -> dict:
    r = c.record
    controller = r.controllers[0] if r.controllers else _Controller(name="unknown")
    return {
        "former_grant_id": r.record_id, "controller_id": controller.id,
        "controller_name": controller.name, "categories": [x.code for x in r.pii_categories],
        "purposes": [x.code for x in r.purposes], "former_status": r.status,
        "granted_at": r.given_at, "expires_at": r.expires_at, "receipt": c.receipt,
    }  # fmt: skip


def _check_category(category: str) -> None:
    if category not in CATEGORY_IRI:
        raise UnknownCategory(
            f"unknown category {category!r}; see /v1/vocabulary", field="category"
        )


async def _audit_revoked(audit: AuditLog, grant: Grant, jurisdictions: list[str]) -> None:
    """The grant.revoked entry of the consent service, with the reason it ended."""
    await audit.append(
        "grant.revoked", jurisdictions=jurisdictions, partner_id=grant.partner_id,
        customer_id=grant.customer_id, grant_id=grant.id, offer_id=grant.offer_id,
        offer_version=grant.offer_version, categories=list(grant.categories),
        purposes=list(grant.purposes), expires_at=grant.expires_at.isoformat(),
        terms_hash=grant.terms_hash, reason="data_erased",
    )  # fmt: skip
