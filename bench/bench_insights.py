"""A footfall release (who may be counted, both budgets, bounded counts, OpenDP noise,
suppression, the release row, contributions and the audit entry, in one transaction) against
the raw SQL GROUP BY that counts the same cells with no privacy at all, on the same data:
1,000,000 location records of 10,000 customers.

Two releases over the same week: by hour (Smart Steps' grain), where the contribution bound of
24 buckets per customer leaves every hourly count of these 10,000 people under k, so every
cell is suppressed (the work is the same; nothing is published), and by day, where most cells
are published. Each is timed against the raw count at its own grain.

Target (issue: aggregated insights): the release costs at most 2x the raw query. Prints the
times and their ratio; never asserts.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import h3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import analyze, server_url, with_database

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate
from offers import Compensation, OfferTerms
from offers.insights import Area, InsightRequest, InsightSettings

CUSTOMERS = 10_000
RECORDS = 1_000_000
DAYS = 7
RUNS = 5
CENTRE = (40.4168, -3.7038)  # Madrid
RESOLUTION = 8

RAW = """
SELECT h3_cell, date_bin($4::interval, recorded_at, $1) AS bucket, count(DISTINCT customer_id)
FROM records
WHERE category = 'location' AND h3_cell = ANY ($3::bigint[])
  AND recorded_at >= $1 AND recorded_at < $2
GROUP BY 1, 2
"""


async def load(pool, consent, start: datetime) -> tuple[str, list[str]]:
    partner = await consent.create_partner("Bench Footfall", "ES")
    terms = OfferTerms(
        title="Footfall",
        description="Counts per area and hour.",
        categories=("location",),
        purposes=("aggregated_analytics",),
        duration_days=365,
        lookback_days=30,
        compensation=Compensation(kind="discount", amount=0, currency="EUR"),
        jurisdictions=("ES",),
    )
    offer = await consent.create_offer(partner.id, terms, CUSTOMERS)
    offer = await consent.change_offer_status(partner.id, offer.id, "publish")
    area = sorted(h3.grid_disk(h3.latlng_to_cell(*CENTRE, RESOLUTION), 4))  # 61 cells
    cells = [h3.str_to_int(c) for c in area]
    async with pool.acquire() as conn:
        ids = [f"cus_bench{i:07d}" for i in range(CUSTOMERS)]
        await conn.copy_records_to_table(
            "customers",
            columns=("id", "external_ref", "jurisdiction", "birth_date"),
            records=[(c, c, "ES", None) for c in ids],
        )
        # Acceptance through the service for a few, then the same grant copied for the rest
        # (10,000 acceptances would measure acceptance, not insights).
        first = await consent.accept_offer(ids[0], offer.id)
        await conn.execute(
            "INSERT INTO grants (customer_id, partner_id, offer_id, offer_version, categories,"
            " purposes, status, granted_at, expires_at, updated_at, terms_hash, receipt)"
            " SELECT c, g.partner_id, g.offer_id, g.offer_version, g.categories, g.purposes,"
            " g.status, g.granted_at - interval '1 day', g.expires_at, g.updated_at,"
            " g.terms_hash, g.receipt FROM grants g, unnest($2::text[]) AS c WHERE g.id = $1",
            first.id,
            ids[1:],
        )
        rng = random.Random(7)
        span = DAYS * 86_400
        per = RECORDS // CUSTOMERS
        rows = []
        for c in ids:
            home = rng.randrange(len(cells))
            for _ in range(per):
                cell = cells[home] if rng.random() < 0.7 else rng.choice(cells)
                at = start + timedelta(seconds=rng.randrange(span))
                rows.append((c, "location", at, "bench", '{"lat":0,"lon":0}', cell))
        await conn.copy_records_to_table(
            "records",
            columns=("customer_id", "category", "recorded_at", "source", "payload", "h3_cell"),
            records=rows,
        )
    return partner.id, area


async def main() -> None:
    base = server_url()
    admin = await asyncpg.connect(base)
    name = f"bench_insights_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(base, name)
        await migrate(url)
        pool = await create_pool(url, min_size=2, max_size=4, statement_timeout_ms=600_000)
        settings = Settings(
            database_url=url,
            data_dir=Path(tempfile.mkdtemp()),
            insights=InsightSettings(partner_budget=1e6, customer_budget=1e6),
        )
        services = bootstrap(settings, pool)
        start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(
            minute=0, second=0, microsecond=0
        )
        t0 = time.perf_counter()
        partner_id, area = await load(pool, services.consent, start)
        await analyze(url, "records", "grants", "customers")
        load_s = time.perf_counter() - t0
        end = start + timedelta(days=DAYS)
        cells = [h3.str_to_int(c) for c in area]
        grains = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
        requests = {
            bucket: InsightRequest(
                metric="footfall", area=Area(cells=tuple(area)), start=start, end=end, bucket=bucket
            )
            for bucket in grains
        }
        times = {g: ([], []) for g in grains}
        out = {}
        for _ in range(RUNS):  # interleaved, so all see the same machine
            for bucket, width in grains.items():
                request = requests[bucket]
                async with pool.acquire() as conn, conn.transaction():
                    # Planned for its values each time, as the release's count is: a generic
                    # plan after five calls would not be the raw query's best. LOCAL: the
                    # pool keeps no session state (marketplace.db), and the release shares it.
                    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                    t = time.perf_counter()
                    raw = await conn.fetch(RAW, start, end, cells, width)
                    times[bucket][0].append(time.perf_counter() - t)
                t = time.perf_counter()
                release = await services.insights.release(partner_id, request)
                times[bucket][1].append(time.perf_counter() - t)
                out[bucket] = (len(raw), release)
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"{RECORDS:,} location records of {CUSTOMERS:,} customers, loaded in {load_s:.0f} s")
    print(f"area: {len(area)} cells at resolution {RESOLUTION}, {DAYS} days; median of {RUNS}")
    for bucket, (raw_times, release_times) in times.items():
        raw_s, release_s = statistics.median(raw_times), statistics.median(release_times)
        non_empty, release = out[bucket]
        published = sum(not c.suppressed for c in release.cells)
        print(f"by {bucket}:")
        print(f"  raw GROUP BY (no privacy): {raw_s * 1000:8.0f} ms  ({non_empty} non-empty cells)")
        print(
            f"  footfall release:          {release_s * 1000:8.0f} ms  ({len(release.cells)} cells,"
            f" {published} published)"
        )
        print(f"  release / raw: {release_s / raw_s:.2f}x (target <= 2x)")


if __name__ == "__main__":
    asyncio.run(main())
