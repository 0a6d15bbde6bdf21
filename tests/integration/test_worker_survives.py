"""The job worker survives its database: after the server stops (cleanly or by a crash) and
comes back, the same worker process reconnects by itself and runs jobs again; it says once
that the database is gone and once that it is back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import pytest
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from ledger.audit import AuditLog
from marketplace.db import migrate
from tests.conftest import ROOT
from tests.fakes.cluster import Cluster


async def _sealed(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM audit_leaves")
    finally:
        await conn.close()


async def _append_and_ask_to_seal(url: str, n: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for i in range(n):
                await AuditLog(conn).append("test.event", jurisdictions=["DE"], i=i)
        await Queries(AsyncpgDriver(conn)).enqueue(["seal_audit_log_now"], [None], [0])
    finally:
        await conn.close()


async def _until(predicate, worker, what: str) -> None:
    """Waits for `predicate` while the worker lives; no clock (pytest-timeout bounds a hang)."""
    while not await predicate():
        assert worker.poll() is None, f"the worker exited while waiting for {what}"
        await asyncio.sleep(0.2)


async def _up(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_worker_reconnects_and_resumes_after_the_database_returns(tmp_path, mode):
    cluster = Cluster()
    cluster.start()
    url = cluster.url
    log = tmp_path / "worker.log"
    worker = None
    try:
        await migrate(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(ROOT),
            "LOG_FORMAT": "json",
            "JOB_POLL_SECONDS": "1",
        }
        with open(log, "w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "marketplace.cli", "worker"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        await _append_and_ask_to_seal(url, 3)

        async def sealed_at_least(n):
            async def check():
                return await _sealed(url) >= n

            return check

        await _until(await sealed_at_least(3), worker, "the first seal")

        cluster.stop(mode)

        async def noticed():
            return "database_unavailable" in log.read_text()

        await _until(noticed, worker, "the worker to notice the database is gone")
        cluster.start()
        await _until(lambda: _up(url), worker, "the database to come back")

        await _append_and_ask_to_seal(url, 4)
        await _until(await sealed_at_least(7), worker, "a seal after the restart")
        assert worker.poll() is None, "the same worker process did the work"
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        cluster.remove()
    events = [
        json.loads(line).get("event")
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    assert events.count("database_unavailable") == 1, events
    assert events.count("database_back") == 1, events
