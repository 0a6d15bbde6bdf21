"""The policy engine's async facade and the Personal Data Space store.

Every partner read is decided here: one indexed query loads the customer (jurisdiction, birth
date), the partner's status and this partner's grants on this customer; `policies.decide`
decides; the decision and its audit entry are committed together (group commit with concurrent
requests, offers/decision_writer.py) before any response. Nothing is cached: a revoke, pause or expiry committed
by any process is seen by the very next request on every process.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from ledger.audit import AuditLog, entry_row, entry_time, pseudonym
from policies import AccessRequest, RuleBundle, Subject, decide, is_category, is_purpose
from sql import UnitOfWorkFactory

from .access_models import (
    AccessContext,
    AccessDecision,
    IngestResult,
    NewRecord,
    Record,
    RecordsPage,
)
from .access_repository import AccessRepository
from .cells import measure_of, position_of
from .decision_writer import DecisionWriter
from .errors import AccessDenied, CustomerNotFound, ImplausibleRecord, InvalidInput, PartnerNotFound
from .repository import RecordsRepository

MAX_RECORDS_PER_BATCH = 10_000
# H3 resolution of the cell stored with positioned records (8: about 0.7 km² per cell).
DEFAULT_CELL_RESOLUTION = 8
MAX_SOURCE_LENGTH = 200
COPY_CHUNK = 50_000  # records per COPY, so a large file never sits in memory twice
# A record stamped further ahead than this is refused: clocks drift, records do not time-travel.
MAX_FUTURE_SKEW = timedelta(days=1)

_json_encode = msgspec.json.Encoder().encode
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _json_text(values: Iterable[Any]) -> str:
    return _json_encode(list(values)).decode()


def _storable(payload: dict) -> bool:
    """No string in the payload, key or value at any depth, holds NUL or a lone surrogate."""
    todo: list[Any] = [payload]
    while todo:  # iterative: the depth of a payload is the caller's choice
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            return False
    return True


def validate_record(raw: Mapping[str, Any], where: str, *, now: datetime) -> NewRecord:
    """One record to ingest, checked against the vocabulary; errors name `where.field`.

    `raw` holds decoded JSON: category (a vocabulary code), recorded_at (RFC 3339 with an
    offset, or a tz-aware datetime), payload (a JSON object), source (1..200 characters).
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput("a record must be a JSON object", field=where)
    for name in raw:
        if name not in ("category", "recorded_at", "payload", "source"):
            raise InvalidInput(f"unknown field {name!r}", field=f"{where}.{name}")
    category = raw.get("category")
    if not isinstance(category, str) or not is_category(category):
        raise InvalidInput(f"unknown category {category!r}", field=f"{where}.category")
    recorded_at = raw.get("recorded_at")
    if isinstance(recorded_at, str):
        try:
            recorded_at = datetime.fromisoformat(recorded_at)
        except ValueError:
            recorded_at = None
    if not isinstance(recorded_at, datetime) or recorded_at.tzinfo is None:
        raise InvalidInput(
            "recorded_at must be an RFC 3339 timestamp with an offset", field=f"{where}.recorded_at"
        )
    if recorded_at > now + MAX_FUTURE_SKEW:
        raise ImplausibleRecord("recorded_at is in the future", field=f"{where}.recorded_at")
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object", field=f"{where}.payload")
    if not _storable(payload):
        # PostgreSQL's jsonb cannot hold U+0000: the record would be stored as text, but the
        # customer's export could then never be imported anywhere (data portability broken).
        raise InvalidInput(
            "payload holds a NUL character or a lone surrogate (in a key or a value)",
            field=f"{where}.payload",
        )
    source = raw.get("source")
    if not isinstance(source, str) or not 1 <= len(source) <= MAX_SOURCE_LENGTH or "\x00" in source:
        raise InvalidInput(
            f"source must be a string of 1 to {MAX_SOURCE_LENGTH} characters, without NUL",
            field=f"{where}.source",
        )
    try:
        text = _json_encode(payload).decode()
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput("payload is not JSON", field=f"{where}.payload") from None
    return NewRecord(
        category=category,
        recorded_at=recorded_at,
        source=source,
        payload=text,
        position=position_of(category, payload, where),
        measure=measure_of(category, payload, where),
    )


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    """One ingest line of the common, clean shape, decoded and typed in one C pass."""

    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    category: str
    recorded_at: str
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SOURCE_LENGTH)]
    payload: dict[str, Any]


