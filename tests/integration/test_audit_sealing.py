"""The sealer on real PostgreSQL: log order, late commits, one sealer at a time, append-only."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from ledger.audit import (
    AuditLog,
    AuditService,
    MerkleTree,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from marketplace.bootstrap import bootstrap
from marketplace.db import create_pool

ORIGIN = "test.example/audit"


def audit_service(settings, pool) -> AuditService:
    return bootstrap(replace(settings, audit_origin=ORIGIN), pool).audit


@pytest.fixture(scope="module")
def service(pool, settings) -> AuditService:
    return audit_service(settings, pool)


async def _append(pool, n: int, tag: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for i in range(n):
            await AuditLog(conn).append("test.event", jurisdictions=["DE"], tag=tag, i=i)


async def _sealed_in_order(pool) -> list[tuple[int, str, bytes]]:
    rows = await pool.fetch(
        "SELECT l.leaf_index, e.entry, l.leaf_hash FROM audit_leaves l"
        " JOIN audit_entries e ON e.id = l.entry_id ORDER BY l.leaf_index"
    )
    return [(r["leaf_index"], r["entry"], bytes(r["leaf_hash"])) for r in rows]


async def test_seal_builds_the_rfc9162_tree_and_signs_it(pool, service):
    await _append(pool, 5, "basic")
    result = await service.seal()
    assert not result.skipped
    leaves = await _sealed_in_order(pool)
    assert [i for i, _, _ in leaves] == list(range(len(leaves)))
    assert all(h == leaf_hash(entry.encode()) for _, entry, h in leaves)
    latest = await service.latest_checkpoint()
    checkpoint = verify_checkpoint(latest.note, service.verifier_key(), origin=ORIGIN)
    assert checkpoint.size == len(leaves) == result.tree_size
    assert checkpoint.root == MerkleTree([h for _, _, h in leaves]).root()
    unsealed = await pool.fetchval(
        "SELECT count(*) FROM audit_entries e WHERE NOT EXISTS"
        " (SELECT FROM audit_leaves l WHERE l.entry_id = e.id)"
    )
    assert unsealed == 0


async def test_late_committing_entry_is_sealed_after_it_commits_never_skipped(pool, service):
    await service.seal()
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        await AuditLog(slow).append("test.event", jurisdictions=["DE"], tag="slow")  # older txid
        await _append(pool, 2, "fast")  # newer txid, committed first
        await service.seal()
        sealed = [e for _, e, _ in await _sealed_in_order(pool)]
        assert not any('"tag":"fast"' in e or '"tag":"slow"' in e for e in sealed), (
            "nothing may be sealed while an older transaction can still commit an entry"
        )
        await tx.commit()
    finally:
        await pool.release(slow)
    await service.seal()
    tags = [e for _, e, _ in await _sealed_in_order(pool) if '"tag":"' in e]
    tail = [("slow" if '"tag":"slow"' in e else "fast") for e in tags[-3:]]
    assert tail == ["slow", "fast", "fast"], "sealed in transaction order"


async def test_each_checkpoint_extends_the_previous_one(pool, service):
    before = await service.latest_checkpoint()
    await _append(pool, 7, "extend")
    await service.seal()
    after = await service.latest_checkpoint()
    assert after.tree_size == before.tree_size + 7
    proof = await service.consistency_proof(before.tree_size, after.tree_size)
    assert verify_consistency(
        before.tree_size, after.tree_size, before.root_hash, after.root_hash, proof["proof"]
    )
    inc = await service.inclusion_proof(after.tree_size - 1, after.tree_size)
    assert verify_inclusion(
        inc["leaf_hash"], after.tree_size - 1, after.tree_size, inc["proof"], after.root_hash
    )


async def test_small_batches_publish_one_checkpoint_each(pool, service):
    await service.seal()
    before = await service.latest_checkpoint()
    await _append(pool, 5, "batches")
    result = await service.seal(batch_size=2)
    assert (result.sealed, result.checkpoints) == (5, 3)
    sizes = [
        r["tree_size"]
        for r in await pool.fetch(
            "SELECT tree_size FROM audit_checkpoints WHERE tree_size > $1 ORDER BY 1",
            before.tree_size,
        )
    ]
    assert sizes == [before.tree_size + 2, before.tree_size + 4, before.tree_size + 5]


async def test_concurrent_sealers_seal_each_entry_once(pool, service, settings):
    await _append(pool, 20, "concurrent")
    other = audit_service(settings, pool)
    await asyncio.gather(service.seal(batch_size=3), other.seal(batch_size=3))
    await service.seal()
    counts = await pool.fetchrow(
        "SELECT count(*) AS leaves, count(DISTINCT entry_id) AS entries,"
        " max(leaf_index) + 1 AS size FROM audit_leaves"
    )
    assert counts["leaves"] == counts["entries"] == counts["size"]
    assert (await service.latest_checkpoint()).tree_size == counts["size"]


async def test_sealed_tables_refuse_updates_and_deletes(pool, service):
    await _append(pool, 1, "frozen")
    await service.seal()
    for statement in (
        "UPDATE audit_leaves SET leaf_hash = leaf_hash",
        "DELETE FROM audit_leaves",
        "UPDATE audit_checkpoints SET note = note",
        "TRUNCATE audit_checkpoints",
        "DELETE FROM audit_sealer_state",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(statement)


async def test_app_role_may_append_but_never_change_the_audit_tables(database_url):
    app_pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        for _ in range(2):  # also after the pool reset a connection on release
            async with app_pool.acquire() as conn:
                assert await conn.fetchval("SELECT current_user") == "marketplace_app"
        async with app_pool.acquire() as conn:
            async with conn.transaction():
                await AuditLog(conn).append("test.event", jurisdictions=["DE"], tag="role")
            for statement in (
                "ALTER TABLE audit_entries DISABLE TRIGGER USER",
                "UPDATE audit_entries SET kind = kind WHERE false",
                "DELETE FROM audit_leaves WHERE false",
                "TRUNCATE audit_checkpoints",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
    finally:
        await app_pool.close()


async def test_app_role_appends_only_through_the_one_writer(database_url):
    app_pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with app_pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == "marketplace_app"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO audit_entries (kind, at, entry) VALUES ('x', now(), '{}')"
                )
            async with conn.transaction():
                await AuditLog(conn).append("test.event", jurisdictions=["DE", "AT"], tag="fn")
            row = await conn.fetchrow(
                "SELECT kind, jurisdictions, entry FROM audit_entries"
                " WHERE kind = 'test.event' AND entry LIKE '%\"tag\":\"fn\"%'"
            )
            assert row["jurisdictions"] == ["AT", "DE"]
            assert '"jurisdictions":["AT","DE"]' in row["entry"]
    finally:
        await app_pool.close()


async def test_the_worker_loop_seals_new_entries(pool, service):
    from marketplace.worker import seal_for

    await service.seal()
    await _append(pool, 3, "worker-loop")
    # Other sessions' entries may be sealed in the same pass: count at least ours.
    assert await seal_for(service, seconds=0) >= 3
    sealed = await pool.fetchval(
        "SELECT count(*) FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id"
        ' WHERE e.entry LIKE \'%"tag":"worker-loop"%\''
    )
    assert sealed == 3
