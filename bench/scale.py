"""`make bench-scale`: the service at 10M grants over 1M customers and 100M records, against
the same service at 10k grants, in one database and one run.

What it does. A bench database on the bench's own embedded server (.data/bench-scale-pg,
shared_buffers a quarter of the machine's memory unless SCALE_SHARED_BUFFERS says otherwise,
max_wal_size 4GB for the load) is migrated, then loaded with COPY (asyncpg's binary
`copy_records_to_table`, rows generated in Python as COPY sends them, every index, constraint
and trigger of the schema in place): SCALE_GRANTS_EACH partners with one published offer
each; customers (with their operator references and audit pseudonym keys, as onboarding
writes them), each holding one active grant from every partner; and SCALE_RECORDS_EACH
data-usage records per customer, spread over the last 28 days (inside the offers' 30-day
lookback, so partner reads find them). Records are written in batches of SCALE_BATCH
customers, each batch in time order (every customer's oldest record, then every customer's
next, …), so one customer's records sit on different heap pages as arriving records do, while
each batch's index insertions stay within that batch's customers. All of them fall in the
months `records_legacy` covers (0063: a new database's first partition runs to the start of
next month; create_month_partitions made the months after it); the partitions holding rows
are printed (only records_legacy in the runs here, never records_default).

The small size first: 1,000 customers (SCALE_SMALL_CUSTOMERS) with the same grants and
records each (10,000 grants, 100,000 records at the defaults). Then VACUUM ANALYZE of the
database, CHECKPOINT and the pre-warm of what a decision reads (bench_access's settle), and
four measures through the services in process (marketplace.bootstrap), each sequential, a
random customer (and partner) each time, after a warm-up that is not counted:

1. decision latency: `access.explain` (fetch + decide, nothing written), as bench_access;
2. the partner read: `access.read_records`, what GET /v1/partner/customers/{id}/records
   calls (authorise, the records of the grant's window, the decision and its audit entry
   committed before it returns);
3. an acceptance: `consent.accept_offer` of an offer by a partner with funded escrow (grant,
   signed receipt, compensation postings in the ledger, audit entry), each by a customer who
   has not accepted it, as bench_money;
4. one export: `dataspace.create_export` (hash every part, sign, store, audit) then the
   download (`open_download`, checked against the manifest, streamed to the end), what POST
   /v1/me/exports and its download do.

Then the database is grown to SCALE_CUSTOMERS customers (1,000,000: 10,000,000 grants and
100,000,000 records at the defaults), settled the same way, and the four are measured again.
Last, the four are measured once more at the small size, on a copy of the small database
made before its first measures (CREATE DATABASE … TEMPLATE): the large size is measured
between two small turns, because the host's speed drifts over the hour between them. It
prints each measure's p50 and p99 (the slowest for the exports, a few samples) at the small
size, the large and the small again, the ratios large ÷ small (against the two small turns'
mean) and small again ÷ small (the drift), the load time and rows/s per table, the settle
time, and the tables' sizes on disk at the large size. Figures are printed, never asserted:
the script never passes or fails on a time. It stops after the small load, before any
measure, when the disk is too small for the large size (estimated from the small size's bytes
per row). The databases are dropped at the end.

Records are not pre-warmed at either size (100M of them, ~45 GB with their indexes, fit no
cache here): a partner read or an export at the large size finds what the operating system's
cache holds after the load. The loaded grants carry a placeholder receipt, as bench_access's:
a real one is ~4 KB stored out of line (0082), which no decision reads, so the grants' size
printed leaves out ~40 GB of receipts at 10M grants.

How long, here (2 cores, another job running): at SCALE_CUSTOMERS=3000 with the default
grants and records each, COPY ran at ~25,000 records/s, ~16,000 grants/s and ~38,000
customers/s (the server is the limit: generating a record takes the client ~5 µs of the
~40 µs each costs), so at the defaults the load alone is ~80 min (records ~68, grants ~10),
and the settles, pre-warm and measures add perhaps 10 to 20: about 1.5 h, longer if the rates
fall as the indexes outgrow the cache. It needs ~55 GB of disk (the check asks for ~65 GB
free). Try it small first: SCALE_CUSTOMERS=2000 SCALE_GRANTS_EACH=2 SCALE_RECORDS_EACH=5
(about 30 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (
    copy_customers,
    copy_grants,
    decision_latency,
    funded_cash_offer,
    seed_partners,
    server_dir,
    server_url,
    settle,
    with_database,
)

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def quarter_of_memory() -> str:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total // 4 // 2**30)}GB"


CUSTOMERS = env_int("SCALE_CUSTOMERS", 1_000_000)
GRANTS_EACH = env_int("SCALE_GRANTS_EACH", 10)  # one grant from each of as many partners
RECORDS_EACH = env_int("SCALE_RECORDS_EACH", 100)
SMALL_CUSTOMERS = env_int("SCALE_SMALL_CUSTOMERS", 1_000)
BATCH = env_int("SCALE_BATCH", 10_000)  # customers per COPY batch
DECISION_SAMPLES = env_int("SCALE_DECISION_SAMPLES", 3000)
READ_SAMPLES = env_int("SCALE_READ_SAMPLES", 2000)
ACCEPT_SAMPLES = env_int("SCALE_ACCEPT_SAMPLES", 500)
EXPORT_SAMPLES = env_int("SCALE_EXPORT_SAMPLES", 20)
SHARED_BUFFERS = os.environ.get("SCALE_SHARED_BUFFERS") or quarter_of_memory()
SERVER = "bench-scale-pg"
SERVER_SETTINGS = {"shared_buffers": SHARED_BUFFERS, "max_wal_size": "4GB"}
RECORD_SPAN = timedelta(days=28)  # inside the offers' 30-day lookback
SMALL_START, LARGE_START = 10_000_000, 20_000_000  # customer numbers: cus_bench<n>
TARGET = {"decision": "target ≤ 1.2× at 10M"}


# -- load -------------------------------------------------------------------------------------


async def copy_records(conn, customers: list[str], each: int, rng: random.Random) -> int:
    """`each` data-usage records per customer over the last RECORD_SPAN, in time order across
    the batch's customers; ids as the schema's new_id('rec') makes them (time, then random)."""
    now = datetime.now(UTC)
    step = RECORD_SPAN / each

    def rows() -> Iterable[tuple]:
        for j in range(each):
            base = now - RECORD_SPAN + step * j
            for cid in customers:
                at = base + step * rng.random()
                ms = int(at.timestamp() * 1000)
                down, up = rng.randrange(50, 3000), rng.randrange(5, 400)
                yield (
                    f"rec_{ms:012x}{rng.getrandbits(64):016x}",
                    cid,
                    "data_usage",
                    at,
                    "pgw-usage",
                    f'{{"period": "day", "mb_down": {down}, "mb_up": {up}, "roaming": false}}',
                    down + up,  # the service's `measure` of a data-usage record
                )

    await conn.copy_records_to_table(
        "records",
        columns=("id", "customer_id", "category", "recorded_at", "source", "payload", "measure"),
        records=rows(),
    )
    return len(customers) * each


class Loader:
    """Loads customers in batches (customers, grants, records: three COPYs each) and keeps
    the seconds and rows per table."""

    def __init__(self, conn, partners: list[tuple[str, str]], rng: random.Random) -> None:
        self.conn, self.partners, self.rng = conn, partners, rng
        self.seconds: dict[str, float] = {"customers": 0.0, "grants": 0.0, "records": 0.0}
        self.rows: dict[str, int] = {"customers": 0, "grants": 0, "records": 0}

    async def _timed(self, table: str, work) -> object:
        t = time.perf_counter()
        result = await work
        self.seconds[table] += time.perf_counter() - t
        self.rows[table] += len(result) if isinstance(result, list) else result
        return result

    async def load(self, start: int, count: int, progress: bool = False) -> list[str]:
        out: list[str] = []
        t0, report_every = time.perf_counter(), max(1, count // 10)
        for first in range(start, start + count, BATCH):
            n = min(BATCH, start + count - first)
            ids = await self._timed(
                "customers", copy_customers(self.conn, first, n, keys=True, refs=True)
            )
            await self._timed("grants", copy_grants(self.conn, ids, self.partners))
            await self._timed("records", copy_records(self.conn, ids, RECORDS_EACH, self.rng))
            out += ids
            done = first + n - start
            if progress and (done // report_every != (done - n) // report_every or done == count):
                s = time.perf_counter() - t0
                print(
                    f"  … {done:,} / {count:,} customers in {s:,.0f} s "
                    f"({self.rows['records'] / self.seconds['records']:,.0f} records/s)",
                    flush=True,
                )
        return out


# -- sizes ------------------------------------------------------------------------------------

SIZED = ("customers", "customer_refs", "customer_audit_keys", "grants", "records")


async def table_bytes(conn, table: str) -> int:
    """Heap, TOAST and indexes, summed over partitions."""
    return int(
        await conn.fetchval(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            " FROM pg_partition_tree($1::regclass)), pg_total_relation_size($1::regclass))",
            table,
        )
        or 0
    )


async def record_partitions(conn) -> list[tuple[str, int]]:
    """The records' partitions that hold rows (estimated after ANALYZE)."""
    rows = await conn.fetch(
        "SELECT c.relname, c.reltuples::bigint AS n FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'records'::regclass AND c.reltuples > 0 ORDER BY c.relname"
    )
    return [(r["relname"], r["n"]) for r in rows]


