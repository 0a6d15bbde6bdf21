"""The "My data" and "Who read what" pages against the JSON endpoints that serve the same
data, in requests per second over HTTP, one server process, the same run, the same customer;
each page and its endpoint take turns, and the ratio is the median of the turns'.

Target (issue: pages in the browser): each page at least 50% of its JSON endpoint's rate.
Prints figures and ratios; never asserts.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import server_url, with_database

from marketplace.bootstrap import open_services
from marketplace.config import Settings
from marketplace.demo import load_demo
from marketplace.http import issue_token
from tests.conftest import free_port, start_server

CLIENTS = 8
SECONDS = 4
TURNS = 3  # page and JSON alternate, so a change in the shared host's speed lands on both


async def rate(client: httpx.AsyncClient, path: str, headers: dict) -> float:
    done = 0
    stop = time.perf_counter() + SECONDS

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            r = await client.get(path, headers=headers)
            assert r.status_code == 200, (path, r.status_code)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return done / (time.perf_counter() - start)


async def main() -> None:
    base = server_url()
    name = f"bench_pages_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(base, name)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    settings = Settings(database_url=url, data_dir=data_dir)
    proc = None
    try:
        async with open_services(settings, max_size=4) as services:
            ids = await load_demo(services.consent, services.access, services.ledger)
        anna = ids["customers"]["demo-anna-de"]
        port = free_port()
        proc = start_server(settings, port, {"MAX_IN_FLIGHT": "0", "LOG_LEVEL": "warning"})
        origin = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
            page = await client.get("/app/signin")
            csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            r = await client.post("/app/signin/demo", data={"_csrf": csrf, "as": "demo-anna-de"})
            assert r.status_code == 303, r.text
            cookie = {"Cookie": f"mkt_session={client.cookies['mkt_session']}"}
            client.cookies.clear()
            token = issue_token(
                services.keys,
                issuer=settings.local_issuer,
                audience=settings.jwt_audience,
                role="customer",
                sub=anna,
            )
            bearer = {"Authorization": f"Bearer {token}"}
            print(
                f"{CLIENTS} clients, {SECONDS} s each, one server process;"
                f" page and JSON take {TURNS} turns, the medians kept"
            )
            for label, page_path, api_path in (
                ("My data", "/app/data", "/v1/me/data"),
                ("Who read what", "/app/access-log", "/v1/me/access-log?limit=100"),
            ):
                turns = [
                    (await rate(client, page_path, cookie), await rate(client, api_path, bearer))
                    for _ in range(TURNS)
                ]
                page_rate, api_rate = (statistics.median(t[k] for t in turns) for k in (0, 1))
                ratio = statistics.median(page / api for page, api in turns)
                print(
                    f"{label:<14} page {page_rate:8.0f} req/s   JSON {api_rate:8.0f} req/s"
                    f"   page/JSON {ratio:5.2f}  (target >= 0.50)"
                )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


if __name__ == "__main__":
    asyncio.run(main())
