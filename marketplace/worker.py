"""Background work on the PostgreSQL job queue (pgqueuer): any number of workers may run.

Each area registers its jobs in `register_jobs`; the worker owns one pool for the jobs and
one dedicated connection for the queue's LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule

from offers import ConsentService, ReceiptSigner
from policies import load_bundle

from .config import Settings
from .db import create_pool, embedded_database_url, migrate
from .keys import KeyRing

log = structlog.get_logger("marketplace.worker")


class Services:
    """What jobs work with, built once per worker process."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool):
        keys = KeyRing.load(
            settings.key_file, settings.trusted_jwks_file, settings.accept_local_tokens
        )
        self.settings = settings
        self.pool = pool
        self.consent = ConsentService(
            pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), load_bundle()
        )


def register_jobs(pgq: PgQueuer, services: Services) -> None:
    @pgq.schedule("expire_grants", "* * * * *")
    async def expire_grants(schedule: Schedule) -> None:
        """Grants past their end read `expired` at once; this records the event for each."""
        while (n := await services.consent.expire_due_grants()) > 0:
            log.info("grants_expired", count=n)

    @pgq.entrypoint("expire_grants_now")
    async def expire_grants_now(job: Job) -> None:
        await services.consent.expire_due_grants()


async def run_worker(settings: Settings) -> None:
    url = settings.database_url or embedded_database_url(settings.data_dir)
    await migrate(url)
    pool = await create_pool(url, min_size=1, max_size=settings.db_pool_max)
    listener = await asyncpg.connect(url)
    try:
        pgq = PgQueuer(AsyncpgDriver(listener))
        register_jobs(pgq, Services(settings, pool))
        log.info("worker_started")
        await pgq.run()
    finally:
        await listener.close()
        await pool.close()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
