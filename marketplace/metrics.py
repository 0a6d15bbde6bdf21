"""Prometheus metrics: what every process counts as it serves, and what the database says.

Two kinds of series:
- counted in each process (requests, latency, decisions, the pool): with several API processes
  they are kept in PROMETHEUS_MULTIPROC_DIR (set by `marketplace serve` / `run` before the
  processes start), so whichever process answers a scrape reports the sum over all of them;
- read from the database at scrape time (the job queue, unsealed audit entries, payouts,
  failed webhook deliveries): the same answer from any process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from sql import Replica, database_fault, load_queries

from .db import Pool

_QUERIES = load_queries("metrics.sql")

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DecisionCounter",
    "PoolObserver",
    "ReplicaRoutes",
    "metrics_middleware",
    "read_database",
    "render",
]

REQUESTS = Counter(
    "marketplace_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "marketplace_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DECISIONS = Counter(
    "marketplace_access_decisions_total",
    "Recorded access decisions, by outcome (allowed/denied) and each of their reasons",
    ["outcome", "reason"],
)
POOL_IN_USE = Gauge(
    "marketplace_db_pool_in_use",
    "Pooled database connections held by a unit of work now",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "marketplace_db_pool_waiting",
    "Units of work waiting for a free pooled connection now",
    multiprocess_mode="livesum",
)
POOL_TIMEOUTS = Counter(
    "marketplace_db_pool_acquire_timeouts_total",
    "Waits for a pooled connection that gave up after DB_ACQUIRE_TIMEOUT_SECONDS",
)

REPLICA_ROUTES = Counter(
    "marketplace_db_replica_routed_total",
    "Reads the streaming replica could serve, by the server that served them: `primary` when "
    "the replica was behind their tolerance or unreachable",
    ["server"],
)

UNMATCHED = "<unmatched>"  # a path no route serves: one label, not one per path tried


class PoolObserver:
    """What the unit of work reports about the pool (sql.unit_of_work.AcquireObserver)."""

    def acquiring(self) -> None:
        POOL_WAITING.inc()

    def acquired(self) -> None:
        POOL_WAITING.dec()
        POOL_IN_USE.inc()

    def failed(self, timed_out: bool) -> None:
        POOL_WAITING.dec()
        if timed_out:
            POOL_TIMEOUTS.inc()

    def released(self) -> None:
        POOL_IN_USE.dec()


class ReplicaRoutes:
    """Counts where each read that could use the replica went (sql.replica.RouteObserver)."""

    def routed(self, server: str) -> None:
        REPLICA_ROUTES.labels(server).inc()


class DecisionCounter:
    """Counts each recorded decision once per reason (a denial may have several)."""

    def __call__(self, allowed: bool, reasons: Iterable[str]) -> None:
        outcome = "allowed" if allowed else "denied"
        for reason in reasons:
            DECISIONS.labels(outcome, reason).inc()


def metrics_middleware(app: Any) -> Any:
    """Counts and times every HTTP request by its route template (never its raw path)."""

    async def middleware(scope, receive, send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            labels = (scope["method"], scope.get("path_template") or UNMATCHED, str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)

    return middleware


class _Snapshot(Collector):
    """Fixed values read from the database just before the scrape renders them."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def read_database(
    pool: Pool, *, timeout: float, replica: Replica | None = None, max_lag: float = 0.0
) -> list[Metric]:
    """The database-read series now, on one pooled connection: the replica's while it is at
    most `max_lag` seconds behind (a gauge a scrape apart tolerates that), else the primary's."""
    conn = await replica.acquire(max_lag) if replica is not None else None
    if conn is not None:
        assert replica is not None
        try:
            return database_families(await _read(conn))
        except Exception as e:
            if database_fault(e) is None:
                raise
            await replica.release(conn, broken=True)
            conn = None
        finally:
            if conn is not None:
                await replica.release(conn)
    async with pool.acquire(timeout=timeout) as conn:
        return database_families(await _read(conn))


async def _read(conn: Any) -> dict[str, list[dict]]:
    return {name: [dict(r) for r in await conn.fetch(q)] for name, q in _QUERIES.items()}


def database_families(rows: dict[str, list[dict]]) -> list[Metric]:
    """The database-read series, from the rows of sql/queries/metrics.sql."""
    depth = GaugeMetricFamily(
        "marketplace_job_queue_depth", "Jobs waiting or running, by kind", labels=["kind"]
    )
    age = GaugeMetricFamily(
        "marketplace_job_queue_oldest_age_seconds",
        "Age of the oldest job waiting, by kind",
        labels=["kind"],
    )
    for r in rows["job_queue"]:
        depth.add_metric([r["entrypoint"]], r["depth"])
        age.add_metric([r["entrypoint"]], r["oldest_age_seconds"])
    audit = rows["audit_unsealed"][0]
    unsealed = GaugeMetricFamily(
        "marketplace_audit_unsealed_entries", "Audit entries written but not yet sealed"
    )
    unsealed.add_metric([], audit["unsealed"])
    lag = GaugeMetricFamily(
        "marketplace_audit_seal_lag_seconds",
        "How long the oldest unsealed audit entry has waited (0 when all are sealed)",
    )
    lag.add_metric([], audit["lag_seconds"])
    payouts = GaugeMetricFamily(
        "marketplace_payouts", "Payouts by state (pending, succeeded, failed)", labels=["state"]
    )
    counts = {r["status"]: r["count"] for r in rows["payouts"]}
    for state in sorted({"pending", "succeeded", "failed", *counts}):
        payouts.add_metric([state], counts.get(state, 0))
    webhooks = GaugeMetricFamily(
        "marketplace_webhook_deliveries_failed",
        "Webhook deliveries given up after their last attempt",
    )
    webhooks.add_metric([], rows["webhooks_failed"][0]["count"])
    return [depth, age, unsealed, lag, payouts, webhooks]


def render(database: list[Metric]) -> bytes:
    """The text exposition: the processes' own series (summed over every API process when
    several share PROMETHEUS_MULTIPROC_DIR), then the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(database))
    return own + generate_latest(snapshot)
