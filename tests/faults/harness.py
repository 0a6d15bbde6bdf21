"""The fault harness: the real server processes (two API workers under one uvicorn supervisor,
and the job worker) on a PostgreSQL cluster of their own, which the tests restart, crash,
cut off and hang while a load runs; and the peers they talk to (a recording Stripe fake).

Every fault returns its window: when it began, and when the service's dependency was back
(the database accepting connections again, the lock released, the killed process gone).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from marketplace.config import Settings
from marketplace.db import migrate
from marketplace.http import issue_token
from marketplace.keys import KeyRing
from tests.conftest import ROOT, free_port, wait_until_ready
from tests.fakes.cluster import Cluster
from tests.fakes.stripe_server import FakeStripe

# A short statement limit, so a hung database answers 503 within a phase of a few seconds;
# the pool's acquire timeout stays the default (a busy machine is not an outage).
STATEMENT_TIMEOUT_MS = 2000
API_WORKERS = 2


@dataclass
class Window:
    """A fault, on the load's clock (time.monotonic): `start` before it was injected, `back`
    once what it took away was there again."""

    name: str
    start: float
    back: float

    def overlaps(self, start: float, end: float) -> bool:
        return start <= self.back and end >= self.start


class Harness:
    def __init__(self, home: Path):
        self.home = home
        self.cluster = Cluster()
        self.stripe = FakeStripe(delay=(0.05, 0.1)).start()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = home / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_log = home / "api.log"
        self.worker_log = home / "worker.log"
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.settings = Settings(
            database_url=self.cluster.url,
            data_dir=self.data_dir,
            public_url=self.url,
            port=self.port,
            stripe_api_key="sk_test_faults",
            stripe_api_base=self.stripe.url,
            rate_limit_reads_per_second=0,
            rate_limit_writes_per_second=0,
        )
        # The key file exists before any process starts, so every process signs with it.
        self.keys = KeyRing.load(self.settings.key_file, None, True, create=True)
        self.pool: asyncpg.Pool | None = None

    # -- processes ------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.cluster.url,
            "DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "PUBLIC_URL": self.url,
            "PYTHONPATH": str(ROOT),
            "LOG_FORMAT": "json",
            "API_PROCESSES": str(API_WORKERS),
            "RATE_LIMIT_READS_PER_SECOND": "0",
            "RATE_LIMIT_WRITES_PER_SECOND": "0",
            "STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
            "DB_POOL_MIN": "4",
            "DB_POOL_MAX": "8",
            "STRIPE_API_KEY": "sk_test_faults",
            "STRIPE_API_BASE": self.stripe.url,
            "JOB_HEARTBEAT_SECONDS": "1",
            "JOB_POLL_SECONDS": "0.5",
            "PAYOUT_BACKOFF_SECONDS": "0.2",
        }

    async def start(self) -> None:
        self.cluster.start()
        await migrate(self.cluster.url)
        self.pool = await asyncpg.create_pool(self.cluster.url, min_size=1, max_size=4)
        self.start_api()
        self.start_worker()
        await asyncio.to_thread(wait_until_ready, self.api, self.url)
        await self.wait_for_worker()

    def start_api(self) -> None:
        """As `marketplace run --workers 2` serves (its uvicorn supervisor), without the demo."""
        with open(self.api_log, "ab") as out:
            self.api = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "marketplace.app:app_from_env",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(API_WORKERS),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=self._env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_the_tests,
            )

    def start_worker(self) -> None:
        self._worker_starts = (
            self.worker_log.read_text().count('"worker_started"') if self.worker_log.exists() else 0
        )
        with open(self.worker_log, "ab") as out:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "marketplace.cli", "worker"],
                env=self._env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_the_tests,
            )

    async def wait_for_worker(self) -> None:
        """Until the job worker says it started (pytest-timeout bounds a worker that never
        does); fails if it exits first."""
        assert self.worker is not None
        while True:
            assert self.worker.poll() is None, f"the job worker exited ({self.worker.returncode})"
            if self.worker_log.read_text().count('"worker_started"') > self._worker_starts:
                return
            await asyncio.sleep(0.05)

    def api_worker_pids(self) -> list[int]:
        """The supervisor's live worker processes (not its resource tracker)."""
        assert self.api is not None
        children = Path(f"/proc/{self.api.pid}/task/{self.api.pid}/children").read_text().split()
        return [int(p) for p in children if _is_api_worker(int(p))]

    async def wait_for_api_workers(self, n: int = API_WORKERS) -> list[int]:
        while len(pids := self.api_worker_pids()) < n:
            assert self.api is not None and self.api.poll() is None, "the API supervisor exited"
            await asyncio.sleep(0.05)
        return pids

    async def stop(self) -> None:
        for proc in (self.worker, self.api):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (self.worker, self.api):
            if proc is not None:
                try:
                    await asyncio.to_thread(proc.wait, 20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.pool is not None:
            await self.pool.close()
        self.stripe.stop()
        self.cluster.remove()

    # -- faults ---------------------------------------------------------------------------

    async def restart_database(self, mode: str) -> Window:
        """`fast`: a clean restart; `immediate`: a crash, then crash recovery."""
        start = time.monotonic()
        await asyncio.to_thread(self.cluster.restart, mode)
        await self._until_database_answers()
        return Window(f"restart -m {mode}", start, time.monotonic())

    async def crash_database(self, down_for: float) -> Window:
        """An immediate stop (a crash), `down_for` seconds down, then recovery."""
        start = time.monotonic()
        await asyncio.to_thread(self.cluster.stop, "immediate")
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.cluster.start)
        await self._until_database_answers()
        return Window("crash (-m immediate)", start, time.monotonic())

    async def terminate_backends(self) -> Window:
        """pg_terminate_backend on every client connection but the harness's own."""
        start = time.monotonic()
        conn = await asyncpg.connect(self.cluster.url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return Window("pg_terminate_backend (all)", start, time.monotonic())

    async def hold_lock(self, table: str, seconds: float) -> Window:
        """ACCESS EXCLUSIVE on `table` for `seconds`: every statement that needs it waits."""
        conn = await asyncpg.connect(self.cluster.url)
        try:
            tx = conn.transaction()
            await tx.start()
            start = time.monotonic()
            await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            await asyncio.sleep(seconds)
            await tx.rollback()
            back = time.monotonic()
        finally:
            await conn.close()
        return Window(f"lock {table} {seconds:g} s", start, back)

    async def kill_api_worker(self) -> Window:
        """SIGKILL of one API worker; the other serves on. `back` once the supervisor has
        replaced it: until then the dead worker's keep-alive connections may still be handed
        a request by a client that has not yet read their close."""
        before = await self.wait_for_api_workers()
        victim = before[0]
        start = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        while not [p for p in self.api_worker_pids() if p not in before]:
            assert self.api is not None and self.api.poll() is None, "the API supervisor exited"
            await asyncio.sleep(0.01)
        return Window("SIGKILL API worker", start, time.monotonic())

    async def kill_job_worker(self) -> Window:
        """SIGKILL of the job worker, then a new one (as a process supervisor would)."""
        assert self.worker is not None
        start = time.monotonic()
        self.worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.worker.wait)
        back = time.monotonic()
        self.start_worker()
        await self.wait_for_worker()
        return Window("SIGKILL job worker", start, back)

    async def second_job_worker(self, load_done) -> Window:
        """Another job worker beside the first, as two replicas of a deployment run, while
        `load_done()` (payouts and seals to share) completes; then it stops."""
        first = self.worker
        start = time.monotonic()
        self.start_worker()
        await self.wait_for_worker()
        second, self.worker = self.worker, first
        try:
            await load_done()
        finally:
            assert second is not None
            second.terminate()
            await asyncio.to_thread(second.wait, 20)
        return Window("two job workers at once", start, time.monotonic())

    async def _until_database_answers(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.cluster.url, timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.02)
                continue
            await conn.close()
            return

    # -- callers --------------------------------------------------------------------------

    def token(self, role: str, sub: str, jurisdictions=()) -> str:
        return issue_token(
            self.keys,
            issuer=self.settings.local_issuer,
            audience=self.settings.jwt_audience,
            role=role,  # type: ignore[arg-type]
            sub=sub,
            jurisdictions=tuple(jurisdictions),
            ttl=3600,
        )

    def bearer(self, role: str, sub: str, jurisdictions=()) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub, jurisdictions)}"}

    @asynccontextmanager
    async def client(self, connections: int = 40):
        # Idle connections are let go before the server's keep-alive timeout (uvicorn: 5 s),
        # as a well-behaved client does: a request sent on a connection the server is closing
        # at that moment fails with no answer, a race of keep-alive, not of the fault.
        limits = httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2
        )
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=30) as http:
            yield http

    async def audit_verify(self) -> subprocess.CompletedProcess:
        token = self.token("regulator", "reg_fr_cnil", ["FR"])
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "marketplace.cli", "audit", "verify"]
            + ["--url", self.url, "--token", token],
            env=self._env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    async def ask_to_seal(self) -> None:
        """Enqueues a seal job, as the worker's own schedule does each minute."""
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries

        assert self.pool is not None
        async with self.pool.acquire() as conn:
            await Queries(AsyncpgDriver(conn)).enqueue(["seal_audit_log_now"], [None], [0])


def _die_with_the_tests() -> None:
    """The servers get SIGTERM when the test process dies, however it dies."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _is_api_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def new_key() -> str:
    return uuid.uuid4().hex
