"""SQL of aggregated insights (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg
import msgspec

from sql import load_queries

from .models import Metric

# The records each metric counts, and whether it sums their measure (footfall counts people).
RECORDS_COUNTED: dict[str, tuple[str, bool]] = {
    "footfall": ("location", False),
    "data_usage": ("data_usage", True),
}

Q = load_queries("insights.sql")


class PartnerRow(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime  # the database's now(): the release's instant
    status: str
    jurisdiction: str


class CandidateRow(msgspec.Struct, frozen=True, kw_only=True):
    """One active grant of one live customer to the partner, for the engine to decide on."""

    customer_id: str
    jurisdiction: str
    birth_date: date | None
    grant_id: str
    status: str
    categories: list[str]
    purposes: list[str]
    granted_at: datetime
    expires_at: datetime
    exclusions: str | None
    lookback_days: int


class CellCount(msgspec.Struct, frozen=True, kw_only=True):
    area_cell: int
    bucket: datetime
    band: int
    people: int
    total: int


class ReleaseRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    partner_id: str
    metric: Metric
    request: str
    parameters: str = ""
    rules_version: str = ""
    cells: str = ""
    values_hash: str
    epsilon: float
    created_at: datetime


class ContributionRow(msgspec.Struct, frozen=True, kw_only=True):
    partner_id: str
    partner_name: str
    releases: int
    epsilon: float


def _rows(kind, records) -> list:
    return [kind(**dict(r)) for r in records]


class InsightRepository:
    """Wraps one connection."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def partner(self, partner_id: str) -> PartnerRow | None:
        """now(), status and jurisdiction of the partner (None: no such partner)."""
        r = await self.conn.fetchrow(Q["partner_for_release"], partner_id)
        return PartnerRow(**dict(r)) if r is not None else None

    async def spend_partner(
        self, partner_id: str, period: date, epsilon: float, limit: float
    ) -> bool:
        """Spends `epsilon` of the partner's period budget; False (nothing spent) if over."""
        spent = await self.conn.fetchval(
            Q["spend_partner_budget"], partner_id, period, epsilon, limit
        )
        return spent is not None

    async def candidates(self, partner_id: str, categories: Sequence[str]) -> list[CandidateRow]:
        return _rows(
            CandidateRow, await self.conn.fetch(Q["candidates"], partner_id, list(categories))
        )

    async def spend_customers(
        self, customer_ids: Sequence[str], period: date, epsilon: float, limit: float
    ) -> set[str]:
        """The customers whose period budget had room for `epsilon` (now spent)."""
        rows = await self.conn.fetch(
            Q["spend_customer_budgets"], list(customer_ids), period, epsilon, limit
        )
        return {r["customer_id"] for r in rows}

    async def true_values(
        self,
        metric: str,
        *,
        start: datetime,
        end: datetime,
        step: timedelta,
        cells: tuple[list[int], list[int]],
        counted: tuple[list[str], list[int], list[datetime]],
        cells_per_bucket: int,
        buckets_per_release: int,
        seed: int,
        clip: int,
    ) -> list[CellCount]:
        """(area_cell, bucket, band, people, total) of every non-empty cell, bounded."""
        category, measured = RECORDS_COUNTED[metric]
        # Planned for these values every time (for the rest of the release's transaction): the
        # generic plan a pooled connection switches to after five calls guesses 10 counted
        # customers for thousands, and took the count from 2 s to 8 s over a million records.
        await self.conn.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
        rows = await self.conn.fetch(
            Q["cell_counts"],
            start,
            end,
            *cells,
            *counted,
            cells_per_bucket,
            buckets_per_release,
            seed,
            step,
            clip if measured else None,
            category,
        )
        return _rows(CellCount, rows)

    async def insert_release(
        self,
        *,
        partner_id: str,
        metric: str,
        request: str,
        parameters: str,
        rules_version: str,
        cells: str,
        values_hash: str,
        epsilon: float,
        at: datetime,
    ) -> str:
        release_id: str = await self.conn.fetchval(
            Q["insert_release"],
            partner_id,
            metric,
            request,
            parameters,
            rules_version,
            cells,
            values_hash,
            epsilon,
            at,
        )
        return release_id

    async def insert_contributions(
        self,
        customer_ids: Sequence[str],
        release_id: str,
        partner_id: str,
        epsilon: float,
        at: datetime,
    ) -> None:
        await self.conn.execute(
            Q["insert_contributions"], list(customer_ids), release_id, partner_id, epsilon, at
        )

    async def release(self, release_id: str, partner_id: str) -> ReleaseRow | None:
        r = await self.conn.fetchrow(Q["get_release"], release_id, partner_id)
        return ReleaseRow(**dict(r)) if r is not None else None

    async def releases(
        self, partner_id: str, starting_after: str | None, limit: int
    ) -> list[ReleaseRow]:
        rows = await self.conn.fetch(Q["list_releases"], partner_id, starting_after, limit)
        return [ReleaseRow(partner_id=partner_id, **dict(r)) for r in rows]

    async def contributions(self, customer_id: str) -> list[ContributionRow]:
        return _rows(
            ContributionRow, await self.conn.fetch(Q["customer_contributions"], customer_id)
        )

    async def customer_spend(self, customer_id: str, period: date) -> float:
        spent = await self.conn.fetchval(Q["customer_spend"], customer_id, period)
        return float(spent or 0.0)
