"""Grant acceptances with money (grant + postings + audit, through the service) and ledger
postings per second, side by side with pgbench's tpcb-like rate on the same PostgreSQL.

Target (DESIGN §8, issue 17): acceptances ≥ 50% of pgbench's rate. Prints figures; never
asserts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import funded_cash_offer

from ledger import Account, Books, Posting
from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate

CLIENTS = 8
SECONDS = 10
WARM_UP_SECONDS = 2


def server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)
    return pgserver.get_server(ROOT / ".data" / "bench-pg", cleanup_mode=None).get_uri()


def with_db(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


def pgbench_binary() -> str:
    import pgserver

    embedded = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(embedded) if embedded.exists() else shutil.which("pgbench")


def run_pgbench(url: str) -> float:
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    env = {**os.environ}
    args = []
    host = q.get("host", [parts.hostname or ""])[0]
    if host:
        args += ["-h", host]
    if parts.port:
        args += ["-p", str(parts.port)]
    if parts.username:
        args += ["-U", parts.username]
    if parts.password:
        env["PGPASSWORD"] = parts.password
    db = parts.path.lstrip("/")
    exe = pgbench_binary()
    subprocess.run(
        [exe, *args, "-i", "-s", "1", "-q", db], env=env, check=True, capture_output=True
    )
    out = subprocess.run(
        [exe, *args, "-c", str(CLIENTS), "-j", "2", "-T", str(SECONDS), db],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    raise RuntimeError(out)


async def timed(n_workers: int, seconds: float, work) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(i):
        nonlocal done
        while time.perf_counter() < stop:
            await work(i)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(n_workers)))
    return done / (time.perf_counter() - start)


async def bench_app(url: str) -> tuple[float, float]:
    await migrate(url)
    pool = await create_pool(url, min_size=CLIENTS, max_size=CLIENTS)
    services = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp())), pool)
    consent = services.consent
    # One partner and offer per client, so clients contend on the ledger, not one offer row.
    offers = [
        await funded_cash_offer(
            services,
            title="b",
            description="b",
            categories=("device",),
            jurisdictions=("FR",),
            duration_days=30,
            lookback_days=7,
            max_grants=10_000_000,
        )
        for _ in range(CLIENTS)
    ]
    customers = [
        (await consent.create_customer(f"bench-{uuid.uuid4().hex}", "FR", None))[0].id
        for _ in range(8000)
    ]
    # Each client has its own offer and walks all customers from its own starting point:
    # every pair accepts once, and concurrent clients serve distinct customers (as 8
    # different people accepting at once would), not the same one eight times over.
    step = len(customers) // CLIENTS
    counters = [iter(customers[i * step :] + customers[: i * step]) for i in range(CLIENTS)]

    async def accept(i):
        await consent.accept_offer(next(counters[i]), offers[i].id)

    # Measured in a steady state, as pgbench's tables are after its VACUUM: the books already
    # hold accounts, and ANALYZE has seen them (autovacuum would within a minute).
    await timed(CLIENTS, WARM_UP_SECONDS, accept)
    await pool.execute("ANALYZE")
    accepts = await timed(CLIENTS, SECONDS, accept)

    async def post(i):
        async with pool.acquire() as conn, conn.transaction():
            await Books(conn).post(
                "bench",
                uuid.uuid4().hex,
                [
                    Posting(
                        account=Account(
                            kind="partner_escrow", owner_id=offers[i].partner_id, currency="EUR"
                        ),
                        amount=-1,
                    ),
                    Posting(account=Account(kind="platform_fees", currency="EUR"), amount=1),
                ],
            )

    postings = await timed(CLIENTS, SECONDS, post)
    await pool.close()
    return accepts, postings


async def main() -> None:
    base = server_url()
    admin = await asyncpg.connect(base)
    names = [f"bench_money_{uuid.uuid4().hex[:8]}", f"bench_pgbench_{uuid.uuid4().hex[:8]}"]
    for n in names:
        await admin.execute(f'CREATE DATABASE "{n}"')
    try:
        accepts, postings = await bench_app(with_db(base, names[0]))
        tps = run_pgbench(with_db(base, names[1]))
    finally:
        for n in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        await admin.close()
    print(f"clients: {CLIENTS}, {SECONDS} s each")
    print(f"pgbench tpcb-like:              {tps:10.0f} tps")
    print(f"grant acceptances with money:   {accepts:10.0f} /s")
    print(f"ledger postings (2-leg txns):   {postings:10.0f} /s  ({postings / tps:.0%} of pgbench)")
    print(
        f"grant acceptance with money and audit ÷ pgbench tpcb-like, same PostgreSQL, {CLIENTS} "
        f"clients: {accepts / tps:.0%} (target >= 50%)"
    )


if __name__ == "__main__":
    asyncio.run(main())
