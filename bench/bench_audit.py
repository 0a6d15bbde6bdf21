"""Audit log costs: the append inside a decision-recording transaction (with vs without, 64
concurrent), then sealing and verification rates over a large generated log.

The partner record read endpoint is built elsewhere; what this measures instead is the cost of
`AuditLog.append` in a transaction shaped like the one that records a decision.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.audit import AuditLog
from ledger.audit_models import CheckpointSigner
from ledger.audit_service import AuditService
from ledger.verify import verify_view
from marketplace.db import migrate

CONCURRENCY = 64
SECONDS = float(os.environ.get("BENCH_AUDIT_SECONDS", "6"))
ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", "1000000"))


async def _server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)
    return pgserver.get_server(ROOT / ".data" / "bench-pg", cleanup_mode=None).get_uri()


async def _decision_tx(pool: asyncpg.Pool, audit: bool, deadline: float) -> int:
    done = 0
    while time.perf_counter() < deadline:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO bench_decisions (partner_id, customer_id, category, purpose,"
                " allowed, reasons) VALUES ('ptn_b', 'cus_b', 'location', 'research', false,"
                " '{rule:de-location}')"
            )
            if audit:
                await AuditLog(conn).append(
                    "access.decision", jurisdictions=["DE"], partner_id="ptn_b",
                    subject="psn_" + "ab" * 32, category="location", outcome="denied",
                    purpose="research", reasons=["rule:de-location"], rule_ids=["de-location"],
                    grant_id=None, rules_version="sha256:bench", decision_id="dec_bench",
                    returned=0,
                )
        done += 1
    return done


async def _rate(pool: asyncpg.Pool, audit: bool) -> float:
    start = time.perf_counter()
    deadline = start + SECONDS
    counts = await asyncio.gather(*(_decision_tx(pool, audit, deadline) for _ in range(CONCURRENCY)))
    return sum(counts) / (time.perf_counter() - start)


async def main() -> None:
    server = await _server_url()
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + "/" + name if "?" not in server else None
    if url is None:
        from urllib.parse import urlsplit, urlunsplit

        url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await migrate(url)
        pool = await asyncpg.create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)
        await pool.execute(
            "CREATE TABLE bench_decisions (id bigserial PRIMARY KEY, partner_id text,"
            " customer_id text, category text, purpose text, allowed bool, reasons text[],"
            " at timestamptz NOT NULL DEFAULT now())"
        )
        print(f"append cost: decision-recording transaction, {CONCURRENCY} concurrent, "
              f"{SECONDS:.0f} s each, alternated twice (the partner read endpoint is built "
              "elsewhere; this is the part of it the audit log adds)")  # fmt: skip
        rates = {False: [], True: []}
        for audit in (False, True, False, True):
            rates[audit].append(await _rate(pool, audit))
        off, on = max(rates[False]), max(rates[True])
        print(f"  without audit append: {off:,.0f} tx/s")
        print(f"  with audit append:    {on:,.0f} tx/s")
        print(f"  audit cost: {100 * (1 - on / off):.1f}% of throughput (target < 20%)")

        signer = CheckpointSigner(Ed25519PrivateKey.generate(), "bench.example/audit")
        service = AuditService(pool, signer)
        await service.seal()  # the entries written above
        t = time.perf_counter()
        await pool.execute(
            "INSERT INTO audit_entries (kind, at, jurisdictions, partner_id, subject, category,"
            " outcome, entry)"
            " SELECT 'access.decision', now(), ARRAY[CASE WHEN g % 4 = 0 THEN 'FR' ELSE 'DE' END],"
            " 'ptn_b', 'psn_' || md5(g::text), 'location', 'denied',"
            " format('{\"at\":\"2026-01-01T00:00:00Z\",\"category\":\"location\",\"i\":%s,"
            "\"jurisdictions\":[\"%s\"],\"kind\":\"access.decision\",\"outcome\":\"denied\","
            "\"partner_id\":\"ptn_b\",\"subject\":\"psn_%s\"}',"
            " g, CASE WHEN g % 4 = 0 THEN 'FR' ELSE 'DE' END, md5(g::text))"
            " FROM generate_series(1, $1) g",
            ENTRIES,
        )
        print(f"\ngenerated {ENTRIES:,} entries with INSERT…SELECT in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        t = time.perf_counter()
        result = await service.seal(batch_size=50_000)
        elapsed = time.perf_counter() - t
        print(f"sealing: {result.sealed:,} entries in {elapsed:.1f} s = "
              f"{result.sealed / elapsed:,.0f} entries/s ({result.checkpoints} checkpoints, "
              "each consistency-checked and signed)")  # fmt: skip

        checkpoint = (await service.latest_checkpoint()).note
        t = time.perf_counter()
        leaves = [bytes(r[0]) for r in await pool.fetch(
            "SELECT leaf_hash FROM audit_leaves ORDER BY leaf_index")]
        entries = [(r[0], r[1].encode()) for r in await pool.fetch(
            "SELECT l.leaf_index, e.entry FROM audit_leaves l JOIN audit_entries e"
            " ON e.id = l.entry_id WHERE e.jurisdictions && '{DE}' ORDER BY l.leaf_index")]
        fetched = time.perf_counter() - t
        t = time.perf_counter()
        report = verify_view(checkpoint, signer.verifier_key(), leaves, entries)
        elapsed = time.perf_counter() - t
        print(f"verification (pure core, after fetching in {fetched:.1f} s): {len(leaves):,} "
              f"leaves and {len(entries):,} visible entries in {elapsed:.1f} s = "
              f"{len(leaves) / elapsed:,.0f} leaves/s; ok={report.ok}")  # fmt: skip
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