# -- measures ---------------------------------------------------------------------------------


def summary(times: list[float]) -> tuple[float, float]:
    """p50 and p99 in ms (with fewer than 100 samples the slowest)."""
    times = sorted(times)
    tail = times[int(len(times) * 0.99)] if len(times) >= 100 else times[-1]
    return statistics.median(times) * 1e3, tail * 1e3


async def acceptance_offer(services) -> str:
    """A partner with funded escrow and a published cash offer open to both jurisdictions."""
    offer = await funded_cash_offer(
        services,
        title="Usage research",
        description="Daily data usage for network research.",
        categories=("data_usage",),
        jurisdictions=("DE", "FR"),
        duration_days=365,
        lookback_days=30,
        max_grants=10**8,
    )
    return offer.id


async def measure(
    url: str,
    data_dir: Path,
    customers: list[str],
    partners: list[tuple[str, str]],
    offer_id: str,
    accepted: set[str],
    rng: random.Random,
) -> dict[str, tuple[float, float, int]]:
    """The four measures: name -> (p50 ms, p99 ms, samples)."""
    out: dict[str, tuple[float, float, int]] = {}
    p50, p99 = await decision_latency(url, customers, partners, rng, DECISION_SAMPLES)
    out["decision"] = (p50 / 1e3, p99 / 1e3, DECISION_SAMPLES)

    pool = await create_pool(url, min_size=2, max_size=4)
    services = bootstrap(Settings(database_url=url, data_dir=data_dir), pool)
    try:
        times, returned = [], 0
        for i in range(READ_SAMPLES + 100):
            cid, pid = rng.choice(customers), rng.choice(partners)[0]
            t = time.perf_counter()
            page = await services.access.read_records(pid, cid, "data_usage", "research")
            if i >= 100:
                times.append(time.perf_counter() - t)
                returned += len(page.data)
        out["read"] = (*summary(times), len(times))
        print(f"  partner reads returned {returned / len(times):.1f} records each", flush=True)

        warm = 20
        fresh = [c for c in customers if c not in accepted]
        chosen = rng.sample(fresh, min(ACCEPT_SAMPLES + warm, len(fresh)))
        times = []
        for i, cid in enumerate(chosen):
            t = time.perf_counter()
            await services.consent.accept_offer(cid, offer_id)
            if i >= warm:
                times.append(time.perf_counter() - t)
            accepted.add(cid)
        out["accept"] = (*summary(times), len(times))

        times, created, downloaded, size = [], [], [], 0
        for i in range(EXPORT_SAMPLES + 2):
            cid = rng.choice(customers)
            t = time.perf_counter()
            export = await services.dataspace.create_export(cid)
            t1 = time.perf_counter()
            n = 0
            async for chunk in await services.dataspace.open_download(cid, export.id):
                n += len(chunk)
            if i >= 2:
                times.append(time.perf_counter() - t)
                created.append(t1 - t)
                downloaded.append(time.perf_counter() - t1)
                size += n
        out["export"] = (*summary(times), len(times))
        print(
            f"  exports: create p50 {statistics.median(created) * 1e3:.1f} ms, download p50"
            f" {statistics.median(downloaded) * 1e3:.1f} ms, {size / len(times):,.0f} bytes each",
            flush=True,
        )
    finally:
        await pool.close()
    return out


