"""Values of aggregated insights: what a partner asks for, and the release it gets."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Metric = Literal["footfall", "data_usage"]
Bucket = Literal["hour", "day"]
Breakdown = Literal["age_band"]


class BoundingBox(msgspec.Struct, frozen=True, kw_only=True):
    south: float
    west: float
    north: float
    east: float


class Area(msgspec.Struct, frozen=True, kw_only=True):
    """H3 cells at one resolution, or a bounding box covered at `resolution`."""

    cells: tuple[str, ...] | None = None
    bbox: BoundingBox | None = None
    resolution: int | None = None


class InsightRequest(msgspec.Struct, frozen=True, kw_only=True):
    metric: Metric
    area: Area
    start: datetime  # inclusive
    end: datetime  # exclusive
    bucket: Bucket
    breakdown: Breakdown | None = None
    epsilon: float | None = None  # None: the default per release


class Bounds(msgspec.Struct, frozen=True, kw_only=True):
    cells_per_bucket: int
    buckets_per_release: int
    value_per_cell: int  # 1 for a count of people; the clipping bound of a sum

    @property
    def sensitivity(self) -> int:
        """The L1 distance one customer can make to the vector of released values."""
        return self.cells_per_bucket * self.buckets_per_release * self.value_per_cell


class Parameters(msgspec.Struct, frozen=True, kw_only=True):
    """What was actually used: published with every release."""

    k: int
    epsilon: float  # the whole release's cost, as OpenDP's privacy maps state it
    delta: float  # the chance that a cell under k people is published anyway
    mechanism: str
    noise_scale: float  # of the published values
    threshold: float  # noisy values below it are suppressed
    bounds: Bounds
    cell_resolution: int
    budget_period_start: str  # ISO date


class ReleasedCell(msgspec.Struct, frozen=True, kw_only=True):
    cell: str
    bucket_start: datetime
    age_band: str | None = None
    value: int | None = None  # None when suppressed
    suppressed: bool


class Release(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable aggregate release."""

    id: str
    partner_id: str
    metric: Metric
    unit: str  # "people" or "megabytes"
    created_at: datetime
    start: datetime
    end: datetime
    bucket: Bucket
    breakdown: Breakdown | None
    cells: tuple[ReleasedCell, ...]
    parameters: Parameters
    rules_version: str
    values_hash: str  # sha256 of the canonical JSON of `cells`, as in the audit entry


class ReleaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    metric: Metric
    created_at: datetime
    start: datetime
    end: datetime
    epsilon: float
    values_hash: str


class ReleasesPage(msgspec.Struct, frozen=True, kw_only=True):
    data: tuple[ReleaseSummary, ...]
    has_more: bool


class CountedBy(msgspec.Struct, frozen=True, kw_only=True):
    partner_id: str
    partner_name: str
    releases: int
    epsilon: float


class CustomerInsights(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer is told: which releases counted them, for whom, and their budget."""

    releases: int
    by_partner: tuple[CountedBy, ...]
    budget_period_start: str
    budget_period_end: str
    epsilon_spent: float
    epsilon_limit: float
