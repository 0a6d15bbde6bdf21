"""Growth: what a customer costs on disk, and how fast one server writes what grows.

A bench database is filled through the services as the product fills it: partners with
published offers, customers onboarded who accept every offer (grant, receipt, ledger postings,
audit entry), records ingested (location points and daily data usage, as the demo's), partner
reads, each decision recorded as its audit entry (concurrent, through the decision writer's
group commit), then sealed. It reports, per table that grows with customers, the
rows and the bytes each row takes on disk with its indexes and TOAST (pg_total_relation_size,
summed over partitions, after VACUUM ANALYZE), and the rates of the service calls that add
them: docs/scale.md derives its growth table from these figures.

Figures are printed, never asserted. BENCH_GROWTH_CUSTOMERS sets the scale (default 1,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate
from offers import Compensation, OfferTerms

CUSTOMERS = int(os.environ.get("BENCH_GROWTH_CUSTOMERS", "1000"))
PARTNERS = 10  # every customer accepts each partner's offer: 10 grants per customer
LOCATION_POINTS = 60  # records per customer: location points and daily usage
USAGE_DAYS = 30
READS_PER_CUSTOMER = 20
CONCURRENCY = 16

TABLES = (
    "customers",
    "customer_refs",
    "customer_audit_keys",
    "grants",
    "offer_compensations",
    "ledger_transactions",
    "ledger_postings",
    "records",
    "decisions",
    "audit_entries",
    "audit_leaves",
)


def server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)
    return pgserver.get_server(ROOT / ".data" / "bench-pg", cleanup_mode=None).get_uri()


def records_of(rng: random.Random, now: datetime) -> list[dict]:
    lat, lon = 48.86 + rng.uniform(-0.2, 0.2), 2.35 + rng.uniform(-0.2, 0.2)
    out = []
    for i in range(LOCATION_POINTS):
        out.append(
            {
                "category": "location",
                "recorded_at": (now - timedelta(hours=i * 6 + rng.random())).isoformat(),
                "source": "network-cells",
                "payload": {
                    "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(lon + rng.uniform(-0.05, 0.05), 5),
                    "accuracy_m": rng.choice([50, 150, 500]),
                    "cell_id": f"FR-{rng.randrange(10_000, 99_999)}",
                },
            }
        )
    for i in range(USAGE_DAYS):
        out.append(
            {
                "category": "data_usage",
                "recorded_at": (now - timedelta(days=i, hours=rng.random())).isoformat(),
                "source": "pgw-usage",
                "payload": {
                    "period": "day",
                    "lat": round(lat, 5),
                    "lon": round(lon, 5),
                    "mb_down": rng.randrange(50, 3000),
                    "mb_up": rng.randrange(5, 400),
                    "roaming": False,
                },
            }
        )
    return out


async def in_parallel(items, work) -> float:
    """Runs `work(item)` for every item, CONCURRENCY at a time; returns the seconds taken."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t


async def sizes(conn) -> dict[str, tuple[int, int]]:
    """Per table: rows, and bytes on disk (heap, TOAST, indexes), partitions included."""
    out = {}
    for table in TABLES:
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        # pg_partition_tree lists nothing for a table that is not partitioned.
        size = await conn.fetchval(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            " FROM pg_partition_tree($1::regclass)), pg_total_relation_size($1::regclass))",
            table,
        )
        out[table] = (rows, int(size or 0))
    return out


async def fill(url: str) -> None:
    pool = await create_pool(url, min_size=2, max_size=CONCURRENCY + 4)
    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()))
    services = bootstrap(settings, pool)
    await services.key_lifecycle.settle()
    rng = random.Random(13)
    try:
        offers = []
        for i in range(PARTNERS):
            partner = await services.consent.create_partner(f"Partner {i}", "FR")
            await services.ledger.adjust_escrow(
                partner.id, 10**12, "EUR", idempotency_key=uuid.uuid4().hex
            )
            terms = OfferTerms(
                title=f"Offer {i}",
                description="Footfall and usage research.",
                categories=("location", "data_usage"),
                purposes=("research",),
                duration_days=365,
                lookback_days=30,
                compensation=Compensation(kind="discount", amount=100, currency="EUR"),
                jurisdictions=("FR",),
            )
            offer = await services.consent.create_offer(partner.id, terms, 10**8)
            await services.consent.change_offer_status(partner.id, offer.id, "publish")
            offers.append((partner.id, offer.id))

        customers: list[str] = []

        async def onboard(n: int) -> None:
            # French customers: a German customer's location may not be traded at all.
            c, _ = await services.consent.create_customer(f"ref-{n}", "FR", None)
            customers.append(c.id)

        onboard_s = await in_parallel(range(CUSTOMERS), onboard)
        accept_s = await in_parallel(
            [(c, o) for c in customers for _, o in offers],
            lambda pair: services.consent.accept_offer(*pair),
        )
        now = datetime.now(UTC)
        ingest_s = await in_parallel(
            customers, lambda c: services.access.ingest(c, records_of(rng, now))
        )
        rounds = READS_PER_CUSTOMER // PARTNERS
        reads = [(p, c) for _ in range(rounds) for c in customers for p, _ in offers]
        rng.shuffle(reads)

        async def read(pair) -> None:
            await services.access.read_records(pair[0], pair[1], "location", "research")

        read_s = await in_parallel(reads, read)
        t = time.perf_counter()
        sealed = 0
        while (result := await services.audit.seal()).sealed:
            sealed += result.sealed
        seal_s = time.perf_counter() - t
    finally:
        await pool.close()

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
        measured = await sizes(conn)
    finally:
        await conn.close()

    grants = CUSTOMERS * PARTNERS
    records = CUSTOMERS * (LOCATION_POINTS + USAGE_DAYS)
    print(f"{CUSTOMERS:,} customers, {PARTNERS} partners, {CONCURRENCY} concurrent callers:")
    print(f"  onboard    {CUSTOMERS / onboard_s:>9,.0f} customers/s")
    print(f"  accept     {grants / accept_s:>9,.0f} grants/s (each with postings, audit entry)")
    print(f"  ingest     {records / ingest_s:>9,.0f} records/s ({CUSTOMERS} batches of "
          f"{LOCATION_POINTS + USAGE_DAYS})")  # fmt: skip
    print(f"  read       {len(reads) / read_s:>9,.0f} partner reads/s (each decision its audit"
          " entry, durable before each returns)")  # fmt: skip
    print(f"  seal       {sealed / seal_s:>9,.0f} entries/s ({sealed:,} entries)")
    print("\n  table                     rows     bytes/row (heap + TOAST + indexes)")
    for table, (rows, size) in measured.items():
        per = size / rows if rows else 0
        print(f"  {table:<22}{rows:>10,}  {per:>9,.0f}")


async def main() -> None:
    server = server_url()
    name = f"bench_growth_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await migrate(url)
        await fill(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