LABELS = {
    "decision": "decision latency (access.explain)",
    "read": "partner read (read_records + decision + audit)",
    "accept": "acceptance (accept_offer: grant, money, audit)",
    "export": "export (create_export + download)",
}


def report(small: dict, large: dict, again: dict, sizes: tuple[str, str]) -> None:
    """Each measure at the small size, the large, the small again; the large against the mean
    of the two small turns, and the second small turn against the first (the host's drift)."""
    ms = "p50 / p99 ms"
    print(
        f"\n{'measure, sequential samples':<50}{'samples':>8}{sizes[0]:>20}{sizes[1]:>20}"
        f"{'small again':>20}{'large ÷ small':>16}{'drift':>8}"
    )
    print(f"{'':<50}{'':>8}{ms:>20}{ms:>20}{ms:>20}{'p50 (p99)':>16}{'p50':>8}")
    for key, label in LABELS.items():
        (s50, s99, n), (l50, l99, _), (a50, a99, _) = small[key], large[key], again[key]
        b50, b99 = (s50 + a50) / 2, (s99 + a99) / 2
        tail = " (p99: the slowest)" if n < 100 else ""
        print(
            f"{label:<50}{n:>8}{s50:>10.2f} /{s99:>8.2f}{l50:>10.2f} /{l99:>8.2f}"
            f"{a50:>10.2f} /{a99:>8.2f}{l50 / b50:>9.2f}× ({l99 / b99:.2f}×)"
            f"{a50 / s50:>7.2f}×  {TARGET.get(key, '')}{tail}"
        )


