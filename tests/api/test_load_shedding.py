"""Load beyond capacity is shed at once: past a process's bounded line, 503 `overloaded` with
Retry-After, before any work; the work done equals the requests admitted; reads and writes have
their own places, and probes never wait."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from tests.conftest import free_port, offer_body, start_server


@pytest.fixture(scope="module")
def small_server(settings):
    port = free_port()
    proc = start_server(
        settings,
        port,
        {"MAX_WRITES_IN_FLIGHT": "2", "MAX_QUEUED_WRITES": "2", "MAX_IN_FLIGHT": "2"},
    )
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait()


async def test_a_flood_of_writes_is_shed_at_once_and_only_admitted_work_is_done(
    small_server, actors, pool
):
    partner = await actors.partner()
    offer = await actors.offer(partner, publish=False)
    flood = 12
    async with httpx.AsyncClient(base_url=small_server, timeout=30) as http:
        conn = await pool.acquire()
        try:
            await conn.execute("BEGIN")
            await conn.execute("LOCK TABLE offers IN SHARE MODE")  # admitted writes wait here
            tasks = [
                asyncio.ensure_future(
                    http.post("/v1/partner/offers", json=offer_body(), headers=partner["auth"])
                )
                for _ in range(flood)
            ]
            # 2 in flight, 2 in line: the other 8 are answered while the 4 still wait.
            while sum(t.done() for t in tasks) < flood - 4:
                await asyncio.sleep(0.02)
            shed = [t.result() for t in tasks if t.done()]
            # Probes and reads have places of their own: answered while writes are full.
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/ready")).status_code == 200
            read = await http.get(f"/v1/partner/offers/{offer['id']}", headers=partner["auth"])
            assert read.status_code == 200
        finally:
            await conn.execute("ROLLBACK")
            await pool.release(conn)
        answers = await asyncio.gather(*tasks)
    assert all(r.status_code == 503 for r in shed)
    assert {r.json()["code"] for r in shed} == {"overloaded"}
    assert all(r.headers["retry-after"] == "1" for r in shed)
    statuses = collections.Counter(r.status_code for r in answers)
    assert statuses == {201: 4, 503: flood - 4}
    created = await pool.fetchval(
        "SELECT count(*) FROM offers WHERE partner_id = $1", partner["id"]
    )
    assert created == 1 + 4  # the draft above, and exactly the admitted requests
