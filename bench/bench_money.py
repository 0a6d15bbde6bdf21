"""Grant acceptances with money (grant + postings + audit, through the service) and ledger
postings per second, side by side with pgbench's tpcb-like rate on the same PostgreSQL.

Also the acceptance's write statement alone, driven by pgbench: the statement the service
sends (`claim_slot_and_grant`: grant, receipt, compensation, audit entries, `ledger_post`),
its arguments captured from one real acceptance, with fresh ids per transaction. The service
runs in this process (on uvloop, as the API server runs it), on the same cores as PostgreSQL,
while pgbench's client is a little C program; the statement's rate is what the database alone
does with an acceptance, and the gap to the service's is the service's Python (its read, the
decision, signing the receipt).
The same statement pipelined eight to a pgbench transaction (one round trip and one commit
for eight) shows what the database does when neither is paid per acceptance.

The service's acceptances, the statement alone, the statement pipelined and tpcb-like take
three turns each, one after another, so a change in the shared host's speed lands on all;
the ratios are the medians of the turns'. Target (DESIGN §8, issue 17): acceptances ≥ 50% of
pgbench's rate. Prints figures; never asserts.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
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

from common import analyze, funded_cash_offer, server_url, with_database

from ledger import Account, Books, Posting
from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate
from offers.repository import OffersRepository
from offers.repository import Q as OFFER_QUERIES

CLIENTS = 8
SECONDS = 10
WARM_UP_SECONDS = 2
TURNS = 3  # the four measures take turns, so host drift hits all of them
CUSTOMERS = 12_000  # per offer: more than the service's turns accept
STATEMENT_CUSTOMERS = 400_000  # more than the statement's pgbench runs accept
PIPELINED = 8  # statements to a pgbench transaction, in the pipelined measure


def pgbench_binary() -> str:
    import pgserver

    embedded = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(embedded) if embedded.exists() else shutil.which("pgbench")


def pgbench(url: str, *args: str) -> str:
    """pgbench against the database of `url`; its standard output."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    env = {**os.environ}
    conn = []
    host = q.get("host", [parts.hostname or ""])[0]
    if host:
        conn += ["-h", host]
    if parts.port:
        conn += ["-p", str(parts.port)]
    if parts.username:
        conn += ["-U", parts.username]
    if parts.password:
        env["PGPASSWORD"] = parts.password
    db = parts.path.lstrip("/")
    return subprocess.run(
        [pgbench_binary(), *conn, *args, db], env=env, check=True, capture_output=True, text=True
    ).stdout


def tps_of(out: str) -> float:
    for line in out.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    raise RuntimeError(out)


def tpcb_rate(url: str) -> float:
    """pgbench's tpcb-like, on a database it initialised (`pgbench -i -s 1`)."""
    return tps_of(pgbench(url, "-c", str(CLIENTS), "-j", "2", "-T", str(SECONDS)))


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


# -- the acceptance's write statement alone, through pgbench --------------------------------


async def captured_write(services, customer_id: str, offer_id: str) -> tuple:
    """One acceptance through the service, and the arguments its write statement was sent."""
    sent: list[tuple] = []
    real = OffersRepository.claim_slot_and_grant

    async def recording(repo, **kw):
        conn = repo.conn

        class Recorder:  # the one call the method makes on its connection
            async def fetchrow(self, query, *args):
                sent.append(args)
                return await conn.fetchrow(query, *args)

        repo.conn = Recorder()
        try:
            return await real(repo, **kw)
        finally:
            repo.conn = conn

    OffersRepository.claim_slot_and_grant = recording
    try:
        await services.consent.accept_offer(customer_id, offer_id)
    finally:
        OffersRepository.claim_slot_and_grant = real
    return sent[0]


