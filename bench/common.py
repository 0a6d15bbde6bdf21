"""Helpers shared by bench_access.py (its scale part), bench_money.py and scale.py (`make
bench-scale`): the bench's embedded server, partners and customers and grants loaded with
COPY, a funded partner's published offer, the settle and pre-warm before a measurement, and
the decision-latency sample.

Not a benchmark itself: run.py runs only bench/bench_*.py.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool
from offers import Compensation, OfferTerms

SAMPLES = 3000  # decision latency: sequential samples after a warm-up of 200
# 1M grants with their indexes are ~820 MB: a server holding that many is given the memory to
# cache them (128 MB, PostgreSQL's default, measured the disk cache's copy-in, not a decision).
BENCH_SHARED_BUFFERS = "1GB"


def server_dir(name: str = "bench-pg") -> Path:
    return ROOT / ".data" / name


def server_url(name: str = "bench-pg", settings: dict[str, str] | None = None) -> str:
    """DATABASE_URL, or the bench's own embedded server in .data/<name> (server_dir) with
    `settings` (default: shared_buffers = BENCH_SHARED_BUFFERS) applied by ALTER SYSTEM and a
    restart; it stops when this process ends."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    settings = settings or {"shared_buffers": BENCH_SHARED_BUFFERS}
    path = server_dir(name)
    path.parent.mkdir(exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    changed = False
    for key, value in settings.items():
        shown = server.psql(f"SHOW {key};").splitlines()
        if not any(line.strip() == value for line in shown):
            # The bench's own server only (make run's keeps PostgreSQL's defaults).
            server.psql(f"ALTER SYSTEM SET {key} = '{value}';")
            changed = True
    if changed:
        server.cleanup()  # stops it; started again with the settings
        server = pgserver.get_server(path, cleanup_mode="stop")
    return server.get_uri()


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def seed_partners(conn, n: int) -> list[tuple[str, str]]:
    """n partners with one published offer each (data_usage+location, research, 30 days back)."""
    out = []
    for i in range(n):
        pid = await conn.fetchval(
            "INSERT INTO partners (name, jurisdiction) VALUES ($1, 'DE') RETURNING id", f"P{i}"
        )
        oid = await conn.fetchval(
            "INSERT INTO offers (partner_id, max_grants, status) VALUES ($1, 10000000, 'active')"
            " RETURNING id",
            pid,
        )
        await conn.execute(
            "INSERT INTO offer_versions (offer_id, version, title, description, categories,"
            " purposes, duration_days, lookback_days, compensation_kind, compensation_amount,"
            " compensation_currency, jurisdictions, terms_hash) VALUES ($1, 1, 't', 'd',"
            " '{data_usage,location}', '{research}', 365, 30, 'cash', 1, 'EUR', '{DE,FR}', 'h')",
            oid,
        )
        out.append((pid, oid))
    return out


async def copy_customers(conn, start: int, count: int, keys: bool, refs: bool = False) -> list[str]:
    """Customers cus_bench<start>… (alternately FR and DE); with their audit pseudonym keys
    and their operator references (customer_refs) when asked, as onboarding writes them."""
    ids = [f"cus_bench{i:09d}" for i in range(start, start + count)]
    await conn.copy_records_to_table(
        "customers",
        columns=("id", "external_ref", "jurisdiction"),
        records=[(cid, cid, "FR" if i % 2 else "DE") for i, cid in enumerate(ids, start)],
    )
    if refs:
        await conn.copy_records_to_table(
            "customer_refs",
            columns=("external_ref", "customer_id"),
            records=[(cid, cid) for cid in ids],
        )
    if keys:
        await conn.copy_records_to_table(
            "customer_audit_keys",
            columns=("customer_id", "secret"),
            records=[(cid, os.urandom(32)) for cid in ids],
        )
    return ids


async def copy_grants(conn, customers: list[str], partners: list[tuple[str, str]]) -> int:
    """One active grant per customer and partner (the partner's offer, data_usage+location,
    research, a placeholder receipt); rows generated as COPY sends them."""
    now = datetime.now(UTC)

    def rows() -> Iterable[tuple]:
        for cid in customers:
            for pid, oid in partners:
                yield (
                    f"gnt_{uuid.uuid4().hex}",
                    cid,
                    pid,
                    oid,
                    1,
                    ["data_usage", "location"],
                    ["research"],
                    "active",
                    now - timedelta(days=1),
                    now + timedelta(days=300),
                    now,
                    "h",
                    "receipt",
                )

    await conn.copy_records_to_table(
        "grants",
        columns=(
            "id",
            "customer_id",
            "partner_id",
            "offer_id",
            "offer_version",
            "categories",
            "purposes",
            "status",
            "granted_at",
            "expires_at",
            "updated_at",
            "terms_hash",
            "receipt",
        ),
        records=rows(),
    )
    return len(customers) * len(partners)


async def decision_latency(
    url: str, customers: list[str], partners, rng, samples: int = SAMPLES
) -> tuple[float, float]:
    """p50 and p99 in µs of the facade's fetch + decide (`access.explain`, nothing written),
    sequential, a random customer and partner each time, after 200 unmeasured."""
    pool = await create_pool(url, min_size=1, max_size=1)
    access = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp())), pool).access
    try:
        times = []
        for i in range(samples + 200):
            cid = rng.choice(customers)
            pid = rng.choice(partners)[0]
            t = time.perf_counter()
            await access.explain(pid, cid, "data_usage", "research")
            if i >= 200:  # warm-up excluded
                times.append(time.perf_counter() - t)
    finally:
        await pool.close()
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


