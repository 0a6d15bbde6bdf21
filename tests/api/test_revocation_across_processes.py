"""Revocation, pause and expiry take effect at once on every worker process.

Two real servers (uvicorn, the `marketplace.app:app_from_env` factory) share the test database
and signing key; consent ends through one of them and no later read is allowed on either.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import ROOT, wait_until_ready
from tests.decisions import recorded_decisions

READS_AFTER = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def servers(settings, app, database_url):
    """Two server processes on free ports; `app` first, so the signing key file exists."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(settings.data_dir),
        "SIGNING_KEY_FILE": str(settings.key_file),
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
        "RATE_LIMIT_READS_PER_SECOND": "0",  # 600 reads of one partner, as fast as it goes
        "RATE_LIMIT_WRITES_PER_SECOND": "0",
    }
    procs, urls = [], []
    try:
        for _ in range(2):
            port = _free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "marketplace.app:app_from_env",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            wait_until_ready(proc, url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _granted(client, actors):
    partner = await actors.partner()
    customer = await actors.customer("FR")
    offer = await actors.offer(partner, categories=["data_usage"], purposes=["research"])
    grant = await actors.accept(customer, offer)
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records",
        headers=actors.operator,
        json={
            "records": [
                {
                    "category": "data_usage",
                    "source": "t",
                    "payload": {"mb": 1},
                    "recorded_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                }
            ]
        },
    )
    assert r.status_code == 201, r.text
    return partner, customer, grant


async def _reads(http: httpx.AsyncClient, urls, partner, customer, n: int) -> list[tuple]:
    path = f"/v1/partner/customers/{customer['id']}/records"
    params = {"category": "data_usage", "purpose": "research"}
    out = []
    for i in range(n):
        r = await http.get(urls[i % 2] + path, params=params, headers=partner["auth"])
        reasons = r.json()["decision"]["reasons"] if r.status_code == 403 else None
        out.append((r.status_code, tuple(reasons) if reasons else None))
    return out


async def _end_and_check(client, actors, pool, servers, how: str, reason: str):
    partner, customer, grant = await _granted(client, actors)
    async with httpx.AsyncClient(timeout=10) as http:
        before = await _reads(http, servers, partner, customer, 4)
        assert all(status == 200 for status, _ in before), before
        if how == "expire":
            await pool.execute(
                "UPDATE grants SET granted_at = now() - interval '2 days',"
                " expires_at = now() - interval '1 millisecond' WHERE id = $1",
                grant["id"],
            )
        else:
            r = await http.post(
                f"{servers[0]}/v1/me/grants/{grant['id']}/{how}", headers=customer["auth"]
            )
            assert r.status_code == 200, r.text
        after = await _reads(http, servers, partner, customer, READS_AFTER)
    assert after == [(403, (reason,))] * READS_AFTER
    entries = await recorded_decisions(pool, customer["id"])
    stored = sum(e["outcome"] == "denied" for e in entries)
    assert stored == READS_AFTER  # every denial recorded, on both processes


async def test_revoke_on_one_process_denies_at_once_on_both(client, actors, pool, servers):
    await _end_and_check(client, actors, pool, servers, "revoke", "grant_revoked")


async def test_pause_on_one_process_denies_at_once_on_both(client, actors, pool, servers):
    await _end_and_check(client, actors, pool, servers, "pause", "grant_paused")


async def test_expiry_denies_at_once_on_both(client, actors, pool, servers):
    await _end_and_check(client, actors, pool, servers, "expire", "grant_expired")
