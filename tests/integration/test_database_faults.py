"""The database's own failures are 503 problems with Retry-After, never a 500 or a hang: a
statement past its time limit is cancelled by the server; a pool with no free connection
answers within the acquire timeout; a database that is gone answers at once."""

from __future__ import annotations

import logging
from dataclasses import replace

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.db import create_pool
from sql import DatabaseTimeout, DatabaseUnavailable, unit_of_work_factory


@pytest.fixture(scope="module")
async def impatient(settings):
    """An app whose statements may run 300 ms at most."""
    app = create_app(replace(settings, statement_timeout_ms=300))
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_a_statement_past_its_limit_is_cancelled_and_answered_503(
    impatient, actors, database_url
):
    partner = await actors.partner()
    blocker = await asyncpg.connect(database_url)
    watcher = await asyncpg.connect(database_url)
    try:
        tx = blocker.transaction()
        await tx.start()
        # Holds the table the partner's offer list reads: that statement waits on the lock.
        await blocker.execute("LOCK TABLE offers IN ACCESS EXCLUSIVE MODE")
        r = await impatient.get("/v1/partner/offers", headers=partner["auth"])
        # The lock is still held, yet no statement waits on it: the server ended the read.
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        await tx.rollback()
    finally:
        await blocker.close()
        await watcher.close()
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "database_timeout"
    assert int(r.headers["retry-after"]) >= 1
    assert waiting == 0


async def test_every_api_statement_runs_under_the_timeout(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1, statement_timeout_ms=1234)
    try:
        assert await pool.fetchval("SHOW statement_timeout") == "1234ms"
    finally:
        await pool.close()


async def test_no_free_connection_is_a_timeout_not_a_hang(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    uow = unit_of_work_factory(pool, {}, acquire_timeout=0.2)
    try:
        async with uow():  # holds the pool's only connection
            with pytest.raises(DatabaseTimeout):
                async with uow():
                    pass
    finally:
        await pool.close()


async def test_a_connection_lost_mid_work_is_unavailable_and_the_next_work_recovers(
    database_url,
):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    uow = unit_of_work_factory(pool, {})
    admin = await asyncpg.connect(database_url)
    try:
        with pytest.raises(DatabaseUnavailable):
            async with uow() as work:
                pid = await work.connection.fetchval("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                await work.connection.fetchval("SELECT 1")
        async with uow() as work:  # the pool replaced the broken connection
            assert await work.connection.fetchval("SELECT 1") == 1
    finally:
        await admin.close()
        await pool.close()


def test_every_failure_of_the_server_itself_is_a_database_fault():
    import asyncpg

    from sql import database_fault

    for exc in (
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        ConnectionRefusedError(111, "Connection refused"),
    ):
        assert isinstance(database_fault(exc), DatabaseUnavailable), exc
    assert isinstance(
        database_fault(asyncpg.QueryCanceledError("canceling statement")), DatabaseTimeout
    )
    assert database_fault(asyncpg.UniqueViolationError("duplicate key")) is None
    # asyncpg's own bug or ours (one connection used by two tasks at once) stays a 500
    assert database_fault(asyncpg.InternalClientError("unknown error in protocol")) is None
    assert database_fault(ValueError("not ours")) is None


async def test_an_outage_is_logged_once_when_it_begins_and_once_when_it_ends(caplog):
    import logging

    from tests.fakes.cluster import Cluster

    cluster = Cluster()
    cluster.start()
    pool = await create_pool(cluster.url, min_size=1, max_size=2)
    uow = unit_of_work_factory(pool, {}, acquire_timeout=2)
    caplog.set_level(logging.WARNING, logger="sql.health")
    try:
        async with uow() as work:
            await work.connection.fetchval("SELECT 1")
        cluster.stop("immediate")
        for _ in range(5):  # five requests during the outage
            with pytest.raises(DatabaseUnavailable):
                async with uow() as work:
                    await work.connection.fetchval("SELECT 1")
        cluster.start()
        for _ in range(3):
            async with uow() as work:
                assert await work.connection.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
        cluster.remove()
    said = [r.getMessage() for r in caplog.records if r.name == "sql.health"]
    assert said == ["database_unavailable", "database_back"]


async def test_jobs_and_commands_run_under_their_own_longer_limit(settings):
    from marketplace.bootstrap import open_services

    longer = replace(settings, statement_timeout_ms=300, job_statement_timeout_ms=90_000)
    async with open_services(longer, max_size=1) as services:
        async with services.uow(transaction=False) as work:
            assert await work.connection.fetchval("SHOW statement_timeout") == "90s"


def _fatal_from_the_server() -> bytes:
    """The ErrorResponse a backend sends to an idle connection as the server shuts down."""
    import struct

    fields = b"".join(
        code + text + b"\0"
        for code, text in (
            (b"S", b"FATAL"),
            (b"V", b"FATAL"),
            (b"C", b"57P01"),
            (b"M", b"terminating connection due to administrator command"),
        )
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


async def test_a_connection_the_server_broke_before_it_closed_is_unavailable_and_replaced(
    database_url,
):
    """A FATAL that reached an idle pooled connection before its socket's close leaves asyncpg's
    protocol mid-error: the next query there is a 503, never a 500, and the connection is
    thrown away, so the next unit of work gets a fresh one."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    uow = unit_of_work_factory(pool, {})
    try:
        async with uow(transaction=False) as work:
            broken = work.connection
            pid = await broken.fetchval("SELECT pg_backend_pid()")
            broken._protocol.data_received(_fatal_from_the_server())
        with pytest.raises(DatabaseUnavailable):
            async with uow(transaction=False) as work:
                await work.connection.fetchval("SELECT 1")
        async with uow(transaction=False) as work:
            assert await work.connection.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await pool.close()


async def test_after_an_outage_begins_no_connection_from_before_it_is_handed_out(
    database_url, caplog
):
    """When every backend is terminated, an idle pooled connection may not know yet (the
    server's FATAL arrived, the socket's close did not). Found one per request, such
    connections would fail after the database is back, each read as a new outage. The first
    failure ends all the pool's connections: the next work gets fresh ones."""
    caplog.set_level(logging.WARNING, logger="sql.health")
    pool = await create_pool(database_url, min_size=3, max_size=3)
    uow = unit_of_work_factory(pool, {})
    try:
        held = [await pool.acquire() for _ in range(3)]
        pids = [await c.fetchval("SELECT pg_backend_pid()") for c in held]
        for c in held:
            c._con._protocol.data_received(_fatal_from_the_server())
            await pool.release(c)
        with pytest.raises(DatabaseUnavailable):
            async with uow() as work:
                await work.connection.fetchval("SELECT 1")
        for _ in range(3):
            async with uow() as work:
                assert await work.connection.fetchval("SELECT pg_backend_pid()") not in pids
        said = [r.getMessage() for r in caplog.records if r.name == "sql.health"]
        assert said == ["database_unavailable", "database_back"]
    finally:
        await pool.close()