async def analyze(url: str, *tables: str) -> None:
    """ANALYZE `tables` (none: the whole database) as their owner, on a connection of its own:
    the service's pool runs as its least-privileged role, for which PostgreSQL skips ANALYZE
    with only a warning, and the planner would go on guessing."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"ANALYZE {', '.join(tables)}")
    finally:
        await conn.close()


async def settle(conn, tables: tuple[str, ...] | None = ("grants", "customers")) -> None:
    """What autovacuum and the checkpointer would have done long before a steady state:
    measure decisions, not the write-back of the bulk load. `tables=None`: the whole
    database."""
    for table in tables if tables is not None else ("",):
        await conn.execute(f"VACUUM ANALYZE {table}")
    await conn.execute("CHECKPOINT")
    await prewarm(conn)
    await asyncio.sleep(2)


async def prewarm(conn) -> None:
    """What a server in a steady state has in its buffers: the tables and indexes a decision
    reads (COPY and VACUUM go through small ring buffers and leave them cold; pgserver has no
    pg_prewarm). Index scans over every row read each index and heap page into shared_buffers.
    The grants are read in the order of the index a decision probes (grants_by_customer_partner):
    without the order the planner walks the primary key instead, which no decision reads, and
    the decision's own index stays cold."""
    async with conn.transaction():
        await conn.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;"
            " SET LOCAL enable_sort = off"
        )
        grants = (
            "SELECT count(s.status) FROM (SELECT g.status FROM grants g WHERE g.customer_id >= ''"
            " ORDER BY g.customer_id, g.partner_id) s"
        )
        # The index is what this is for: say so if a schema change moves it.
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + grants))
        assert "grants_by_customer_partner" in plan, plan
        for sql in (
            grants,
            "SELECT count(c.jurisdiction) FROM customers c WHERE c.id >= ''",
            "SELECT count(k.secret) FROM customer_audit_keys k WHERE k.customer_id >= ''",
        ):
            await conn.fetchval(sql)


async def funded_cash_offer(
    services,
    *,
    title: str,
    description: str,
    categories: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    duration_days: int,
    lookback_days: int,
    max_grants: int,
):
    """A new partner with ample escrow and its published offer paying 2.50 EUR cash for
    research on `categories`, through the services as onboarding makes them."""
    consent = services.consent
    partner = await consent.create_partner("Bench", "DE")
    await services.ledger.adjust_escrow(partner.id, 10**12, "EUR", idempotency_key=uuid.uuid4().hex)
    terms = OfferTerms(
        title=title,
        description=description,
        categories=categories,
        purposes=("research",),
        duration_days=duration_days,
        lookback_days=lookback_days,
        compensation=Compensation(kind="cash", amount=250, currency="EUR"),
        jurisdictions=jurisdictions,
    )
    offer = await consent.create_offer(partner.id, terms, max_grants)
    await consent.change_offer_status(partner.id, offer.id, "publish")
    return offer