def print_load(title: str, loader: Loader, settle_s: float) -> None:
    total = sum(loader.seconds.values())
    print(f"{title}: {total + settle_s:,.0f} s")
    for table, rows in loader.rows.items():
        s = loader.seconds[table]
        print(f"  {table:<12}{rows:>14,} rows {s:>9,.1f} s {rows / s if s else 0:>11,.0f} rows/s")
    print(f"  settle (VACUUM ANALYZE, CHECKPOINT, pre-warm) {settle_s:,.1f} s")


async def disk_check(conn, small_rows: dict[str, int]) -> None:
    """Stops before growing when the large size cannot fit (bytes per row at the small size,
    as loaded: before the measures add grants with real receipts)."""
    per_row = {
        "customers": sum([await table_bytes(conn, t) for t in SIZED[:3]]) / small_rows["customers"],
        "grants": await table_bytes(conn, "grants") / small_rows["grants"],
        "records": await table_bytes(conn, "records") / small_rows["records"],
    }
    grow = CUSTOMERS - SMALL_CUSTOMERS
    need = grow * (
        per_row["customers"] + GRANTS_EACH * per_row["grants"] + RECORDS_EACH * per_row["records"]
    )
    need = need * 1.1 + 8 * 2**30  # slack, and WAL (max_wal_size and what a checkpoint holds)
    print(
        f"the large size needs ~{need / 2**30:,.1f} GB of disk (bytes per row at the small size:"
        + ", ".join(f" {t} {b:,.0f}" for t, b in per_row.items())
        + ")",
        flush=True,
    )
    if os.environ.get("DATABASE_URL"):
        return  # another server's disk: not ours to check
    free = shutil.disk_usage(server_dir(SERVER)).free
    if free < need:
        raise SystemExit(f"only {free / 2**30:,.1f} GB free under .data: not growing")


