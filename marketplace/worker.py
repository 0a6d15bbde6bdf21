"""Background work on the PostgreSQL job queue (pgqueuer): any number of workers may run.

Each area registers its jobs in `register_jobs`; the worker owns one pool for the jobs and
one dedicated connection for the queue's LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import structlog
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule

from ledger import PAY_OUT_JOB, LedgerService, PayoutService
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
            pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), load_bundle(),
            platform_fee_bps=settings.platform_fee_bps,
        )  # fmt: skip
        gateway = settings.stripe_gateway()
        self.ledger = LedgerService(pool, gateway, settings.stripe_webhook_secret)
        self.payouts = PayoutService(
            pool, gateway, max_attempts=settings.payout_max_attempts,
            backoff_seconds=settings.payout_backoff_seconds,
        )  # fmt: skip


def register_jobs(pgq: PgQueuer, services: Services) -> None:
    @pgq.schedule("expire_grants", "* * * * *")
    async def expire_grants(schedule: Schedule) -> None:
        """Grants past their end read `expired` at once; this records the event for each."""
        while (n := await services.consent.expire_due_grants()) > 0:
            log.info("grants_expired", count=n)

    @pgq.entrypoint("expire_grants_now")
    async def expire_grants_now(job: Job) -> None:
        await services.consent.expire_due_grants()

    @pgq.schedule("settle", "0 * * * *")
    async def settle(schedule: Schedule) -> None:
        """Customers' earnings become payouts (each with its own pay_out job)."""
        created = await services.payouts.settle()
        log.info("settled", payouts=len(created))

    @pgq.entrypoint(PAY_OUT_JOB)
    async def pay_out(job: Job) -> None:
        """One payout through Stripe; repeating it (after a crash) is safe by design."""
        payout = await services.payouts.pay_out(job.payload.decode())
        if payout is not None:
            log.info("payout", payout_id=payout.id, status=payout.status, attempts=payout.attempts)


async def run_worker(settings: Settings) -> None:
    url = settings.database_url or embedded_database_url(settings.data_dir)
    await migrate(url)
    pool = await create_pool(url, min_size=1, max_size=settings.db_pool_max)
    listener = await asyncpg.connect(url)
    try:
        pgq = PgQueuer(AsyncpgDriver(listener))
        register_jobs(pgq, Services(settings, pool))
        log.info("worker_started")
        await pgq.run(
            heartbeat_timeout=timedelta(seconds=settings.job_heartbeat_seconds),
            dequeue_timeout=timedelta(seconds=settings.job_poll_seconds),
        )
    finally:
        await listener.close()
        await pool.close()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
