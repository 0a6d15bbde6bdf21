"""Background work on the PostgreSQL job queue (pgqueuer): any number of workers may run.

Each area registers its jobs in `register_jobs`; the worker owns one pool for the jobs and
one dedicated connection for the queue's LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule

from ledger import PAY_OUT_JOB
from ledger.audit import AuditService
from offers import DELIVER_ENTRYPOINT
from sql import database_fault

from .bootstrap import Services, database_url, open_services
from .config import Settings
from .db import connect_listener, create_partitions
from .worker_health import WorkerHealth, serve_health, watch

log = structlog.get_logger("marketplace.worker")


def _payload(job: Job) -> str:
    """The job's payload as text: every job here carries the id of what it works on."""
    if job.payload is None:
        raise ValueError(f"job {job.id} ({job.entrypoint}) has no payload")
    return job.payload.decode()


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
        payout = await services.payouts.pay_out(_payload(job))
        if payout is not None:
            log.info("payout", payout_id=payout.id, status=payout.status, attempts=payout.attempts)

    @pgq.schedule("seal_audit_log", "* * * * *")
    async def seal_audit_log(schedule: Schedule) -> None:
        """Seals new audit entries about once a second for the minute, then the next tick
        takes over; a concurrent run finds the sealer lock taken and stops."""
        await seal_for(services.audit, seconds=SEAL_LOOP_SECONDS)

    @pgq.entrypoint("seal_audit_log_now")
    async def seal_audit_log_now(job: Job) -> None:
        await services.audit.seal()

    @pgq.schedule("deletion_sweep", "* * * * *")
    async def deletion_sweep(schedule: Schedule) -> None:
        """Deletion reminders and overdue notices, suspensions of overdue partners, and the
        customers' scheduled notifications (expiry soon, the 90-day reminder)."""
        counts = await services.obligations.sweep()
        if any(counts.values()):
            log.info("deletion_sweep", **counts)

    @pgq.schedule("create_partitions", "17 3 * * *")
    async def make_partitions(schedule: Schedule) -> None:
        """The monthly partitions of records, decisions and the audit log, months ahead."""
        assert services.pool is not None
        await create_partitions(services.pool)

    register_webhook_jobs(pgq, services)


def register_webhook_jobs(queue, services: Services) -> None:
    """Webhook delivery: one job per attempt; a failure enqueues the next with its backoff.

    `queue` is a PgQueuer or a bare QueueManager (tests drain one in process).
    """

    @queue.entrypoint(DELIVER_ENTRYPOINT)
    async def deliver_webhook(job: Job) -> None:
        status = await services.webhooks.deliver(_payload(job))
        log.info("webhook_attempt", delivery_id=_payload(job), status=status)


SEAL_INTERVAL_SECONDS = 1.0
SEAL_LOOP_SECONDS = 58.0


async def seal_for(audit: AuditService, *, seconds: float) -> int:
    """Seal, then again every SEAL_INTERVAL_SECONDS, for `seconds`; returns entries sealed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    total = 0
    while True:
        result = await audit.seal()
        total += result.sealed
        if result.sealed:
            log.info("audit_sealed", count=result.sealed, tree_size=result.tree_size)
        if result.skipped or loop.time() + SEAL_INTERVAL_SECONDS > deadline:
            return total
        await asyncio.sleep(SEAL_INTERVAL_SECONDS)


# After a database failure the worker waits 0.5 s, then twice as long each time, up to 10 s.
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 10.0


async def run_worker(settings: Settings, health: WorkerHealth | None = None) -> None:
    """Runs the job queue until stopped, and survives the database: on any failure of the
    database (down, restarted, connections cut) it says so once, reconnects with backoff and
    resumes every job kind, and says once that the database is back. With WORKER_HEALTH_PORT
    set, its health is served there (marketplace/worker_health.py)."""
    health = health or WorkerHealth()
    server = None
    if settings.worker_health_port:
        server = await serve_health(health, settings.host, settings.worker_health_port)
        log.info("worker_health_listening", port=settings.worker_health_port)
    try:
        await _run_jobs(settings, health)
    finally:
        if server is not None:
            server.close()


async def _run_jobs(settings: Settings, health: WorkerHealth) -> None:
    delay = RECONNECT_FIRST_DELAY
    outage = False
    while True:
        try:
            async with open_services(settings) as services:
                listener = await connect_listener(database_url(settings))
                watcher = asyncio.create_task(watch(services.pool, health))
                try:
                    pgq = PgQueuer(AsyncpgDriver(listener))
                    register_jobs(pgq, services)
                    log.info("database_back" if outage else "worker_started")
                    outage, delay = False, RECONNECT_FIRST_DELAY
                    await pgq.run(
                        heartbeat_timeout=timedelta(seconds=settings.job_heartbeat_seconds),
                        dequeue_timeout=timedelta(seconds=settings.job_poll_seconds),
                    )
                    return  # asked to stop
                finally:
                    watcher.cancel()
                    with contextlib.suppress(Exception):
                        await listener.close()
        except Exception as e:
            if database_fault(e) is None:
                raise
            health.database_lost()
            if not outage:
                log.warning("database_unavailable", error=type(e).__name__)
                outage = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