def sql_literal(value) -> str:
    """A constant as SQL that pgbench leaves alone: it reads `:name` anywhere in a command as
    a variable, so a colon is spelled chr(58) (folded once into the prepared plan)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(value).lower()
    if isinstance(value, list | tuple):  # an array, each element double-quoted
        items = (str(x).replace("\\", "\\\\").replace('"', '\\"') for x in value)
        text = "{" + ",".join(f'"{x}"' for x in items) + "}"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''").replace(":", "' || chr(58) || '") + "'"


class WriteStatement:
    """The captured write, as a pgbench script: per transaction a number from a sequence
    names a new grant, customer (made beforehand) and ledger transaction; each pgbench
    client keeps to one offer, as the service's clients do."""

    def __init__(self, args: tuple, types: list[str], offer_ids: list[str]) -> None:
        self.args, self.types, self.offer_ids = args, types, offer_ids

    def script(self) -> str:
        a = self.args
        fresh = {  # argument value -> what it is in each pgbench transaction
            a[0]: "(SELECT 'gnt_pgb_' || n FROM k)",  # the grant ($1, and the reference $28)
            a[1]: "(SELECT 'cus_pgb_' || n FROM k)",  # the customer ($2, an earnings owner)
            a[2]: "(SELECT partner_id FROM k)",
            a[3]: "(SELECT offer_id FROM k)",
            a[24]: "(SELECT 'txn_pgb_' || n FROM k)",  # the ledger transaction
            a[26]: "(SELECT 'grant' || chr(58) || 'gnt_pgb_' || n FROM k)",  # its key
        }

        def argument(i: int) -> str:
            v = a[i]
            if i == 4:
                e = "(SELECT offer_version FROM k)"
            elif isinstance(v, list) and any(x in fresh for x in v):
                e = "ARRAY[" + ",".join(fresh.get(x, sql_literal(x)) for x in v) + "]"
            elif isinstance(v, str) and v in fresh:
                e = fresh[v]
            else:
                e = sql_literal(v)
            return f"({e})::{self.types[i]}"

        body = re.sub(r"--[^\n]*", "", OFFER_QUERIES["claim_slot_and_grant"]).strip()
        body = re.sub(r"\$(\d+)", lambda m: argument(int(m.group(1)) - 1), body)
        assert body.startswith("WITH ")
        client = (
            "k AS MATERIALIZED (SELECT nextval('pgb_seq')::text AS n, offer_id, partner_id,"
            " offer_version FROM pgb_clients WHERE c = :client_id), "
        )
        return "WITH " + client + " ".join(body[len("WITH ") :].split()) + ";\n"

    async def prepare(self, url: str) -> None:
        """The customers and clients the script names; half the customers have earned before
        (their earnings account is open), about as in the service's run."""
        a = self.args
        owners, kinds, currencies = a[30], a[29], a[31]
        earnings = owners.index(a[1])
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE SEQUENCE pgb_seq")
            await conn.execute(
                "CREATE TABLE pgb_clients (c integer PRIMARY KEY, offer_id text, partner_id text,"
                " offer_version integer)"
            )
            await conn.execute(
                "INSERT INTO pgb_clients SELECT n - 1, o.id, o.partner_id, o.current_version"
                " FROM unnest($1::text[]) WITH ORDINALITY AS w (id, n) JOIN offers o USING (id)",
                self.offer_ids,
            )
            await conn.execute(
                "INSERT INTO customers (id, external_ref, jurisdiction, birth_date)"
                " SELECT 'cus_pgb_' || g, 'pgb-' || g, $1, $2 FROM generate_series(1, $3) g",
                a[22],
                a[23],
                STATEMENT_CUSTOMERS,
            )
            await conn.execute(
                "INSERT INTO ledger_accounts (kind, owner_id, currency)"
                " SELECT $1, 'cus_pgb_' || g, $2 FROM generate_series(2, $3, 2) g",
                kinds[earnings],
                currencies[earnings],
                STATEMENT_CUSTOMERS,
            )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    async def rate(self, url: str, per_transaction: int = 1) -> float:
        """Statements/s of the script, 8 clients, prepared, after an uncounted warm-up;
        refused unless every statement made its grant and posted its compensation (the
        statement answers a row either way). With `per_transaction` > 1, each pgbench
        transaction pipelines that many statements between BEGIN and COMMIT: one round trip
        and one commit for them all, what the database does when neither is per acceptance."""
        script = self.script()
        if per_transaction > 1:
            script = f"\\startpipeline\nBEGIN;\n{script * per_transaction}COMMIT;\n\\endpipeline\n"
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
            f.write(script)
            f.flush()
            common = ["-n", "-M", "prepared", "-f", f.name, "-c", str(CLIENTS), "-j", "2"]
            pgbench(url, *common, "-T", str(WARM_UP_SECONDS))
            tps = per_transaction * tps_of(pgbench(url, *common, "-T", str(SECONDS)))
        conn = await asyncpg.connect(url)
        try:
            ran = await conn.fetchval("SELECT last_value FROM pgb_seq")
            grants = await conn.fetchval("SELECT count(*) FROM grants WHERE id LIKE 'gnt_pgb_%'")
            paid = await conn.fetchval(
                "SELECT count(*) FROM ledger_transactions WHERE id LIKE 'txn_pgb_%'"
            )
        finally:
            await conn.close()
        if not ran == grants == paid:
            raise RuntimeError(f"{ran} statements, {grants} grants, {paid} paid")
        return tps


