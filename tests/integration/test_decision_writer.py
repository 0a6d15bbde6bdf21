"""Group commit of decisions: concurrent reads all stored (each as its audit entry), in fewer
transactions than requests; a failing batch fails only its bad row."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from marketplace.bootstrap import bootstrap
from marketplace.db import create_pool
from offers.dataspace import AccessDenied
from offers.dataspace.decision_writer import DecisionWriter
from sql import unit_of_work_factory
from tests.decisions import decisions_by_id


@pytest.fixture
async def small_pool(database_url):
    # Fewer connections than concurrent requests: a request must not hold its connection
    # while it waits for the writer (which needs one too).
    pool = await create_pool(database_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


async def _stored(pool, decision_ids: list[str]) -> tuple[int, int]:
    """(decisions rows, access.decision entries) of these decisions."""
    decisions = await pool.fetchval(
        "SELECT count(*) FROM decisions WHERE id = ANY($1)", decision_ids
    )
    return decisions, len(await decisions_by_id(pool, decision_ids))


async def test_concurrent_reads_all_store_their_decision_and_entry(
    client, actors, small_pool, settings
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    allowed = await actors.customer("FR")
    await actors.accept(allowed, offer)
    r = await client.post(
        f"/v1/admin/customers/{allowed['id']}/records",
        headers=actors.operator,
        json={
            "records": [
                {
                    "category": "data_usage",
                    "source": "t",
                    "payload": {"v": 1},
                    "recorded_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                }
            ]
        },
    )
    assert r.status_code == 201, r.text
    denied = await actors.customer("FR")  # no grant
    access = bootstrap(settings, small_pool).access

    async def one(i: int) -> str:
        customer = allowed if i % 2 else denied
        try:
            page = await access.read_records(
                partner["id"], customer["id"], "data_usage", "research"
            )
        except AccessDenied as e:
            return e.decision.id
        assert len(page.data) == 1
        return page.decision.id

    ids = await asyncio.gather(*(one(i) for i in range(40)))
    assert len(set(ids)) == 40
    # each stored once, as its audit entry (both customers exist): no decisions row
    assert await _stored(small_pool, ids) == (0, 40)
    assert access.writer.batches < 40  # group commit: several decisions per transaction
    entries = (await decisions_by_id(small_pool, ids)).values()
    assert sum(e["outcome"] == "allowed" and e["returned"] == 1 for e in entries) == 20


def _rows(decision_id: str, partner_id: str, *, kind: str | None = "access.decision"):
    at = datetime.now(UTC)
    decision = (
        decision_id,
        at,
        partner_id,
        "cus_x",
        "data_usage",
        "research",
        False,
        json.dumps(["no_grant"]),
        "[]",
        None,
        "v1",
        None,
        0,
    )
    entry = (
        kind,
        at,
        json.dumps(["DE"]),
        partner_id,
        None,
        "data_usage",
        "denied",
        json.dumps({"decision_id": decision_id}),
    )
    return decision, entry


async def test_a_failed_batch_fails_only_its_bad_rows(actors, small_pool):
    partner = await actors.partner()
    writer = DecisionWriter(unit_of_work_factory(small_pool))
    good = [_rows(f"dec_writer_good_{i}", partner["id"]) for i in range(3)]
    # a decision that names no customer: stored as its decisions row, with no entry
    nobody = _rows("dec_writer_nobody", partner["id"])[0]
    no_partner = _rows("dec_writer_fk", "ptn_does_not_exist")[0]  # row refused (FK)
    no_kind = _rows("dec_writer_kind", partner["id"], kind=None)  # entry refused (NOT NULL)
    results = await asyncio.gather(
        writer.write(*good[0]),
        writer.write(no_partner, None),
        writer.write(*good[1]),
        writer.write(*no_kind),
        writer.write(nobody, None),
        writer.write(*good[2]),
        return_exceptions=True,
    )
    assert [results[i] for i in (0, 2, 4, 5)] == [None] * 4
    assert isinstance(results[1], asyncpg.ForeignKeyViolationError)
    assert isinstance(results[3], asyncpg.NotNullViolationError)
    # A decision with an entry is stored as the entry alone; one without, as its row.
    assert await _stored(small_pool, [f"dec_writer_good_{i}" for i in range(3)]) == (0, 3)
    assert await _stored(small_pool, ["dec_writer_nobody"]) == (1, 0)
    assert await _stored(small_pool, ["dec_writer_fk", "dec_writer_kind"]) == (0, 0)
    # The batch of six failed as a whole, then each row went alone: four commits.
    assert writer.batches == 4
