"""The Personal Data Space service: see, erase (Art. 17) and take along (Art. 20).

Each method owns its transaction. Erasure ends every grant covering the erased data and tells
the partners (webhooks) in the same transaction as the deletion and its audit entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from ledger.audit import AuditLog
from policies import CATEGORIES
from sql import UnitOfWork, UnitOfWorkFactory

from ..audit_entries import grant_entry
from ..models import Customer, Page
from ..obligations import Afterlife, ObligationsRepository, deletion_view
from ..receipt_chain import ReceiptChain
from ..repository import CustomersRepository, OffersRepository
from ..webhook_repository import WebhookRepository
from . import package as pkg
from .access import DEFAULT_CELL_RESOLUTION
from .access_models import NewRecord
from .cells import measure_of, position_of
from .errors import (
    CustomerExists,
    CustomerNotFound,
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
    CategorySummary,
    DataOverview,
    Erasure,
    Export,
    FormerConsent,
    ImportedConsent,
    ImportResult,
    Record,
    StoredExport,
)
from .repository import DataSpaceRepository, RecordsRepository

CATEGORY_IRI = {t.code: t.iri for t in CATEGORIES}
ALL_CATEGORIES = [t.code for t in CATEGORIES]
IMPORT_BATCH = 1000
T = TypeVar("T")


def _payload_fields(text: str) -> dict:
    """The top-level fields of a payload (empty unless it is a JSON object)."""
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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


def _decode(raw: bytes, kind: type[T], number: int) -> T:
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
        uow: UnitOfWorkFactory,
        *,
        private_key: Any,
        kid: str,
        issuer: str,
        trusted_exporters: Mapping[str, str] | None = None,
        afterlife: Afterlife | None = None,
        cell_resolution: int = DEFAULT_CELL_RESOLUTION,
        receipts: ReceiptChain | None = None,
    ):
        self.uow = uow
        self.afterlife = afterlife or Afterlife()
        self.cell_resolution = cell_resolution
        # Signs the receipt of each grant an erasure revokes (None: unit tests without keys).
        self.receipts = receipts
        self.private_key = private_key
        self.kid = kid
        self.issuer = issuer
        self.trusted_exporters = dict(trusted_exporters or {})

    # -- see --------------------------------------------------------------------------------

    async def ensure_open(self, customer_id: str) -> None:
        """Raises CustomerNotFound for an unknown or closed account."""
        async with self.uow(transaction=False) as uow:
            await _open_customer(uow, customer_id)

    async def overview(self, customer_id: str) -> DataOverview:
        """Every category held, with counts, dates, sources, and who may read it now. The
        replica serves it once it has caught up with the moment the read began, so a revoke
        or erasure that returned before is always reflected."""
        async with self.uow(isolation="repeatable_read", replica="caught_up") as uow:
            await _open_customer(uow, customer_id)
            summaries = {
                s.category: s
                for s in await uow.repository(RecordsRepository).category_summaries(customer_id)
            }
            readers = await uow.repository(DataSpaceRepository).active_readers(customer_id)
            owed = await uow.repository(ObligationsRepository).for_customer(customer_id, 100)
        categories = []
        for code in sorted(set(summaries) | {c for cats, _ in readers for c in cats}):
            s: CategorySummary | None = summaries.get(code)
            categories.append(
                CategoryHeld(
                    category=code,
                    iri=CATEGORY_IRI.get(code, ""),
                    record_count=s.record_count if s else 0,
                    first_recorded_at=s.first_recorded_at if s else None,
                    last_recorded_at=s.last_recorded_at if s else None,
                    sources=tuple(sorted(s.sources)) if s else (),
                    readers=tuple(r for cats, r in readers if code in cats),
                )
            )
        return DataOverview(
            customer_id=customer_id,
            categories=tuple(categories),
            deletions=tuple(deletion_view(o) for o in owed),
        )

    async def records(
        self, customer_id: str, category: str, *, starting_after: str | None, limit: int
    ) -> Page[Record]:
        _check_category(category)
        async with self.uow(transaction=False) as uow:
            await _open_customer(uow, customer_id)
            rows = await uow.repository(RecordsRepository).list_records(
                customer_id, category, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def imported_consents(
        self, customer_id: str, *, starting_after: str | None, limit: int
    ) -> Page[ImportedConsent]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(DataSpaceRepository).list_imported_consents(
                customer_id, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    # -- erase ------------------------------------------------------------------------------

    async def erase(self, customer_id: str, category: str | None) -> Erasure:
        """Deletes one category (or all) and ends every grant covering it, at once."""
        if category is not None:
            _check_category(category)
        async with self.uow() as uow:
            erasure, _ = await self._erase(uow, customer_id, category)
            return erasure

    async def close_account(self, customer_id: str) -> Erasure:
        """Erases everything, destroys the audit pseudonym key, leaves a tombstone."""
        async with self.uow() as uow:
            erasure, jurisdiction = await self._erase(uow, customer_id, None, closing=True)
            await uow.repository(AuditLog).append(
                "account.closed",
                jurisdictions=[jurisdiction],
                customer_id=customer_id,
                outcome="closed",
            )
            await uow.repository(DataSpaceRepository).forget_account(customer_id)
            await uow.repository(ObligationsRepository).forget_notifications(customer_id)
            closed_at = await uow.repository(CustomersRepository).tombstone(customer_id)
        return msgspec.structs.replace(erasure, account_closed_at=closed_at)

    async def _erase(
        self, uow: UnitOfWork, customer_id: str, category: str | None, closing: bool = False
    ) -> tuple[Erasure, str]:
        """The erasure, and the customer's jurisdiction. Erasing one category narrows a live
        grant that covers others too (`grant.narrowed`) and ends one that covers only it; each
        opens the partner's deletion obligation for what it received of the erased data."""
        customer = await uow.repository(CustomersRepository).lock_open_customer(customer_id)
        if customer is None:
            raise CustomerNotFound("the customer in this token does not exist")
        records = uow.repository(RecordsRepository)
        repo = uow.repository(DataSpaceRepository)
        categories = [category] if category else ALL_CATEGORIES
        # Everything the customer holds, even categories outside today's vocabulary.
        if category is None:
            held = {s.category for s in await records.category_summaries(customer_id)}
            categories = sorted(set(categories) | held)
        jurisdictions = [customer.jurisdiction]
        deleted = await records.delete_records(customer_id, categories)
        audit = uow.repository(AuditLog)
        webhooks = uow.repository(WebhookRepository)
        narrowed = []
        if category is not None:
            narrowed = await uow.repository(ObligationsRepository).narrow_grants(
                customer_id, category
            )
            for grant in narrowed:
                await audit.append(
                    "grant.narrowed",
                    **grant_entry(grant, jurisdictions, reason="data_erased"),
                    categories_removed=[category],
                )
                await self.afterlife.grant_ended(
                    uow,
                    grant,
                    customer.jurisdiction,
                    event="grant.narrowed",
                    cause="narrowed",
                    categories=[category],
                    reason="data_erased",
                )
        revoked = await uow.repository(OffersRepository).revoke_grants(
            customer_id, categories=categories
        )
        reason = "account_closed" if closing else "data_erased"
        for grant in revoked:
            await audit.append("grant.revoked", **grant_entry(grant, jurisdictions, reason=reason))
            await self.afterlife.grant_ended(
                uow,
                grant,
                customer.jurisdiction,
                event="grant.revoked",
                cause=reason,
                reason=reason,
            )
            if self.receipts is not None:
                await self.receipts.record(uow, grant)
        told = await repo.partners_to_tell(customer_id, categories)
        for partner_id, grant_ids in told:
            await webhooks.record_event(
                partner_id,
                "customer.data_erased",
                {
                    "customer_id": customer_id,
                    "grant_ids": grant_ids,
                    "categories": [c for c in categories if category or c in ALL_CATEGORIES],
                    "scope": "category" if category else "all",
                    # Delete what you hold of them in these categories (Art. 17 and 19).
                    "required_action": "delete",
                },
            )
        await repo.invalidate_exports(customer_id)
        await audit.append(
            "data.erased",
            jurisdictions=jurisdictions,
            customer_id=customer_id,
            category=category,
            outcome="erased",
            scope="category" if category else "all",
            records_deleted=deleted,
            grants_revoked=[g.id for g in revoked],
            grants_narrowed=[g.id for g in narrowed],
        )
        erasure = Erasure(
            categories=tuple(categories),
            records_deleted=deleted,
            grants_revoked=tuple(g.id for g in revoked),
            grants_narrowed=tuple(g.id for g in narrowed),
            partners_notified=tuple(p for p, _ in told),
        )
        return erasure, customer.jurisdiction

    # -- take along: export -----------------------------------------------------------------

    def _export(self, e: StoredExport) -> Export:
        return Export(
            id=e.id,
            status=e.status,
            format=e.format,
            media_type=pkg.MEDIA_TYPE,
            issuer=e.issuer,
            record_count=e.record_count,
            consent_count=e.consent_count,
            created_at=e.created_at,
            invalidated_at=e.invalidated_at,
            signature=e.signature,
            download_url=f"/v1/me/exports/{e.id}/download",
        )

    async def create_export(self, customer_id: str) -> Export:
        """Hashes every part (records through a server-side cursor) and signs the manifest."""
        async with self.uow(isolation="repeatable_read") as uow:
            customer = await _open_customer(uow, customer_id)
            repo = uow.repository(DataSpaceRepository)
            records = uow.repository(RecordsRepository)
            new = await repo.new_export_id()
            export_id, now = new.id, new.now
            hashes = pkg.PartHashes()
            prefix = [pkg.customer_line(customer_id, customer.jurisdiction, customer.birth_date)]
            hashes.add("customer", prefix[0])
            grants = await repo.export_grants(customer_id)
            for g in grants:
                prefix.append(pkg.consent_line(g, customer.jurisdiction))
                hashes.add("consents", prefix[-1])
            prefix.append(pkg.earnings_line(grants))
            hashes.add("earnings", prefix[-1])
            last_id = await records.last_record_id(customer_id)
            async for r in records.export_records(customer_id, last_id):
                hashes.add("records", pkg.record_line(r))
            manifest = {
                "iss": self.issuer,
                "sub": customer_id,
                "jti": export_id,
                "iat": int(now.timestamp()),
                "format": pkg.FORMAT,
                "format_version": pkg.FORMAT_VERSION,
                "parts": hashes.manifest_parts(),
            }
            signature = pkg.sign_manifest(self.private_key, self.kid, manifest)
            stored = await repo.insert_export(
                id=export_id,
                customer_id=customer_id,
                format=pkg.FORMAT,
                issuer=self.issuer,
                manifest=json.dumps(manifest),
                signature=signature,
                record_count=hashes.counts["records"],
                consent_count=len(grants),
                prefix_lines=b"".join(prefix).decode(),
                last_record_id=last_id,
                created_at=now,
            )
            await uow.repository(AuditLog).append(
                "data.exported",
                jurisdictions=[customer.jurisdiction],
                customer_id=customer_id,
                outcome="ready",
                export_id=export_id,
                record_count=hashes.counts["records"],
                consent_count=len(grants),
            )
            return self._export(stored)

    async def get_export(self, customer_id: str, export_id: str) -> Export:
        async with self.uow(transaction=False) as uow:
            await _open_customer(uow, customer_id)
            e = await uow.repository(DataSpaceRepository).get_export(export_id, customer_id)
        if e is None:
            raise ExportNotFound(f"no export {export_id}", field="export_id")
        return self._export(e)

    async def open_download(self, customer_id: str, export_id: str) -> AsyncIterator[bytes]:
        """Checks the export, then returns the package as a stream of bytes.

        The records are read twice in one snapshot: once to check them against the signed
        manifest (a refusal can still be a clean 409), then to stream them. The unit of work
        stays open after this returns, until the stream ends (`_stream` closes it).
        """
        # Caught up with the read's start: an export just made is there, an erasure's
        # invalidation too.
        uow = self.uow(isolation="repeatable_read", readonly=True, replica="caught_up")
        await uow.__aenter__()
        try:
            await _open_customer(uow, customer_id)
            e = await uow.repository(DataSpaceRepository).get_export(export_id, customer_id)
            if e is None:
                raise ExportNotFound(f"no export {export_id}", field="export_id")
            if e.status != "ready":
                raise ExportInvalidated(
                    "data in this export was erased since it was made; make a new export",
                    field="export_id",
                )
            expected = json.loads(e.manifest)["parts"]["records"]
            h, n = hashlib.sha256(), 0
            records = uow.repository(RecordsRepository)
            async for r in records.export_records(customer_id, e.last_record_id):
                h.update(pkg.record_line(r))
                n += 1
            if {"sha256": h.hexdigest(), "count": n} != expected:
                raise ExportStale("the records changed since this export was made; make a new one")
        except BaseException as failure:
            await uow.__aexit__(type(failure), failure, failure.__traceback__)
            raise
        return self._stream(uow, e, customer_id)

    async def _stream(
        self, uow: UnitOfWork, e: StoredExport, customer_id: str
    ) -> AsyncIterator[bytes]:
        failure: BaseException | None = None
        try:
            yield pkg.header_line(
                export_id=e.id, issuer=e.issuer, created_at=e.created_at, signature=e.signature
            )
            yield e.prefix_lines.encode()
            batch: list[bytes] = []
            records = uow.repository(RecordsRepository)
            async for r in records.export_records(customer_id, e.last_record_id):
                batch.append(pkg.record_line(r))
                if len(batch) >= 500:
                    yield b"".join(batch)
                    batch = []
            if batch:
                yield b"".join(batch)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            tb = failure.__traceback__ if failure is not None else None
            await uow.__aexit__(type(failure) if failure is not None else None, failure, tb)

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
        async with self.uow() as uow:
            return await self._import(uow, lines, header, manifest, external_ref, jurisdiction)

    async def _import(
        self,
        uow: UnitOfWork,
        lines: AsyncIterator[tuple[int, bytes]],
        header: pkg.Header,
        manifest: dict[str, Any],
        external_ref: str,
        jurisdiction: str | None,
    ) -> ImportResult:
        repo = uow.repository(DataSpaceRepository)
        records = uow.repository(RecordsRepository)
        hashes = pkg.PartHashes()
        order = [line for _, line in pkg.PARTS]
        position = 0
        created: tuple[str, str, str, datetime] | None = None  # customer, jurisdiction, import
        batch: list[NewRecord] = []
        consents = 0
        async for number, raw in lines:
            kind = _decode(raw, _Part, number).part
            if kind not in order or order.index(kind) < position:
                raise ExportMalformed(
                    f"line {number}: part {kind!r} out of order", field=f"line {number}"
                )
            position = order.index(kind)
            hashes.add(pkg.PART_OF_LINE[kind], raw + b"\n")
            if kind == "customer":
                if created is not None:
                    raise ExportMalformed(f"line {number}: a second customer line")
                c = _decode(raw, _CustomerIn, number)
                created = await self._create_customer(
                    uow, c, manifest, header, external_ref, jurisdiction
                )
                continue
            if created is None:
                raise ExportMalformed(f"line {number}: the customer line must come first")
            customer_id, _, import_id, _ = created
            if kind == "consent":
                consent = _consent(_decode(raw, _ConsentIn, number))
                await repo.insert_imported_consent(customer_id, import_id, consent)
                consents += 1
            elif kind == "record":
                r = _decode(raw, _RecordIn, number)
                if r.category not in CATEGORY_IRI or not 1 <= len(r.source) <= 200:
                    raise ExportMalformed(
                        f"line {number}: unknown category or bad source", field=f"line {number}"
                    )
                text = bytes(r.payload).decode()
                # Another operator's package: a record whose position is unusable is still
                # imported, only without its cell (it was valid where it came from).
                fields = _payload_fields(text)
                batch.append(
                    NewRecord(
                        category=r.category,
                        recorded_at=r.recorded_at,
                        source=r.source,
                        payload=text,
                        position=position_of(r.category, fields, "", strict=False),
                        measure=measure_of(r.category, fields, "", strict=False),
                    )
                )
                if len(batch) >= IMPORT_BATCH:
                    await records.insert_records(
                        customer_id, batch, cell_resolution=self.cell_resolution
                    )
                    batch = []
        if created is not None and batch:
            await records.insert_records(created[0], batch, cell_resolution=self.cell_resolution)
        pkg.check_parts(manifest, hashes)  # raising here rolls everything back
        if created is None:  # a package whose manifest lists no part at all
            raise ExportMalformed("the package has no customer line", field="customer")
        customer_id, customer_jurisdiction, import_id, imported_at = created
        await uow.repository(AuditLog).append(
            "data.imported",
            jurisdictions=[customer_jurisdiction],
            customer_id=customer_id,
            outcome="imported",
            import_id=import_id,
            issuer=header.issuer,
            export_id=header.export_id,
            record_count=hashes.counts["records"],
            consent_count=consents,
        )
        return ImportResult(
            id=import_id,
            customer_id=customer_id,
            issuer=header.issuer,
            export_id=header.export_id,
            record_count=hashes.counts["records"],
            consent_count=consents,
            imported_at=imported_at,
        )

    async def _create_customer(
        self,
        uow: UnitOfWork,
        c: _CustomerIn,
        manifest: dict[str, Any],
        header: pkg.Header,
        external_ref: str,
        jurisdiction: str | None,
    ) -> tuple[str, str, str, datetime]:
        """The imported customer: (id, jurisdiction, import id, imported at). A second
        import of the same export violates imports' unique key (CONSTRAINT_ERRORS:
        ExportAlreadyImported), which rolls the whole import back."""
        if c.id != manifest["sub"]:
            raise ExportMalformed(
                "the customer line is not the manifest's subject", field="customer"
            )
        birth: date | None = None
        if c.birth_date:
            try:
                birth = datetime.fromisoformat(c.birth_date).date()
            except ValueError:
                raise ExportMalformed(
                    "customer birth_date is not a date", field="customer"
                ) from None
        customer_jurisdiction = jurisdiction or c.jurisdiction
        created = await uow.repository(CustomersRepository).insert_customer(
            external_ref, customer_jurisdiction, birth
        )
        if created is None:
            raise CustomerExists("a customer with this external_ref exists", field="external_ref")
        await uow.repository(AuditLog).create_customer_key(created.id)
        stored = await uow.repository(DataSpaceRepository).insert_import(
            created.id,
            header.issuer,
            header.export_id,
            json.dumps(manifest),
            manifest["parts"]["records"]["count"],
            manifest["parts"]["consents"]["count"],
        )
        return created.id, customer_jurisdiction, stored.id, stored.imported_at


def _consent(c: _ConsentIn) -> FormerConsent:
    r = c.record
    controller = r.controllers[0] if r.controllers else _Controller(name="unknown")
    return FormerConsent(
        former_grant_id=r.record_id,
        controller_id=controller.id,
        controller_name=controller.name,
        categories=tuple(x.code for x in r.pii_categories),
        purposes=tuple(x.code for x in r.purposes),
        former_status=r.status,
        granted_at=r.given_at,
        expires_at=r.expires_at,
        receipt=c.receipt,
    )


async def _open_customer(uow: UnitOfWork, customer_id: str) -> Customer:
    """The customer, if the account exists and is open; else CustomerNotFound."""
    customer = await uow.repository(CustomersRepository).open_customer(customer_id)
    if customer is None:
        raise CustomerNotFound("the customer in this token does not exist")
    return customer


def _check_category(category: str) -> None:
    if category not in CATEGORY_IRI:
        raise UnknownCategory(
            f"unknown category {category!r}; see /v1/vocabulary", field="category"
        )
