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

from offers import (
    DELIVER_ENTRYPOINT,
    ConsentService,
    ReceiptSigner,
    RetryPolicy,
    WebhookService,
)
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
        self.webhooks = WebhookService(
            pool,
            RetryPolicy(
                base_delay=settings.webhook_base_delay_seconds,
                max_delay=settings.webhook_max_delay_seconds,
                max_attempts=settings.webhook_max_attempts,
                timeout=settings.webhook_timeout_seconds,
            ),
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

    register_webhook_jobs(pgq, services)


def register_webhook_jobs(queue, services: Services) -> None:
    """Webhook delivery: one job per attempt; a failure enqueues the next with its backoff.

    `queue` is a PgQueuer or a bare QueueManager (tests drain one in process).
    """

    @queue.entrypoint(DELIVER_ENTRYPOINT)
    async def deliver_webhook(job: Job) -> None:
        status = await services.webhooks.deliver(job.payload.decode())
        log.info("webhook_attempt", delivery_id=job.payload.decode(), status=status)


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