async def bench_app(
    url: str, tpcb_url: str
) -> tuple[float, list[tuple[float, float, float, float]]]:
    """Ledger postings/s, then per turn: acceptances/s, the write statement alone/s (each its
    own transaction, then PIPELINED to a transaction), pgbench tpcb-like tps (its own
    database, `tpcb_url`)."""
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
        for _ in range(CUSTOMERS)
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
    await analyze(url)

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
    fresh = (await consent.create_customer(f"bench-{uuid.uuid4().hex}", "FR", None))[0].id
    args = await captured_write(services, fresh, offers[0].id)
    async with pool.acquire() as conn:
        stmt = await conn.prepare(OFFER_QUERIES["claim_slot_and_grant"])
        types = await conn.fetchval(
            "SELECT array_agg(format_type(t, NULL) ORDER BY n) FROM unnest($1::oid[])"
            " WITH ORDINALITY AS p (t, n)",
            [t.oid for t in stmt.get_parameters()],
        )
    write = WriteStatement(args, types, [o.id for o in offers])
    await write.prepare(url)
    pgbench(tpcb_url, "-i", "-s", "1", "-q")
    # Uncounted, as the service and the statement get theirs: the first seconds after -i run
    # at a fraction of the steady rate.
    pgbench(tpcb_url, "-c", str(CLIENTS), "-j", "2", "-T", str(WARM_UP_SECONDS))
    turns = []
    for _ in range(TURNS):
        turns.append(
            (
                await timed(CLIENTS, SECONDS, accept),
                await write.rate(url),
                await write.rate(url, PIPELINED),
                tpcb_rate(tpcb_url),
            )
        )
    await pool.close()
    return postings, turns


async def main() -> None:
    base = server_url()
    admin = await asyncpg.connect(base)
    names = [f"bench_money_{uuid.uuid4().hex[:8]}", f"bench_pgbench_{uuid.uuid4().hex[:8]}"]
    for n in names:
        await admin.execute(f'CREATE DATABASE "{n}"')
    try:
        app, tpcb = (with_database(base, n) for n in names)
        postings, turns = await bench_app(app, tpcb)
    finally:
        for n in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        await admin.close()
    print(f"clients: {CLIENTS}, {SECONDS} s each; {TURNS} turns of the four below")
    for i, (accepts, statement, pipelined, tps) in enumerate(turns, 1):
        print(
            f"turn {i}: acceptances {accepts:6.0f}/s, the write statement alone {statement:6.0f}/s"
            f" ({pipelined:6.0f}/s {PIPELINED} to a transaction), pgbench tpcb-like {tps:6.0f}"
            f" tps: {accepts / tps:.0%}, {statement / tps:.0%} ({pipelined / tps:.0%})"
        )
    accepts, statement, pipelined, tps = (statistics.median(t[k] for t in turns) for k in range(4))
    service = statistics.median(t[0] / t[3] for t in turns)
    alone = statistics.median(t[1] / t[3] for t in turns)
    batched = statistics.median(t[2] / t[3] for t in turns)
    share = statistics.median(t[0] / t[1] for t in turns)
    print(f"pgbench tpcb-like (median):     {tps:10.0f} tps")
    print(f"grant acceptances with money:   {accepts:10.0f} /s")
    print(f"ledger postings (2-leg txns):   {postings:10.0f} /s  ({postings / tps:.0%} of pgbench)")
    print(
        f"the acceptance's write statement alone (pgbench, no Python): {statement:10.0f} /s"
        f"  ({alone:.0%} of pgbench; the service's acceptance is {share:.0%} of it)"
    )
    print(
        f"the same, {PIPELINED} statements pipelined to a transaction (one round trip, one commit):"
        f" {pipelined:10.0f} /s  ({batched:.0%} of pgbench)"
    )
    print(
        f"grant acceptance with money and audit ÷ pgbench tpcb-like, same PostgreSQL, {CLIENTS} "
        f"clients: {service:.0%} (target >= 50%; the median of the turns' ratios)"
    )


if __name__ == "__main__":
    import uvloop  # the loop uvicorn serves the service on (uvicorn[standard])

    uvloop.run(main())
