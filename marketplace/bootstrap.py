"""The composition root: the one place services are built, for the app, the worker, the CLI,
the tests and the benchmarks alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import ledger
import ledger.audit
import offers
import offers.dataspace
import offers.obligations
from ledger import LedgerService, PayoutService, StripeGateway
from ledger.audit import AuditService, CheckpointSigner
from offers import (
    ConsentService,
    ReceiptChain,
    ReceiptSigner,
    Resolver,
    RetryPolicy,
    WebhookService,
)
from offers.dataspace import DataAccessService, DataSpaceService
from offers.insights import InsightService
from offers.obligations import Afterlife, Clock, DeletionPolicy, ObligationService, system_clock
from policies import RuleBundle, load_bundle
from sql import Replica, UnitOfWorkFactory, unit_of_work_factory

from .config import Settings
from .db import Pool, create_pool, embedded_database_url, migrate
from .keys import KeyLifecycle, KeyRing


@dataclass(frozen=True)
class Services:
    """Every service of one process, over one pool."""

    pool: Pool | None  # None when built over a unit-of-work factory of the caller's
    replica: Replica | None  # the streaming replica for reads that may lag, if configured
    uow: UnitOfWorkFactory  # what the services run in; the edge's Idempotency-Key store too
    keys: KeyRing
    key_lifecycle: KeyLifecycle  # the signing keys' registry: start check, JWKS, rotation
    rules: RuleBundle
    consent: ConsentService
    access: DataAccessService
    dataspace: DataSpaceService
    ledger: LedgerService
    payouts: PayoutService
    audit: AuditService
    webhooks: WebhookService
    obligations: ObligationService
    insights: InsightService


def load_keys(settings: Settings) -> KeyRing:
    return KeyRing.load(settings.key_file, settings.trusted_jwks_file, settings.accept_local_tokens)


def stripe_gateway(settings: Settings) -> StripeGateway:
    return StripeGateway(
        settings.stripe_api_key, settings.stripe_api_base, settings.stripe_payouts_api_base
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base_delay=settings.webhook_base_delay_seconds,
        max_delay=settings.webhook_max_delay_seconds,
        max_attempts=settings.webhook_max_attempts,
        timeout=settings.webhook_timeout_seconds,
    )


def deletion_policy(settings: Settings) -> DeletionPolicy:
    return DeletionPolicy(
        deadline=timedelta(days=settings.deletion_deadline_days),
        reminder_before=timedelta(days=settings.deletion_reminder_days),
        grace=timedelta(days=settings.deletion_grace_days),
    )


def bootstrap(
    settings: Settings,
    pool: Pool | None = None,
    *,
    replica_pool: Pool | None = None,
    uow: UnitOfWorkFactory | None = None,
    keys: KeyRing | None = None,
    rules: RuleBundle | None = None,
    stripe: StripeGateway | None = None,
    audit_decisions: bool = True,
    webhook_resolver: Resolver | None = None,
    metrics: bool = False,
    clock: Clock = system_clock,
) -> Services:
    """Builds every service from the settings, over `pool` (or over `uow`, a unit-of-work
    factory of the caller's: unit tests pass a fake one) and `replica_pool`, a streaming
    replica's, for the reads that may lag (docs/scale.md). `keys`, `rules` and `stripe`
    default to what the settings name; `audit_decisions=False` is the benchmark's audit-off
    baseline only; `webhook_resolver` replaces the system's resolver for webhook targets
    (tests: a name that resolves elsewhere at delivery); `metrics` counts the pool's waits
    and every decision in the Prometheus series (the API processes); `clock` is the time of
    deletion obligations, expiry and notifications (tests travel through it)."""
    from .metrics import DecisionCounter, PoolObserver, ReplicaRoutes

    replica = None
    if replica_pool is not None and pool is not None:
        replica = Replica(
            replica_pool,
            pool,
            wait=settings.replica_wait_ms / 1000,
            acquire_timeout=settings.db_acquire_timeout_seconds,
            observer=ReplicaRoutes() if metrics else None,
        )
    if uow is None:
        if pool is None:
            raise ValueError("bootstrap needs a pool or a unit-of-work factory")
        uow = unit_of_work_factory(
            pool,
            constraint_errors(),
            acquire_timeout=settings.db_acquire_timeout_seconds,
            observer=PoolObserver() if metrics else None,
            replica=replica,
            replica_max_lag=settings.replica_max_lag_seconds,
        )
    keys = keys or load_keys(settings)
    rules = rules or load_bundle()
    stripe = stripe or stripe_gateway(settings)
    signer = ReceiptSigner(
        keys.private_key, keys.kid, settings.local_issuer, service_url=settings.public_url
    )
    afterlife = Afterlife(clock, deletion_policy(settings))
    return Services(
        pool=pool,
        replica=replica,
        uow=uow,
        keys=keys,
        key_lifecycle=KeyLifecycle(uow, keys, checkpoint_origin=settings.checkpoint_origin),
        rules=rules,
        consent=ConsentService(
            uow,
            signer,
            rules,
            platform_fee_bps=settings.platform_fee_bps,
            afterlife=afterlife,
            operator=settings.operator,
        ),
        access=DataAccessService(
            uow,
            rules,
            audit=audit_decisions,
            on_decision=DecisionCounter() if metrics else None,
            cell_resolution=settings.insights.cell_resolution,
        ),
        dataspace=DataSpaceService(
            uow,
            private_key=keys.private_key,
            kid=keys.kid,
            issuer=settings.export_issuer,
            trusted_exporters=settings.trusted_exporters,
            afterlife=afterlife,
            cell_resolution=settings.insights.cell_resolution,
            receipts=ReceiptChain(signer),
        ),
        ledger=LedgerService(uow, stripe, settings.stripe_webhook_secret),
        payouts=PayoutService(
            uow,
            stripe,
            max_attempts=settings.payout_max_attempts,
            backoff_seconds=settings.payout_backoff_seconds,
        ),
        audit=AuditService(uow, CheckpointSigner(keys.private_key, settings.checkpoint_origin)),
        webhooks=WebhookService(
            uow,
            retry_policy(settings),
            allowed_hosts=settings.webhook_allowed_hosts,
            resolver=webhook_resolver,
        ),
        obligations=ObligationService(uow, signer, afterlife),
        insights=InsightService(uow, rules, settings.insights),
    )


def constraint_errors() -> dict:
    """Every package's map of violated constraints to domain errors, for the unit of work."""
    return {
        **ledger.CONSTRAINT_ERRORS,
        **ledger.audit.CONSTRAINT_ERRORS,
        **offers.CONSTRAINT_ERRORS,
        **offers.dataspace.CONSTRAINT_ERRORS,
    }


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.data_dir)


