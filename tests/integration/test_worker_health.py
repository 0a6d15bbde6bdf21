"""The job worker's liveness: /health 200 while it lives, /ready 503 while it cannot reach its
database and 200 again once it can; the same in /metrics. Against a real PostgreSQL that the
test stops and starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from marketplace.db import migrate
from tests.conftest import ROOT, free_port
from tests.fakes.cluster import Cluster


async def _until(check, worker, what: str):
    """Waits for `check()` to be true while the worker lives (no clock)."""
    while True:
        assert worker.poll() is None, f"the worker exited while waiting for {what}"
        try:
            if result := await check():
                return result
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)


async def test_the_worker_says_when_it_cannot_reach_its_database(tmp_path):
    cluster = Cluster()
    cluster.start()
    port = free_port()
    worker = None
    try:
        await migrate(cluster.url)
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "DATA_DIR": str(tmp_path / "data"),
            "WORKER_HEALTH_PORT": str(port),
            "JOB_POLL_SECONDS": "1",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:

            async def ready_is(status: int):
                return (await http.get("/ready")).status_code == status

            await _until(lambda: ready_is(200), worker, "the worker to be ready")
            health = (await http.get("/health")).json()
            assert health["database"] == "up" and health["last_loop_at"]
            metrics = (await http.get("/metrics")).text
            assert "marketplace_worker_database_up 1.0" in metrics

            cluster.stop("immediate")
            await _until(lambda: ready_is(503), worker, "/ready to say the database is gone")
            alive = await http.get("/health")
            assert alive.status_code == 200 and alive.json()["database"] == "down"
            assert "marketplace_worker_database_up 0.0" in (await http.get("/metrics")).text

            cluster.start()
            await _until(lambda: ready_is(200), worker, "the worker to be ready again")
            later = (await http.get("/health")).json()
            assert later["last_loop_at"] > health["last_loop_at"]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait()
        cluster.remove()
