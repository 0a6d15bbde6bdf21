"""Partner record read over HTTP vs two baselines in the same app; decision latency at scale.

HTTP: the app is served as `make run` serves it (`marketplace.app:app_from_env`, 1 worker)
on a bench database, with BENCH_ENDPOINTS=1 mounting two baselines in the same app: a bare JSON
endpoint and one indexed SELECT through the same pool (all three behind the same middleware and
bearer authentication). `wrk` (64 connections, 4 s turns) drives it from a separate process.
Every partner read records its decision (as its audit entry) before responding; the audit-off
read records it as a plain decisions row instead. The same cases run under two servers, one
after the other, on the same database and data: uvicorn (httptools and uvloop when installed,
as `make run`'s uvicorn picks them) and granian (ASGI, its uvloop loop when installed;
`pip install -e '.[bench]'`), skipped if granian is not installed. Each server's
partner read is read against its own one-SELECT, then granian against uvicorn per endpoint.

Scale: the facade's fetch + decide (no writes) with 10,000 grants, then with 1,000,000 grants
over 100,000 customers (COPY), in one database, customers and partners sampled uniformly at
both sizes, after the same settle + pre-warm; the bench's embedded server runs with
shared_buffers = 1GB so the 1M set fits in PostgreSQL's cache as it would on a sized server.

Figures are printed, never asserted. BENCH_PARTS=http (or scale) runs one part only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (
    SAMPLES,
    copy_customers,
    copy_grants,
    decision_latency,
    seed_partners,
    server_url,
    settle,
    with_database,
)

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.db import create_pool, migrate
from marketplace.http.auth import issue_token
from marketplace.keys import KeyRing

CONNECTIONS = 64
DURATION_S = int(os.environ.get("BENCH_SECONDS", "24"))  # per case, over its rounds
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))  # short turns: a host that slows slows all
HTTP_CUSTOMERS = 1000
RECORDS_EACH = 20
PARTNERS = 10  # scale test: every customer holds one grant from each partner


# -- HTTP -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(base: str, token: str, paths: list[str], seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n")
        lua.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        lua.write(
            "i = 0\nrequest = function()\n  i = i + 1\n"
            "  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n"
        )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", lua.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(lua.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50"),
        "p99": ms("99"),
        "requests": requests,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU these processes have used (processes gone meanwhile count 0)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_processes() -> list[psutil.Process]:
    """Every PostgreSQL process on the machine (the bench's server and its backends)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def measured(server_pid: int, run) -> dict:
    """wrk's figures for `run()`, with the CPU each request cost the app's process and
    PostgreSQL (µs per request): where a request's time goes on two shared cores."""
    app, pg = [psutil.Process(server_pid)], postgres_processes()
    app0, pg0 = cpu_seconds(app), cpu_seconds(pg)
    result = run()
    known = {p.pid for p in pg}  # backends started during the run count too
    pg += [p for p in postgres_processes() if p.pid not in known]
    n = max(result["requests"], 1)
    result["app_us"] = (cpu_seconds(app) - app0) / n * 1e6
    result["pg_us"] = (cpu_seconds(pg) - pg0) / n * 1e6
    return result


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _median_round(runs: list[dict]) -> dict:
    """One case's figures over its rounds: medians of the rates and latencies, sums of the
    counts."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "app_us": statistics.median(r["app_us"] for r in runs),
        "pg_us": statistics.median(r["pg_us"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": "; ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }


def server_command(server: str, port: int) -> list[str]:
    """The command line serving the app under `server`: 1 worker, no access log."""
    app = ["marketplace.app:app_from_env", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    quiet = ["--log-level", "warning", "--no-access-log"]
    loop = "uvloop" if installed("uvloop") else "auto"
    if server == "uvicorn":  # what its "auto" picks when installed, said explicitly
        http = "httptools" if installed("httptools") else "auto"
        server_opts = ["--http", http, "--loop", loop]
    else:  # granian: its own uvloop loop if installed; HTTP/1.1, as uvicorn speaks
        server_opts = ["--interface", "asgi", "--http", "1", "--loop", loop]
    return [sys.executable, "-m", server, *app, "--workers", "1", *server_opts, *quiet]


def serve_and_measure(
    server_name: str, url: str, partner_id: str, customers: list[str], data_dir: Path
) -> dict:
    """Starts the app under `server_name` (1 worker), measures each endpoint with wrk."""
    keys = KeyRing.load(data_dir / "signing-key.pem", None, True)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "BENCH_ENDPOINTS": "1",
        "RATE_LIMIT_READS_PER_SECOND": "1000000",  # counted, never refused
        "RATE_LIMIT_WRITES_PER_SECOND": "1000000",
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
    }
    server = subprocess.Popen(
        server_command(server_name, port),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(errors := tempfile.TemporaryFile()),  # said only if it exits before ready
    )
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        # Until it answers, however long a loaded machine takes to start it.
        while server.poll() is None:
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            errors.seek(0)
            raise RuntimeError(
                f"{server_name} exited with {server.returncode} before it was ready:\n"
                + errors.read().decode(errors="replace")[-4000:]
            )
        token = issue_token(
            keys,
            issuer="marketplace-local",
            audience="marketplace",
            role="partner",
            sub=partner_id,
            ttl=3600,
        )
        sample = customers[:200]
        cases = {
            "bare JSON endpoint": ["/bench/json"],
            "one indexed SELECT": [f"/bench/select/{c}?category=data_usage" for c in sample],
            "partner record read": [
                f"/v1/partner/customers/{c}/records?category=data_usage&purpose=research"
                for c in sample
            ],
            "same read, audit off": [
                f"/bench/read-without-audit/{c}?category=data_usage&purpose=research"
                for c in sample
            ],
        }
        # Check once that each path answers 200 with data before measuring it.
        h = {"Authorization": f"Bearer {token}"}
        for paths in cases.values():
            r = httpx.get(base + paths[0], headers=h)
            assert r.status_code == 200, r.text
        for paths in cases.values():
            wrk(base, token, paths, 2)  # warm-up
        # The cases take turns, ROUNDS times, so a machine that slows down during the run
        # slows every case alike; each figure is the median of its rounds.
        rounds: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, paths in cases.items():
                rounds[name].append(
                    measured(server.pid, lambda p=paths: wrk(base, token, p, DURATION_S // ROUNDS))
                )
        results = {name: _median_round(runs) for name, runs in rounds.items()}
    finally:
        server.terminate()  # graceful: requests still in flight when wrk stopped complete first
        server.wait(timeout=15)
        errors.close()
    return results


async def http_bench(url: str) -> None:
    # The signing key is registered before the grants are loaded, as an operator's would be:
    # their receipts are placeholders, and a start refuses signatures no registered key made.
    data_dir = Path(tempfile.mkdtemp(prefix="bench-access-"))
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        await bootstrap(Settings(database_url=url, data_dir=data_dir), pool).key_lifecycle.settle()
    finally:
        await pool.close()
    conn = await asyncpg.connect(url)
    try:
        [(partner_id, _offer)] = partners = await seed_partners(conn, 1)
        customers = await copy_customers(conn, 0, HTTP_CUSTOMERS, keys=True)
        await copy_grants(conn, customers, partners)
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "records",
            columns=("customer_id", "category", "recorded_at", "source", "payload"),
            records=[
                (
                    cid,
                    "data_usage",
                    now - timedelta(days=j, minutes=random.random() * 60),
                    "bench",
                    '{"mb_down": 812, "mb_up": 95, "period": "day"}',
                )
                for cid in customers
                for j in range(RECORDS_EACH)
            ],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()

    servers = [s for s in os.environ.get("BENCH_SERVERS", "uvicorn,granian").split(",") if s]
    servers = [s for s in servers if s == "uvicorn" or installed(s)]
    if "granian" not in servers:
        print("granian not measured (BENCH_SERVERS, or pip install -e '.[bench]')")
    runs = {}
    stored = await stored_decisions(url)
    try:
        for name in servers:
            results = await asyncio.to_thread(
                serve_and_measure, name, url, partner_id, customers, data_dir
            )
            before, stored = stored, await stored_decisions(url)
            print_run(name, results, stored[0] - before[0], stored[1] - before[1])
            runs[name] = results
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if set(runs) == {"uvicorn", "granian"}:
        print_comparison(runs)


async def stored_decisions(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM decisions"),
            await conn.fetchval(
                "SELECT count(*) FROM audit_entries WHERE kind = 'access.decision'"
            ),
        )
    finally:
        await conn.close()


def describe(server: str) -> str:
    cmd = server_command(server, 0)
    opts = {"--http": "HTTP", "--loop": "loop", "--interface": "interface"}
    return ", ".join(f"{opts[a]} {b}" for a, b in zip(cmd, cmd[1:]) if a in opts)


def print_run(server: str, results: dict, decisions: int, audits: int) -> None:
    print(
        f"HTTP, wrk 1 thread, {CONNECTIONS} connections, {DURATION_S} s each in {ROUNDS} rounds"
        f" taking turns, {server} 1 worker"
        f" ({describe(server)}):"
    )
    print(
        f"  {'endpoint':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'non-2xx':>9}"
        f"{'app CPU µs/req':>16}{'PG CPU µs/req':>15}"
    )
    for name, r in results.items():
        print(
            f"  {name:<22}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['requests']:>10}{r['non2xx']:>9}{r['app_us']:>16.0f}{r['pg_us']:>15.0f}"
            f"  {r['socket_errors']}"
        )
    read, select = results["partner record read"], results["one indexed SELECT"]
    print(
        f"  partner read / one-SELECT rate: {read['rps'] / select['rps']:.0%} (target >= 75%);"
        f" p99 {read['p99'] / select['p99']:.2f}x the one-SELECT's (target <= 1.5x)"
    )
    unaudited = results["same read, audit off"]
    print(
        f"  audit log's cost on the partner read (with vs without the entry): "
        f"{1 - read['rps'] / unaudited['rps']:.0%} ({read['rps']:.0f} vs "
        f"{unaudited['rps']:.0f} req/s; target < 5%)"
    )
    print(
        f"  decisions stored (reads incl. warm-up and checks): {audits} as their audit entry,"
        f" {decisions} as decisions rows (the audit-off reads)"
    )


def print_comparison(runs: dict[str, dict]) -> None:
    print("\nServers compared (same database, data and wrk settings, one after the other):")
    print(f"  {'server':<10}{'read / SELECT req/s':>21}{'read p99 / SELECT p99':>23}")
    for server, results in runs.items():
        read, select = results["partner record read"], results["one indexed SELECT"]
        rate, tail = read["rps"] / select["rps"], read["p99"] / select["p99"]
        print(f"  {server:<10}{rate:>20.0%} {tail:>21.2f}x")
    print("  (targets: read / SELECT >= 75%, read p99 <= 1.5x the SELECT's)")
    print(f"  {'granian / uvicorn':<22}{'req/s':>9}{'p50':>9}{'p99':>9}")
    uv, gr = runs["uvicorn"], runs["granian"]
    for name in uv:
        a, b = uv[name], gr[name]
        print(
            f"  {name:<22}{b['rps'] / a['rps']:>8.2f}x{b['p50'] / a['p50']:>8.2f}x"
            f"{b['p99'] / a['p99']:>8.2f}x"
        )


# -- scale ------------------------------------------------------------------------------------


async def scale_bench(url: str) -> None:
    rng = random.Random(7)
    conn = await asyncpg.connect(url)
    try:
        partners = await seed_partners(conn, PARTNERS)
        small = await copy_customers(conn, 10_000_000, 1_000, keys=False)
        n_small = await copy_grants(conn, small, partners)
        await settle(conn)
    finally:
        await conn.close()
    small_p50, small_p99 = await decision_latency(url, small, partners, rng)

    t0 = time.perf_counter()
    conn = await asyncpg.connect(url)
    customers = list(small)
    try:
        total = n_small
        for start in range(0, 99_000, 11_000):
            batch = await copy_customers(conn, 20_000_000 + start, 11_000, keys=False)
            total += await copy_grants(conn, batch, partners)
            customers += batch
        await settle(conn)
    finally:
        await conn.close()
    load_s = time.perf_counter() - t0
    big_p50, big_p99 = await decision_latency(url, customers, partners, rng)

    print(
        f"\nDecision latency (facade: one indexed fetch + decide; {SAMPLES} sequential samples,"
        " random customer and partner):"
    )
    print(
        f"  {n_small:>9,} grants / {len(small):>7,} customers: p50 {small_p50:7.0f} µs, "
        f"p99 {small_p99:7.0f} µs"
    )
    print(
        f"  {total:>9,} grants / {len(customers):>7,} customers: p50 {big_p50:7.0f} µs, "
        f"p99 {big_p99:7.0f} µs  (loaded with COPY in {load_s:.0f} s)"
    )
    print(f"  ratio large/small p50: {big_p50 / small_p50:.2f}x (target within 1.5x)")


async def main() -> None:
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install -y wrk); skipping the HTTP part")
    admin_url = server_url()
    admin = await asyncpg.connect(admin_url)
    names = []
    try:
        for part in os.environ.get("BENCH_PARTS", "http,scale").split(","):
            if part == "http" and shutil.which("wrk") is None:
                continue
            name = f"mkt_bench_{part}_{uuid.uuid4().hex[:8]}"
            names.append(name)
            await admin.execute(f'CREATE DATABASE "{name}"')
            url = with_database(admin_url, name)
            await migrate(url)
            await (http_bench(url) if part == "http" else scale_bench(url))
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())