_decode_line = msgspec.json.Decoder(_Line).decode


def decode_record_line(line: str | bytes, *, now: datetime) -> tuple[str, NewRecord] | None:
    """(customer id, record) of one JSON-lines ingest line when it is plainly valid, else None:
    the caller then checks it with `validate_record`, which names what is wrong. Accepts
    exactly what that path accepts and builds the same record, only faster (typed decoding).
    """
    # NUL and lone surrogates can only reach a JSON string as \u escapes: a line without any
    # needs no search of its strings (a line with one takes the careful path).
    if isinstance(line, bytes) and b"\\u" in line or isinstance(line, str) and "\\u" in line:
        return None
    try:
        raw = _decode_line(line)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError):  # (a lone surrogate)
        return None
    if not is_category(raw.category):
        return None
    try:
        recorded_at = datetime.fromisoformat(raw.recorded_at)
    except ValueError:
        return None
    if recorded_at.tzinfo is None or recorded_at > now + MAX_FUTURE_SKEW:
        return None
    try:
        payload = _json_encode(raw.payload).decode()
        # A position or a measure that is there but unusable: the careful path names it.
        position = position_of(raw.category, raw.payload, "")
        measure = measure_of(raw.category, raw.payload, "")
    except (TypeError, ValueError, OverflowError, InvalidInput):
        return None
    record = NewRecord(
        category=raw.category,
        recorded_at=recorded_at,
        source=raw.source,
        payload=payload,
        position=position,
        measure=measure,
    )
    return raw.customer_id, record


def validate_request(category: str, purpose: str) -> None:
    if not is_category(category):
        raise InvalidInput(f"unknown category {category!r}", field="category")
    if not is_purpose(purpose):
        raise InvalidInput(f"unknown purpose {purpose!r}", field="purpose")


