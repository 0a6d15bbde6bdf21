"""Reads that may lag come from a real streaming replica; reads that must not, never do.

A primary cluster of the test's own and a hot standby made from it with pg_basebackup
(tests/fakes/cluster.py). Pausing the standby's replay (`pg_wal_replay_pause`) makes it
visibly behind: a row written on the primary after the pause is on the primary only, so what a
read returns says which server answered it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from ledger.audit import AuditLog
from marketplace.app import create_app
from marketplace.bootstrap import Services, bootstrap
from marketplace.db import create_pool, migrate
from offers import Compensation, OfferTerms
from offers.dataspace import AccessDenied
from tests.conftest import bearer, seal_everything
from tests.fakes.cluster import Cluster

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def clusters():
    primary = Cluster()
    primary.start()
    standby = None
    try:
        standby = primary.standby()
        standby.start()
        yield primary, standby
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


def _database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
async def urls(clusters):
    primary, standby = clusters
    admin = await asyncpg.connect(primary.url)
    await admin.execute("CREATE DATABASE market")
    await admin.close()
    primary_url, replica_url = _database(primary.url, "market"), _database(standby.url, "market")
    await migrate(primary_url)
    await caught_up(primary_url, replica_url)
    return primary_url, replica_url


async def caught_up(primary_url: str, replica_url: str) -> None:
    """Returns once the standby has replayed everything the primary has written so far."""
    p = await asyncpg.connect(primary_url)
    target = await p.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    await p.close()
    for _ in range(500):
        try:
            r = await asyncpg.connect(replica_url)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError):
            await asyncio.sleep(0.02)  # the database itself may not be replayed yet
            continue
        try:
            if await r.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
                return
        finally:
            await r.close()
        await asyncio.sleep(0.02)
    raise AssertionError("the standby did not catch up")


class Standby:
    """The standby's replay, as a superuser switches it."""

    def __init__(self, url: str):
        self.url = url

    async def _call(self, function: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"SELECT {function}()")
        finally:
            await conn.close()

    async def pause(self) -> None:
        await self._call("pg_wal_replay_pause")

    async def resume(self) -> None:
        await self._call("pg_wal_replay_resume")


@pytest.fixture(scope="module")
async def world(urls, settings):
    primary_url, replica_url = urls
    tuned = replace(
        settings,
        database_url=primary_url,
        database_replica_url=replica_url,
        replica_max_lag_seconds=120.0,  # the position sampled stays usable for 60 s
        replica_wait_ms=200,
    )
    pool = await create_pool(primary_url, min_size=1, max_size=4)
    replica_pool = await create_pool(replica_url, min_size=0, max_size=4)
    services = bootstrap(tuned, pool, replica_pool=replica_pool, metrics=True)
    await services.key_lifecycle.settle()
    yield tuned, services, Standby(replica_url)
    await replica_pool.close()
    await pool.close()


def routed(server: str) -> float:
    return REGISTRY.get_sample_value("marketplace_db_replica_routed_total", {"server": server}) or 0


@dataclass(frozen=True)
class Granted:
    """A partner's offer, a customer with one location record, and the customer's grant."""

    partner_id: str
    offer_id: str
    customer_id: str
    grant_id: str


async def granted(services: Services) -> Granted:
    consent = services.consent
    partner = await consent.create_partner("P", "DE")
    await services.ledger.adjust_escrow(partner.id, 10_000, "EUR", idempotency_key=uuid.uuid4().hex)
    terms = OfferTerms(
        title="t",
        description="d",
        categories=("location",),
        purposes=("research",),
        duration_days=30,
        lookback_days=7,
        compensation=Compensation(kind="discount", amount=100, currency="EUR"),
        jurisdictions=("FR",),
    )
    offer = await consent.create_offer(partner.id, terms, 10)
    await consent.change_offer_status(partner.id, offer.id, "publish")
    customer, _ = await consent.create_customer(f"ref-{uuid.uuid4().hex}", "FR", None)
    await services.access.ingest(
        customer.id,
        [{"category": "location", "recorded_at": datetime.now(UTC).isoformat(), "source": "t",
          "payload": {"lat": 48.85, "lon": 2.35}}],
    )  # fmt: skip
    grant = await consent.accept_offer(customer.id, offer.id)
    return Granted(partner.id, offer.id, customer.id, grant.id)


