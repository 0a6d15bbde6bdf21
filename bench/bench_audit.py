"""Audit log rates over a large generated log: sealing (entries/s) and verification (leaves/s).

What the log costs the partner read is measured on the read itself, in bench_access.py (the
same read with the audit entry and without it, side by side).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import server_url

from ledger.audit import verify_view
from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import migrate

ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", "1000000"))


async def main() -> None:
    server = server_url()
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + "/" + name if "?" not in server else None
    if url is None:
        from urllib.parse import urlsplit, urlunsplit

        url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await migrate(url)
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        settings = Settings(
            database_url=url, data_dir=Path(tempfile.mkdtemp()), audit_origin="bench.example/audit"
        )
        service = bootstrap(settings, pool).audit
        t = time.perf_counter()
        await pool.execute(
            "INSERT INTO audit_entries (kind, at, jurisdictions, partner_id, subject, category,"
            " outcome, entry)"
            " SELECT 'access.decision', now(), ARRAY[CASE WHEN g % 4 = 0 THEN 'FR' ELSE 'DE' END],"
            " 'ptn_b', 'psn_' || md5(g::text), 'location', 'denied',"
            ' format(\'{"at":"2026-01-01T00:00:00Z","category":"location","i":%s,'
            '"jurisdictions":["%s"],"kind":"access.decision","outcome":"denied",'
            '"partner_id":"ptn_b","subject":"psn_%s"}\','
            " g, CASE WHEN g % 4 = 0 THEN 'FR' ELSE 'DE' END, md5(g::text))"
            " FROM generate_series(1, $1) g",
            ENTRIES,
        )
        print(
            f"generated {ENTRIES:,} entries with INSERT…SELECT in {time.perf_counter() - t:.1f} s"
        )
        t = time.perf_counter()
        result = await service.seal(batch_size=50_000)
        elapsed = time.perf_counter() - t
        print(
            f"sealing: {result.sealed:,} entries in {elapsed:.1f} s = "
            f"{result.sealed / elapsed:,.0f} entries/s ({result.checkpoints} checkpoints, "
            "each consistency-checked and signed)"
        )

        checkpoint = (await service.latest_checkpoint()).note
        t = time.perf_counter()
        leaves = [
            bytes(r[0])
            for r in await pool.fetch("SELECT leaf_hash FROM audit_leaves ORDER BY leaf_index")
        ]
        entries = [
            (r[0], r[1].encode())
            for r in await pool.fetch(
                "SELECT l.leaf_index, e.entry FROM audit_leaves l JOIN audit_entries e"
                " ON e.id = l.entry_id WHERE e.jurisdictions && '{DE}' ORDER BY l.leaf_index"
            )
        ]
        fetched = time.perf_counter() - t
        t = time.perf_counter()
        report = verify_view(checkpoint, service.verifier_key(), leaves, entries)
        elapsed = time.perf_counter() - t
        print(
            f"verification (pure core, after fetching in {fetched:.1f} s): {len(leaves):,} "
            f"leaves and {len(entries):,} visible entries in {elapsed:.1f} s = "
            f"{len(leaves) / elapsed:,.0f} leaves/s; ok={report.ok}"
        )
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