async def main() -> None:
    if not 0 < SMALL_CUSTOMERS < CUSTOMERS:
        raise SystemExit("SCALE_SMALL_CUSTOMERS must be below SCALE_CUSTOMERS")
    run_t0 = time.perf_counter()
    print(
        f"machine: {os.cpu_count()} cores; shared_buffers {SHARED_BUFFERS}; small "
        f"{SMALL_CUSTOMERS:,} customers, large {CUSTOMERS:,}; {GRANTS_EACH} grants and "
        f"{RECORDS_EACH} records each; COPY batches of {BATCH:,} customers",
        flush=True,
    )
    admin_url = server_url(SERVER, SERVER_SETTINGS)
    admin = await asyncpg.connect(admin_url)
    name = f"mkt_scale_{uuid.uuid4().hex[:8]}"
    twin = f"{name}_small"  # the small size kept for its second turn, after the large
    data_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rng = random.Random(17)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(admin_url, name)
        await migrate(url)
        # The signing key is registered before the grants are loaded, as an operator's would be.
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            services = bootstrap(Settings(database_url=url, data_dir=data_dir), pool)
            await services.key_lifecycle.settle()
            offer_id = await acceptance_offer(services)
        finally:
            await pool.close()

        conn = await asyncpg.connect(url)
        try:
            partners = await seed_partners(conn, GRANTS_EACH)
            small_load = Loader(conn, partners, rng)
            small = await small_load.load(SMALL_START, SMALL_CUSTOMERS)
            t = time.perf_counter()
            await settle(conn, None)
            small_settle = time.perf_counter() - t
            print(f"records' partitions with rows: {await record_partitions(conn)}", flush=True)
            await disk_check(conn, small_load.rows)
        finally:
            await conn.close()
        # Copied while no connection holds it.
        await admin.execute(f'CREATE DATABASE "{twin}" TEMPLATE "{name}"')
        twin_url = with_database(admin_url, twin)
        accepted: set[str] = set()
        print(f"\nsmall: {small_load.rows}", flush=True)
        small_results = await measure(url, data_dir, small, partners, offer_id, accepted, rng)

        conn = await asyncpg.connect(url)
        try:
            print(f"\ngrowing to {CUSTOMERS:,} customers", flush=True)
            large_load = Loader(conn, partners, rng)
            customers = small + await large_load.load(
                LARGE_START, CUSTOMERS - SMALL_CUSTOMERS, progress=True
            )
            t = time.perf_counter()
            await settle(conn, None)
            large_settle = time.perf_counter() - t
            partitions = await record_partitions(conn)
        finally:
            await conn.close()
        rows = {t: small_load.rows[t] + large_load.rows[t] for t in large_load.rows}
        print(f"\nlarge: {rows}; records' partitions with rows: {partitions}", flush=True)
        large_results = await measure(url, data_dir, customers, partners, offer_id, accepted, rng)

        conn = await asyncpg.connect(twin_url)
        try:
            await settle(conn, None)
        finally:
            await conn.close()
        print("\nsmall again (the copy made before the first small measures)", flush=True)
        again = await measure(twin_url, data_dir, small, partners, offer_id, set(), rng)

        conn = await asyncpg.connect(url)
        try:
            sizes = {t: await table_bytes(conn, t) for t in SIZED}
            counts = {
                t: await conn.fetchval(
                    f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{t}'"
                )
                for t in SIZED
            }
            counts["records"] = sum(n for _, n in partitions)
            database = await conn.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await conn.close()

        small_label = f"{small_load.rows['grants']:,} grants"
        large_label = f"{rows['grants']:,} grants"
        report(small_results, large_results, again, (small_label, large_label))
        print()
        print_load("small load (COPY, rows generated in Python)", small_load, small_settle)
        print_load("growth load (COPY, rows generated in Python)", large_load, large_settle)
        print(
            f"\nsizes at {CUSTOMERS:,} customers (pg_total_relation_size: heap, TOAST, indexes;"
            " the loaded grants' receipts are placeholders):"
        )
        for t, b in sizes.items():
            n = counts[t] or 1
            print(f"  {t:<20}{b / 2**30:>9.2f} GB {b / n:>9,.0f} bytes/row (~{n:,} rows)")
        print(f"  {'the database':<20}{database / 2**30:>9.2f} GB")
        print(f"\nwhole run: {time.perf_counter() - run_t0:,.0f} s")
    finally:
        for db in (name, twin):
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())
