"""Aggregate releases: who may be counted (the policy engine, per customer), budgets spent,
bounded counts from SQL, OpenDP noise, suppression, the release and its audit entry — all in
one transaction, so a release exists exactly when its epsilon was spent."""

from __future__ import annotations

import hashlib
import math
import os
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import h3
import msgspec

from ledger.audit import AuditLog, canonical_json
from policies import AccessRequest, GrantView, RuleBundle, Subject, decide
from sql import UnitOfWorkFactory

from ..dataspace import DEFAULT_CELL_RESOLUTION, PartnerNotFound
from . import privacy
from .area import BAND_LABELS, BUCKET, MAX_VALUES, age_band, area_cells, buckets, query_cells
from .errors import InsightInvalid, InsightNotFound, InsightPartnerSuspended, PrivacyBudgetExhausted
from .models import (
    Bounds,
    CountedBy,
    CustomerInsights,
    InsightRequest,
    Parameters,
    Release,
    ReleasedCell,
    ReleasesPage,
    ReleaseSummary,
)
from .repository import CandidateRow, InsightRepository

PURPOSE = "aggregated_analytics"
# The categories each metric reads. A data-usage cell is where the phone was, so that metric
# reads location too: whoever may not have their location traded is in neither.
METRIC_CATEGORIES: dict[str, tuple[str, ...]] = {
    "footfall": ("location",),
    "data_usage": ("data_usage", "location"),
}
UNIT = {"footfall": "people", "data_usage": "megabytes"}
_EPOCH = date(1970, 1, 1)


class InsightSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The privacy parameters (settings; every one is published with each release)."""

    k: int = 50
    epsilon_default: float = 1.0
    epsilon_max: float = 2.0  # per release
    delta: float = 1e-6
    cells_per_bucket: int = 1
    buckets_per_release: int = 24
    data_usage_clip_mb: int = 5_000
    partner_budget: float = 20.0  # epsilon per partner per period
    customer_budget: float = 10.0  # epsilon per customer per period, across all partners
    budget_period_days: int = 30
    cell_resolution: int = DEFAULT_CELL_RESOLUTION


_decode_cells = msgspec.json.Decoder(tuple[ReleasedCell, ...]).decode
_decode_parameters = msgspec.json.Decoder(Parameters).decode
_decode_request = msgspec.json.Decoder(dict).decode
_encode = msgspec.json.Encoder().encode


def budget_period(on: date, days: int) -> tuple[date, date]:
    """The budget period holding `on`: fixed windows of `days` counted from 1970-01-01."""
    start = _EPOCH + timedelta(days=(on - _EPOCH).days // days * days)
    return start, start + timedelta(days=days)


def _grants(rows: list[CandidateRow]) -> dict[str, tuple[Subject, list[GrantView]]]:
    out: dict[str, tuple[Subject, list[GrantView]]] = {}
    for r in rows:
        cid = r.customer_id
        if cid not in out:
            out[cid] = (
                Subject(customer_id=cid, jurisdiction=r.jurisdiction, birth_date=r.birth_date),
                [],
            )
        excluded = frozenset(
            (p["category"], p["purpose"]) for p in msgspec.json.decode(r.exclusions or "[]")
        )
        out[cid][1].append(
            GrantView(
                grant_id=r.grant_id,
                partner_id="",  # set by the caller: every row is this partner's
                status=r.status,  # type: ignore[arg-type]
                categories=tuple(r.categories),
                purposes=tuple(r.purposes),
                granted_at=r.granted_at,
                expires_at=r.expires_at,
                lookback_days=r.lookback_days,
                excluded=excluded,
            )
        )
    return out


def values_hash(cells: tuple[ReleasedCell, ...]) -> str:
    """sha256 of the RFC 8785 JSON of the released cells: what the audit entry commits to."""
    plain = msgspec.to_builtins(cells)
    return "sha256:" + hashlib.sha256(canonical_json(plain)).hexdigest()


class InsightService:
    def __init__(self, uow: UnitOfWorkFactory, rules: RuleBundle, settings: InsightSettings):
        self.uow = uow
        self.rules = rules
        self.settings = settings

    def who_may_be_counted(
        self,
        partner_id: str,
        rows,
        metric: str,
        at: datetime,
    ) -> dict[str, tuple[Subject, datetime]]:
        """Customer id -> (subject, earliest record time) for those the engine allows for every
        category of the metric, for aggregated analytics. The same `decide` as a raw read: an
        `aggregate_only` obligation, which denies raw records, is honoured here by counting."""
        allowed: dict[str, tuple[Subject, datetime]] = {}
        for cid, (subject, grants) in _grants(rows).items():
            mine = [msgspec.structs.replace(g, partner_id=partner_id) for g in grants]
            since: datetime | None = None
            for category in METRIC_CATEGORIES[metric]:
                d = decide(
                    AccessRequest(partner_id=partner_id, category=category, purpose=PURPOSE, at=at),
                    subject,
                    mine,
                    self.rules,
                )
                if not d.allowed or d.window_start is None:
                    break
                since = d.window_start if since is None else max(since, d.window_start)
            else:
                assert since is not None
                allowed[cid] = (subject, since)
        return allowed

    def _check(self, request: InsightRequest) -> tuple[float, int, list[str], list[datetime]]:
        s = self.settings
        epsilon = s.epsilon_default if request.epsilon is None else request.epsilon
        cap = min(s.epsilon_max, s.customer_budget)
        if not (math.isfinite(epsilon) and 0 < epsilon <= cap):
            raise InsightInvalid(f"epsilon must be above 0 and at most {cap}", field="epsilon")
        if request.metric == "data_usage" and request.bucket != "day":
            raise InsightInvalid("data_usage is released per day only", field="bucket")
        resolution, cells = area_cells(request.area, s.cell_resolution)
        starts = buckets(request.start, request.end, request.bucket)
        bands = len(BAND_LABELS) if request.breakdown == "age_band" else 1
        if len(cells) * len(starts) * bands > MAX_VALUES:
            raise InsightInvalid(
                f"cells x buckets x bands exceeds {MAX_VALUES}: narrow the area or the time",
                field="area",
            )
        return epsilon, resolution, cells, starts

    async def release(self, partner_id: str, request: InsightRequest) -> Release:
        """Makes, stores and returns one release; spends the partner's and the counted
        customers' epsilon in the same transaction."""
        s = self.settings
        epsilon, resolution, cells, starts = self._check(request)
        metric = request.metric
        by_band = request.breakdown == "age_band"
        # Which cells and buckets a heavy contributor keeps: a fresh order for every release.
        seed = int.from_bytes(os.urandom(8), "big", signed=True)
        async with self.uow() as uow:
            repo = uow.repository(InsightRepository)
            partner = await repo.partner(partner_id)
            if partner is None:
                raise PartnerNotFound("the partner in this token does not exist")
            if partner.status != "active":
                raise InsightPartnerSuspended("the partner is suspended: no releases")
            at = partner.at
            period, _ = budget_period(at.date(), s.budget_period_days)
            if not await repo.spend_partner(partner_id, period, epsilon, s.partner_budget):
                raise PrivacyBudgetExhausted(
                    f"this period's epsilon budget ({s.partner_budget}) would be exceeded; it "
                    f"renews on {budget_period(at.date(), s.budget_period_days)[1].isoformat()}",
                    field="epsilon",
                )
            rows = await repo.candidates(partner_id, METRIC_CATEGORIES[metric])
            lawful = self.who_may_be_counted(partner_id, rows, metric, at)
            counted = await repo.spend_customers(sorted(lawful), period, epsilon, s.customer_budget)
            ids = sorted(counted)
            bounds = Bounds(
                cells_per_bucket=s.cells_per_bucket,
                buckets_per_release=min(s.buckets_per_release, len(starts)),
                value_per_cell=1 if metric == "footfall" else s.data_usage_clip_mb,
            )
            found = await repo.true_values(
                metric,
                start=request.start,
                end=request.end,
                step=BUCKET[request.bucket],
                cells=query_cells(cells, s.cell_resolution),
                counted=(
                    ids,
                    [age_band(lawful[c][0].birth_date, at.date()) if by_band else 0 for c in ids],
                    [lawful[c][1] for c in ids],
                ),
                cells_per_bucket=bounds.cells_per_bucket,
                buckets_per_release=bounds.buckets_per_release,
                seed=seed,
                clip=s.data_usage_clip_mb,
            )
            released, parameters = self._noise(
                metric, found, cells, starts, by_band, epsilon, bounds, resolution, period
            )
            digest = values_hash(released)
            release_id = await repo.insert_release(
                partner_id=partner_id,
                metric=metric,
                request=_encode(request).decode(),
                parameters=_encode(parameters).decode(),
                rules_version=self.rules.version,
                cells=_encode(released).decode(),
                values_hash=digest,
                epsilon=parameters.epsilon,
                at=at,
            )
            await repo.insert_contributions(ids, release_id, partner_id, parameters.epsilon, at)
            jurisdictions = sorted({lawful[c][0].jurisdiction for c in ids}) or [
                partner.jurisdiction
            ]
            await uow.repository(AuditLog).append(
                "insight.released",
                jurisdictions=jurisdictions,
                partner_id=partner_id,
                at=at,
                release_id=release_id,
                metric=metric,
                parameters=msgspec.to_builtins(parameters),
                epsilon=parameters.epsilon,
                cells=len(released),
                suppressed_cells=sum(c.suppressed for c in released),
                values_hash=digest,
                rules_version=self.rules.version,
            )
        return Release(
            id=release_id,
            partner_id=partner_id,
            metric=metric,
            unit=UNIT[metric],
            created_at=at,
            start=request.start,
            end=request.end,
            bucket=request.bucket,
            breakdown=request.breakdown,
            cells=released,
            parameters=parameters,
            rules_version=self.rules.version,
            values_hash=digest,
        )

    def _noise(
        self,
        metric: str,
        found,
        cells: list[str],
        starts: list[datetime],
        by_band: bool,
        epsilon: float,
        bounds: Bounds,
        resolution: int,
        period: date,
    ) -> tuple[tuple[ReleasedCell, ...], Parameters]:
        """Every cell of the request (empty ones too: which cells are empty is data) with its
        noisy value, or suppressed."""
        s = self.settings
        bands = range(len(BAND_LABELS)) if by_band else (None,)
        keys = [(cell, at, band) for cell in cells for at in starts for band in bands]
        people: dict[tuple, int] = defaultdict(int)
        totals: dict[tuple, int] = defaultdict(int)
        for r in found:
            key = (h3.int_to_str(r.area_cell), r.bucket, r.band if by_band else None)
            people[key] = r.people
            totals[key] = r.total
        counts_bounds = msgspec.structs.replace(bounds, value_per_cell=1)
        if metric == "footfall":
            noisy = privacy.measure([people[k] for k in keys], counts_bounds, epsilon)
            published, count_scale, spent = noisy.values, noisy.scale, noisy.epsilon
            counts = noisy.values
        else:  # half the budget for who is there (suppression), half for how much they used
            noisy_counts = privacy.measure([people[k] for k in keys], counts_bounds, epsilon / 2)
            noisy_sums = privacy.measure([totals[k] for k in keys], bounds, epsilon / 2)
            counts, count_scale = noisy_counts.values, noisy_counts.scale
            published = noisy_sums.values
            spent = noisy_counts.epsilon + noisy_sums.epsilon
        cut = privacy.threshold(s.k, count_scale, s.delta)
        hidden = privacy.suppressed(counts, cut)
        released = tuple(
            ReleasedCell(
                cell=cell,
                bucket_start=at.astimezone(UTC),
                age_band=BAND_LABELS[band] if band is not None else None,
                value=None if hide else max(value, 0),
                suppressed=hide,
            )
            for (cell, at, band), value, hide in zip(keys, published, hidden)
        )
        parameters = Parameters(
            k=s.k,
            epsilon=spent,
            delta=s.delta,
            mechanism=privacy.MECHANISM,
            noise_scale=count_scale if metric == "footfall" else bounds.sensitivity / (epsilon / 2),
            threshold=cut,
            bounds=bounds,
            cell_resolution=resolution,
            budget_period_start=period.isoformat(),
        )
        return released, parameters

    async def get(self, partner_id: str, release_id: str) -> Release:
        async with self.uow(transaction=False) as uow:
            r = await uow.repository(InsightRepository).release(release_id, partner_id)
        if r is None:
            raise InsightNotFound("no such release", field="id")
        request = _decode_request(r.request)
        return Release(
            id=r.id,
            partner_id=r.partner_id,
            metric=r.metric,
            unit=UNIT[r.metric],
            created_at=r.created_at,
            start=datetime.fromisoformat(request["start"]),
            end=datetime.fromisoformat(request["end"]),
            bucket=request["bucket"],
            breakdown=request.get("breakdown"),
            cells=_decode_cells(r.cells),
            parameters=_decode_parameters(r.parameters),
            rules_version=r.rules_version,
            values_hash=r.values_hash,
        )

    async def list(self, partner_id: str, starting_after: str | None, limit: int) -> ReleasesPage:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(InsightRepository).releases(
                partner_id, starting_after, limit + 1
            )
        data = []
        for r in rows[:limit]:
            request = _decode_request(r.request)
            data.append(
                ReleaseSummary(
                    id=r.id,
                    metric=r.metric,
                    created_at=r.created_at,
                    start=datetime.fromisoformat(request["start"]),
                    end=datetime.fromisoformat(request["end"]),
                    epsilon=r.epsilon,
                    values_hash=r.values_hash,
                )
            )
        return ReleasesPage(data=tuple(data), has_more=len(rows) > limit)

    async def for_customer(self, customer_id: str) -> CustomerInsights:
        """The releases that counted this customer, by partner, and their budget this period."""
        today = datetime.now(UTC).date()
        start, end = budget_period(today, self.settings.budget_period_days)
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(InsightRepository)
            rows = await repo.contributions(customer_id)
            spent = await repo.customer_spend(customer_id, start)
        return CustomerInsights(
            releases=sum(r.releases for r in rows),
            by_partner=tuple(
                CountedBy(
                    partner_id=r.partner_id,
                    partner_name=r.partner_name,
                    releases=r.releases,
                    epsilon=float(r.epsilon),
                )
                for r in rows
            ),
            budget_period_start=start.isoformat(),
            budget_period_end=end.isoformat(),
            epsilon_spent=spent,
            epsilon_limit=self.settings.customer_budget,
        )
