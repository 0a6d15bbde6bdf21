"""A request whose database connection breaks under it: a read is retried once on a fresh
connection, a keyed write too (provably safe: its answer commits with its effect); a write
without a key is never retried. Run against a real server process, so the test can hold a
lock and kill the request's backend while the request waits."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import offer_body

WAITING = (
    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 ORDER BY pid"
)


async def waiting_backends(
    pool, query_prefix: str, task, *, besides: frozenset = frozenset()
) -> list:
    """The backends waiting on a lock for a statement like this (waits, no clock); none if
    the request ended first."""
    while not task.done():
        pids = [r["pid"] for r in await pool.fetch(WAITING, query_prefix + "%")]
        fresh = [p for p in pids if p not in besides]
        if fresh:
            return fresh
        await asyncio.sleep(0.02)
    return []


async def kill_under_lock(
    pool, table: str, mode: str, query_prefix: str, request, *, twice=False, kill_retry=False
):
    """Runs `request` while `table` is locked; terminates the backend it waits on; if
    `twice`, waits for the retry to wait too, then lets it through (or, with `kill_retry`,
    terminates the retry's backend as well)."""
    conn = await pool.acquire()
    try:
        await conn.execute("BEGIN")
        await conn.execute(f"LOCK TABLE {table} IN {mode} MODE")
        task = asyncio.ensure_future(request)
        first = await waiting_backends(pool, query_prefix, task)
        await pool.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", first)
        if twice:
            second = await waiting_backends(pool, query_prefix, task, besides=frozenset(first))
            if kill_retry:
                await pool.execute(
                    "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", second
                )
        await conn.execute("ROLLBACK")
        return await task
    finally:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await pool.release(conn)


async def test_a_read_whose_backend_is_terminated_is_retried_on_a_fresh_connection(
    live_server, actors, pool
):
    partner = await actors.partner()
    offer = await actors.offer(partner, publish=False)
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        r = await kill_under_lock(
            pool,
            "offers",
            "ACCESS EXCLUSIVE",
            "%FROM offers%",
            http.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"]),
            twice=True,
        )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == offer["id"]


async def test_a_read_whose_retry_loses_its_connection_too_is_unavailable_not_an_error(
    live_server, actors, pool
):
    """The retry is a new run of the request: its failure is answered like any other."""
    partner = await actors.partner()
    offer = await actors.offer(partner, publish=False)
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        r = await kill_under_lock(
            pool,
            "offers",
            "ACCESS EXCLUSIVE",
            "%FROM offers%",
            http.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"]),
            twice=True,
            kill_retry=True,
        )
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "database_unavailable" and int(r.headers["retry-after"]) >= 1
        # And the next read, on a fresh connection, is served.
        again = await http.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"])
    assert again.status_code == 200, again.text


async def test_a_keyed_write_whose_backend_is_terminated_is_retried_and_commits_once(
    live_server, actors, pool
):
    partner = await actors.partner()
    headers = {**partner["auth"], "Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        r = await kill_under_lock(
            pool,
            "offers",
            "SHARE",
            "INSERT INTO offers%",
            http.post("/v1/partner/offers", json=offer_body(), headers=headers),
            twice=True,
        )
        assert r.status_code == 201, r.text
        again = await http.post("/v1/partner/offers", json=offer_body(), headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == r.json()
    assert (
        await pool.fetchval("SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"]) == 1
    )


async def test_a_write_without_a_key_is_never_retried(live_server, actors, pool):
    partner = await actors.partner()
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        r = await kill_under_lock(
            pool,
            "offers",
            "SHARE",
            "INSERT INTO offers%",
            http.post("/v1/partner/offers", json=offer_body(), headers=partner["auth"]),
        )
    assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
    assert r.headers["retry-after"]
    assert not await pool.fetchval(
        "SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"]
    )


async def test_a_keyed_attempt_that_fails_before_commit_leaves_neither_effect_nor_key(
    live_server, actors, pool
):
    """A 5xx is not an answer: nothing of the attempt commits; the next attempt runs afresh."""
    partner = await actors.partner()
    key = uuid.uuid4().hex
    headers = {**partner["auth"], "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        conn = await pool.acquire()
        try:
            await conn.execute("BEGIN")
            await conn.execute("LOCK TABLE offers IN SHARE MODE")
            task = asyncio.ensure_future(
                http.post("/v1/partner/offers", json=offer_body(), headers=headers)
            )
            waiting = await waiting_backends(pool, "INSERT INTO offers%", task)
            # Cancelled (as a statement timeout would): not a lost connection, so no retry.
            await pool.execute("SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) pid", waiting)
            r = await task
        finally:
            await conn.execute("ROLLBACK")
            await pool.release(conn)
        assert r.status_code == 503 and r.json()["code"] == "database_timeout", r.text
        assert not await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key)
        assert not await pool.fetchval(
            "SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"]
        )
        retry = await http.post("/v1/partner/offers", json=offer_body(), headers=headers)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert (
        await pool.fetchval("SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"]) == 1
    )