async def test_a_regulator_read_within_its_lag_is_answered_by_the_replica(world, urls):
    settings, services, standby = world
    pool = services.pool
    await append_entry(pool, "before")
    await seal_everything(services.audit, pool)
    await caught_up(*urls)
    before = await services.audit.latest_checkpoint()  # takes the primary's position now
    await standby.pause()
    try:
        await append_entry(pool, "after")
        await seal_everything(services.audit, pool)
        on_primary = await pool.fetchval("SELECT max(tree_size) FROM audit_checkpoints")
        assert on_primary > before.tree_size
        served = routed("replica")
        # Within the tolerance of the position taken above: the replica answers, with
        # the checkpoint it has (the newer one exists on the primary only).
        assert (await services.audit.latest_checkpoint()).tree_size == before.tree_size
        assert routed("replica") == served + 1
        # A proof naming the newer tree is beyond what the replica has: the primary serves it.
        proof = await services.audit.inclusion_proof(0, on_primary)
        assert proof["tree_size"] == on_primary
    finally:
        await standby.resume()


async def append_entry(pool, tag: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await AuditLog(conn).append("test.event", jurisdictions=["DE"], tag=tag)


async def test_reads_that_must_not_lag_never_go_to_the_replica(world, urls):
    settings, services, standby = world
    g = await granted(services)
    page = await services.access.read_records(g.partner_id, g.customer_id, "location", "research")
    assert len(page.data) == 1
    await caught_up(*urls)
    await standby.pause()
    try:
        replica_reads = routed("replica")
        # Revoked on the primary; the paused standby still holds the grant as active.
        await services.consent.change_grant(g.customer_id, g.grant_id, "revoke")
        with pytest.raises(AccessDenied) as denied:
            await services.access.read_records(g.partner_id, g.customer_id, "location", "research")
        assert "grant_revoked" in denied.value.decision.reasons
        # The overview must reflect the revoke that returned before it: the replica cannot
        # catch up while paused, so after its short wait the primary answers.
        overview = await services.dataspace.overview(g.customer_id)
        assert all(not c.readers for c in overview.categories)
        # An acceptance reads and writes on the primary (the standby refuses every write).
        again = await services.consent.accept_offer(g.customer_id, g.offer_id)
        assert again.status == "active"
        assert routed("replica") == replica_reads
    finally:
        await standby.resume()


async def test_a_caught_up_replica_serves_the_overview_and_the_export(world, urls):
    settings, services, standby = world
    g = await granted(services)
    export = await services.dataspace.create_export(g.customer_id)
    await caught_up(*urls)
    served = routed("replica")
    overview = await services.dataspace.overview(g.customer_id)
    [location] = [c for c in overview.categories if c.category == "location"]
    assert location.record_count == 1
    assert [r.partner_id for r in location.readers] == [g.partner_id]
    download = await services.dataspace.open_download(g.customer_id, export.id)
    body = b"".join([chunk async for chunk in download])
    assert export.id.encode() in body and b'"location"' in body
    assert routed("replica") == served + 2


async def test_the_app_with_a_replica_url_serves_regulator_reads_from_it(world, urls, token):
    settings, services, _ = world
    await seal_everything(services.audit, services.pool)
    await caught_up(*urls)
    served = routed("replica")
    async with AsyncTestClient(app=create_app(settings)) as client:
        regulator = bearer(token("regulator", "reg_de", ["DE"]))
        r = await client.get("/v1/audit/checkpoint", headers=regulator)
        assert r.status_code == 200, r.text
        r = await client.get("/v1/audit/entries", headers=regulator)
        assert r.status_code == 200 and r.json()["data"], r.text
    assert routed("replica") >= served + 2


async def test_a_replica_that_is_down_leaves_every_read_to_the_primary(world, clusters, caplog):
    settings, services, _ = world
    _, standby = clusters
    standby.stop("immediate")
    try:
        primary_reads = routed("primary")
        for _ in range(3):
            assert (await services.audit.latest_checkpoint()).tree_size > 0
        assert routed("primary") == primary_reads + 3
        said = [r for r in caplog.records if r.getMessage() == "replica_unavailable"]
        assert len(said) == 1  # said once, not once per read
    finally:
        standby.start()