class DataAccessService:
    """Partner reads and dry runs through the policy engine; operator ingestion."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        rules: RuleBundle,
        *,
        audit: bool = True,
        on_decision: Callable[[bool, tuple[str, ...]], None] | None = None,
        cell_resolution: int = DEFAULT_CELL_RESOLUTION,
    ):
        self.uow = uow
        self.rules = rules
        # Told (allowed, reasons) of every decision once it is recorded: the service's metrics.
        self.on_decision = on_decision or (lambda allowed, reasons: None)
        self.cell_resolution = cell_resolution
        # audit=False: the benchmark's audit-off baseline only (never built by the app itself)
        self.writer = DecisionWriter(uow, audit=audit)

    # -- decisions ------------------------------------------------------------------------

    def _decide(
        self, ctx: AccessContext, partner_id: str, customer_id: str, category: str, purpose: str
    ) -> AccessDecision:
        subject = Subject(
            customer_id=customer_id,
            # An unknown customer has no jurisdiction and no grants: the engine says no_grant.
            jurisdiction=ctx.jurisdiction or "",
            birth_date=ctx.birth_date,
        )
        request = AccessRequest(
            partner_id=partner_id,
            category=category,
            purpose=purpose,
            at=ctx.at,
            partner_suspended=ctx.partner_status != "active",
        )
        d = decide(request, subject, ctx.grants, self.rules)
        allowed, reasons = d.allowed, d.reasons
        if allowed and d.obligations:
            # Raw records cannot honour an obligation such as aggregate_only: not released.
            allowed, reasons = False, tuple(f"obligation:{o}" for o in d.obligations)
        return AccessDecision(
            id=ctx.decision_id,
            at=ctx.at,
            partner_id=partner_id,
            customer_id=customer_id,
            category=category,
            purpose=purpose,
            allowed=allowed,
            reasons=reasons,
            rule_ids=d.rule_ids,
            grant_id=d.grant_id,
            rules_version=d.rules_version,
            obligations=d.obligations,
            window_start=d.window_start,
        )

    async def _read(
        self,
        partner_id: str,
        customer_id: str,
        category: str,
        purpose: str,
        starting_after: str | None = None,
        limit: int = 0,
    ) -> tuple[AccessContext, list[Record]]:
        """The decision's context and, with a `limit`, the records it may release (one
        statement without a transaction block: no BEGIN/COMMIT round trips)."""
        async with self.uow(transaction=False) as uow:
            read = await uow.repository(AccessRepository).read(
                partner_id, customer_id, category, purpose, starting_after, limit
            )
        if read is None:
            raise PartnerNotFound("the partner in this token does not exist")
        return read

    def _rows(
        self, ctx: AccessContext, d: AccessDecision, returned: int
    ) -> tuple[tuple | None, tuple | None]:
        """The decision as DecisionWriter stores it: its audit entry when it names a
        customer, else its decisions row (never both; the audit-off baseline gets both and
        stores the row).

        A decision about a customer is recorded once, as its audit entry: the customer's
        access log, the regulator's log and the deletion obligations' count of what was
        released all read it there (through the customer's pseudonym), so a decisions row
        beside it would be a second copy written on every read.

        A decision about a customer id that does not exist gets no audit entry: it names no
        one, has no jurisdiction, so no regulator could ever read it, and the log is permanent
        (a partner guessing ids would fill it). Its decision row is kept instead: the
        operator's record of what each partner asked, the trace of such guessing. The
        partner's answer is the same either way (`no_grant`).
        """
        if ctx.customer_id is None:
            return self._decision_row(d, returned), None
        # The row only for the audit-off baseline, which stores it instead of the entry.
        row = None if self.writer.audit else self._decision_row(d, returned)
        subject = (
            pseudonym(ctx.audit_secret, d.customer_id) if ctx.audit_secret is not None else None
        )
        entry = entry_row(
            "access.decision",
            jurisdictions=[ctx.jurisdiction] if ctx.jurisdiction else [],
            partner_id=d.partner_id,
            subject=subject,
            category=d.category,
            outcome="allowed" if d.allowed else "denied",
            at=d.at,
            purpose=d.purpose,
            reasons=list(d.reasons),
            rule_ids=list(d.rule_ids),
            grant_id=d.grant_id,
            rules_version=d.rules_version,
            decision_id=d.id,
            returned=returned,
            # Where the released records begin: what a deletion obligation names.
            window_start=entry_time(d.window_start) if d.window_start is not None else None,
            # What the decision saw: a revoke whose txid this snapshot does not include had
            # not committed when the grants were read (a race, not a breach).
            snapshot=ctx.snapshot,
        )
        entry = (*entry[:2], _json_text(entry[2]), *entry[3:])
        return row, entry

    @staticmethod
    def _decision_row(d: AccessDecision, returned: int) -> tuple:
        """The decision's decisions row (reasons and rule_ids as JSON text)."""
        return (
            d.id,
            d.at,
            d.partner_id,
            d.customer_id,
            d.category,
            d.purpose,
            d.allowed,
            _json_text(d.reasons),
            _json_text(d.rule_ids),
            d.grant_id,
            d.rules_version,
            d.window_start,
            returned,
        )

    async def read_records(
        self,
        partner_id: str,
        customer_id: str,
        category: str,
        purpose: str,
        *,
        starting_after: str | None = None,
        limit: int = 20,
    ) -> RecordsPage:
        """The records of one category inside the grant's lookback window, newest first.

        Raises AccessDenied (carrying the recorded decision) when the engine denies. The
        context and the records are read in one statement, so on one snapshot; the decision
        and its audit entry are then committed together, batched with concurrent requests'
        (DecisionWriter), before this returns.
        """
        validate_request(category, purpose)
        # The connection is back in the pool before the writer waits: it needs one too.
        ctx, candidates = await self._read(
            partner_id, customer_id, category, purpose, starting_after, limit + 1
        )
        d = self._decide(ctx, partner_id, customer_id, category, purpose)
        rows: list[Record] = []
        if d.allowed and d.window_start is not None:
            start = d.window_start
            rows = [r for r in candidates if r.recorded_at >= start]
        page = rows[:limit]
        await self.writer.write(*self._rows(ctx, d, len(page)))
        self.on_decision(d.allowed, d.reasons)
        if not d.allowed:
            raise AccessDenied(f"access denied: {', '.join(d.reasons)}", decision=d)
        return RecordsPage(data=page, has_more=len(rows) > limit, decision=d)

    async def dry_run(
        self, partner_id: str, customer_id: str, category: str, purpose: str
    ) -> AccessDecision:
        """The decision a read would get now, recorded like any other; no data."""
        validate_request(category, purpose)
        ctx, _ = await self._read(partner_id, customer_id, category, purpose)
        d = self._decide(ctx, partner_id, customer_id, category, purpose)
        await self.writer.write(*self._rows(ctx, d, 0))
        self.on_decision(d.allowed, d.reasons)
        return d

    async def explain(
        self, partner_id: str, customer_id: str, category: str, purpose: str
    ) -> AccessDecision:
        """The operator's what-if (`marketplace rules explain`): decided, not recorded."""
        validate_request(category, purpose)
        ctx, _ = await self._read(partner_id, customer_id, category, purpose)
        return self._decide(ctx, partner_id, customer_id, category, purpose)

    # -- the Personal Data Space: ingestion -----------------------------------------------

    async def ingest(self, customer_id: str, records: Sequence[Mapping[str, Any]]) -> IngestResult:
        """Stores a batch for one customer (all or nothing); errors name `records[i].field`."""
        if len(records) > MAX_RECORDS_PER_BATCH:
            raise InvalidInput(
                f"at most {MAX_RECORDS_PER_BATCH} records per batch", field="records"
            )
        now = datetime.now(UTC)
        checked = [validate_record(r, f"records[{i}]", now=now) for i, r in enumerate(records)]
        return await self.ingest_rows([(customer_id, r) for r in checked])

    async def missing_customers(self, customer_ids: Sequence[str]) -> set[str]:
        async with self.uow(transaction=False) as uow:
            found = await uow.repository(AccessRepository).customers(sorted(set(customer_ids)))
        return set(customer_ids) - set(found)

    async def ingest_rows(self, rows: Sequence[tuple[str, NewRecord]]) -> IngestResult:
        """Stores validated records of any customers with COPY, with one audit entry each."""
        ids = sorted({cid for cid, _ in rows})
        async with self.uow() as uow:
            customers = await uow.repository(AccessRepository).customers(ids)
            missing = [cid for cid in ids if cid not in customers]
            if missing:
                raise CustomerNotFound(f"no customer {', '.join(missing[:5])}", field="customer_id")
            records = uow.repository(RecordsRepository)
            for start in range(0, len(rows), COPY_CHUNK):
                await records.copy_records(
                    rows[start : start + COPY_CHUNK], cell_resolution=self.cell_resolution
                )
            per_customer: dict[str, Counter[str]] = {cid: Counter() for cid in ids}
            for cid, r in rows:
                per_customer[cid][r.category] += 1
            audit = uow.repository(AuditLog)
            for cid, counts in per_customer.items():
                customer = customers[cid]
                secret = customer.audit_secret
                await audit.append(
                    "records.ingested",
                    jurisdictions=[customer.jurisdiction],
                    subject=pseudonym(secret, cid) if secret is not None else None,
                    count=sum(counts.values()),
                    categories=dict(sorted(counts.items())),
                )
        total: Counter[str] = Counter()
        for counts in per_customer.values():
            total.update(counts)
        return IngestResult(
            ingested=len(rows), by_category=dict(sorted(total.items())), customers=len(ids)
        )

    async def baseline_read(self, customer_id: str, category: str) -> list[Record]:
        """One indexed SELECT through the same pool: the benchmark's baseline, no decision."""
        async with self.uow(transaction=False) as uow:
            return await uow.repository(AccessRepository).baseline_records(customer_id, category)
