"""Bulk ingest: `marketplace ingest` of a JSON-lines file against a raw COPY of the same rows.

Both load the same rows into the same `records` table of the same database in the same run.
The baseline is the database's share alone: asyncpg's binary COPY of rows already built in
memory (no file, no JSON, no validation, no audit entry). The ingest is the CLI's own code
path (`ingest_file`): read the file, decode and validate every line, check the customers,
COPY, one audit entry per customer. Reports numbers only; it never passes or fails on a time.
Run: `python bench/bench_ingest.py` (BENCH_INGEST_ROWS to change the size).
"""

from __future__ import annotations

import asyncio
import json
import os
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

from marketplace.config import Settings
from marketplace.db import migrate
from marketplace.ingest import ingest_file

ROWS = int(os.environ.get("BENCH_INGEST_ROWS", "200000"))
CUSTOMERS = 1000
CATEGORIES = ("data_usage", "location", "billing", "device")
COLUMNS = ("customer_id", "category", "recorded_at", "source", "payload")


def server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)
    return pgserver.get_server(ROOT / ".data" / "bench-pg", cleanup_mode=None).get_uri()


def lines(customers: list[str]) -> list[dict]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        {
            "customer_id": customers[i % len(customers)],
            "category": CATEGORIES[i % len(CATEGORIES)],
            "recorded_at": (start + timedelta(seconds=37 * i)).isoformat(),
            "source": "network-probe-7",
            "payload": {"mb": i % 977, "cell": f"cell-{i % 313}", "roaming": i % 11 == 0},
        }
        for i in range(ROWS)
    ]


async def main() -> None:
    server = server_url()
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await migrate(url)
        conn = await asyncpg.connect(url)
        customers = [f"cus_ingest{i:06d}" for i in range(CUSTOMERS)]
        await conn.copy_records_to_table(
            "customers",
            columns=("id", "external_ref", "jurisdiction"),
            records=[(c, c, "DE") for c in customers],
        )
        await conn.copy_records_to_table(
            "customer_audit_keys",
            columns=("customer_id", "secret"),
            records=[(c, os.urandom(32)) for c in customers],
        )
        objs = lines(customers)
        rows = [
            (
                o["customer_id"],
                o["category"],
                datetime.fromisoformat(o["recorded_at"]),
                o["source"],
                json.dumps(o["payload"], separators=(",", ":")),
            )
            for o in objs
        ]
        path = Path(tempfile.mkdtemp()) / "records.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in objs))
        settings = Settings(
            database_url=url, data_dir=path.parent, audit_origin="bench.example/audit"
        )

        async def raw_copy() -> float:
            t = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table("records", columns=COLUMNS, records=rows)
            return time.perf_counter() - t

        async def ingest() -> float:
            t = time.perf_counter()
            code = await ingest_file(settings, str(path))
            assert code == 0  # correctness, not timing
            return time.perf_counter() - t

        # Alternate so that neither gets the warmer table; the best of two runs of each.
        copies, ingests = [], []
        for _ in range(2):
            copies.append(await raw_copy())
            ingests.append(await ingest())
        total = await conn.fetchval("SELECT count(*) FROM records")
        assert total == 4 * ROWS, total
        await conn.close()
        copy_s, ingest_s = min(copies), min(ingests)
        print(f"{ROWS:,} rows, {CUSTOMERS:,} customers, file {path.stat().st_size / 1e6:.0f} MB")
        print(f"baseline: raw binary COPY of the rows   {ROWS / copy_s:>10,.0f} rows/s")
        print(f"marketplace ingest (file → records)     {ROWS / ingest_s:>10,.0f} rows/s")
        print(f"ingest rows/s ÷ raw COPY rows/s: {copy_s / ingest_s:.0%} (target ≥ 50%)")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