async def create_replica_pool(
    settings: Settings, *, max_size: int, statement_timeout_ms: int
) -> Pool | None:
    """The replica's pool when DATABASE_REPLICA_URL is set. It opens connections only when a
    read asks, so a replica that is down delays no start: its reads go to the primary."""
    if settings.database_replica_url is None:
        return None
    return await create_pool(
        settings.database_replica_url,
        min_size=0,
        max_size=max_size,
        statement_timeout_ms=statement_timeout_ms,
    )


@asynccontextmanager
async def open_services(
    settings: Settings, *, min_size: int = 1, max_size: int | None = None, **overrides
) -> AsyncIterator[Services]:
    """Migrates, opens a pool, builds the services and checks the signing key against the
    database (`KeyLifecycle.settle`); closes the pool afterwards. For jobs and commands: their
    statements run under the longer job limit."""
    url = database_url(settings)
    await migrate(url)
    pool = await create_pool(
        url,
        min_size=min_size,
        max_size=max_size or settings.db_pool_max,
        statement_timeout_ms=settings.job_statement_timeout_ms,
    )
    replica_pool = None
    try:
        replica_pool = await create_replica_pool(
            settings,
            max_size=max_size or settings.db_pool_max,
            statement_timeout_ms=settings.job_statement_timeout_ms,
        )
        services = bootstrap(settings, pool, replica_pool=replica_pool, **overrides)
        await services.key_lifecycle.settle()
        yield services
    finally:
        if replica_pool is not None:
            await replica_pool.close()
        await pool.close()
