"""records, decisions and audit_entries are partitioned by month (sql/migrations/0063): rows
land in their month, months are made before they are needed, a row that came early is moved
into its month when it is made (never an audit entry), and the audit log's guarantees hold on
every partition: append only, and the same proofs over entries spread across months."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ledger.audit import AuditLog, leaf_hash, root_from_leaf_hashes, verify_inclusion
from marketplace.bootstrap import bootstrap
from marketplace.db import PARTITION_MONTHS_AHEAD, create_partitions, create_pool
from tests.conftest import scratch_database, seal_everything

PARTITIONED = ("records", "decisions", "audit_entries")


def month_start(months_from_now: int) -> datetime:
    now = datetime.now(UTC)
    month = now.month - 1 + months_from_now
    return datetime(now.year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def partition(table: str, months_from_now: int) -> str:
    return f"{table}_{month_start(months_from_now):y%Ym%m}"


@pytest.fixture(scope="module")
async def db(server_url):
    """A database of its own: these tests make partitions years ahead."""
    async with scratch_database(server_url, "mkt_parts") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=3)  # the owner's
        app_pool = await create_pool(url, min_size=1, max_size=2)  # the application role's
        yield url, pool, app_pool
        await app_pool.close()
        await pool.close()


async def partitions_of(pool, table: str) -> set[str]:
    rows = await pool.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass",
        table,
    )
    return {r["relname"] for r in rows}


async def where(pool, table: str, condition: str, *args) -> list[str]:
    """The partitions holding the rows of `table` that match `condition`."""
    rows = await pool.fetch(
        f"SELECT DISTINCT tableoid::regclass::text AS p FROM {table} WHERE {condition}", *args
    )
    return sorted(r["p"] for r in rows)


async def decision(pool, customer_id: str, at: datetime) -> None:
    partner = await pool.fetchval(
        "INSERT INTO partners (name, jurisdiction) VALUES ('P', 'DE') RETURNING id"
    )
    await pool.execute(
        "INSERT INTO decisions (at, partner_id, customer_id, category, purpose, allowed,"
        " reasons, rules_version) VALUES ($1, $2, $3, 'location', 'research', false,"
        " '{no_grant}', 'v')",
        at,
        partner,
        customer_id,
    )


async def test_the_months_ahead_exist_before_their_first_row(db):
    _, pool, app_pool = db
    for table in PARTITIONED:
        have = await partitions_of(pool, table)
        for ahead in range(1, PARTITION_MONTHS_AHEAD + 1):
            assert partition(table, ahead) in have
        assert f"{table}_default" in have
    # The application role (the job worker's) renews them; once made, a month is not remade.
    assert await create_partitions(app_pool) == []
    made = await create_partitions(app_pool, PARTITION_MONTHS_AHEAD + 1)
    assert sorted(made) == sorted(partition(t, PARTITION_MONTHS_AHEAD + 1) for t in PARTITIONED)


async def test_rows_land_in_their_month(db):
    _, pool, _ = db
    next_month = month_start(1) + timedelta(days=3)
    await decision(pool, "cus_month", next_month)
    assert await where(pool, "decisions", "customer_id = 'cus_month'") == [
        partition("decisions", 1)
    ]
    customer = await pool.fetchval(
        "INSERT INTO customers (external_ref, jurisdiction) VALUES ('ref-month', 'FR') RETURNING id"
    )
    await pool.execute(
        "INSERT INTO records (customer_id, category, recorded_at, source, payload)"
        " VALUES ($1, 'location', $2, 't', '{}'), ($1, 'location', $3, 't', '{}')",
        customer,
        next_month,
        datetime(2001, 5, 1, tzinfo=UTC),
    )
    # Before monthly partitioning began, the table as it was holds every month.
    assert await where(pool, "records", "customer_id = $1", customer) == sorted(
        [partition("records", 1), "records_legacy"]
    )
    async with pool.acquire() as conn, conn.transaction():
        await AuditLog(conn).append("test.event", jurisdictions=["DE"], at=next_month, tag="m")
    assert await where(pool, "audit_entries", 'entry LIKE \'%"tag":"m"%\'') == [
        partition("audit_entries", 1)
    ]


async def test_a_row_that_came_before_its_month_is_moved_into_it_but_an_entry_is_not(db):
    _, pool, app_pool = db
    far = 12  # months ahead: no partition yet, so the default partitions take these rows
    at = month_start(far) + timedelta(hours=5)
    await decision(pool, "cus_early", at)
    async with pool.acquire() as conn, conn.transaction():
        await AuditLog(conn).append("test.event", jurisdictions=["DE"], at=at, tag="early")
    early = 'entry LIKE \'%"tag":"early"%\''
    entry = await pool.fetchrow(f"SELECT * FROM audit_entries WHERE {early}")
    assert await where(pool, "decisions", "customer_id = 'cus_early'") == ["decisions_default"]
    assert await where(pool, "audit_entries", early) == ["audit_entries_default"]

    made = await create_partitions(app_pool, far + 1)
    assert {partition("decisions", far), partition("decisions", far + 1)} <= set(made)
    assert await where(pool, "decisions", "customer_id = 'cus_early'") == [
        partition("decisions", far)
    ]
    # The log is never rewritten: that month's entry stays where it was written, unchanged,
    # and the month after it is made as usual.
    assert partition("audit_entries", far) not in made
    assert partition("audit_entries", far + 1) in made
    assert await where(pool, "audit_entries", early) == ["audit_entries_default"]
    assert dict(await pool.fetchrow(f"SELECT * FROM audit_entries WHERE {early}")) == dict(entry)


async def test_every_audit_partition_is_append_only(db):
    _, pool, app_pool = db
    month = partition("audit_entries", 1)
    async with pool.acquire() as conn, conn.transaction():
        for months in (0, 1, 60):  # a row in each: a row trigger fires per row
            at = month_start(months) + timedelta(days=2)
            await AuditLog(conn).append("test.event", jurisdictions=["DE"], at=at)
    for p in (month, "audit_entries_legacy", "audit_entries_default"):
        for statement in (
            f"TRUNCATE {p} CASCADE",  # without CASCADE the sealed leaves' foreign key refuses
            f"DELETE FROM {p}",
            f"UPDATE {p} SET kind = kind",
        ):
            # Not even the owner: the triggers refuse it on the partition addressed by name.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await pool.execute(statement)
    async with app_pool.acquire() as conn:
        for statement in (
            f"INSERT INTO {month} (kind, at, entry) VALUES ('x', now(), '{{}}')",
            f"TRUNCATE {month}",
            f"ALTER TABLE audit_entries DETACH PARTITION {month}",
            f"DROP TABLE {month}",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)


async def test_proofs_hold_over_entries_in_several_months(db, settings):
    url, pool, _ = db
    audit = bootstrap(replace(settings, database_url=url), pool).audit
    async with pool.acquire() as conn, conn.transaction():
        log = AuditLog(conn)
        for months in (0, 1, 2, 0, 1):  # interleaved: one commit order, several partitions
            await log.append(
                "test.event", jurisdictions=["DE"], at=month_start(months) + timedelta(days=1)
            )
    await seal_everything(audit, pool)
    rows = await pool.fetch(
        "SELECT l.leaf_index, l.leaf_hash, e.entry, e.tableoid::regclass::text AS part"
        " FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at"
        " ORDER BY l.leaf_index"
    )
    assert len({r["part"] for r in rows}) >= 3
    assert [r["leaf_index"] for r in rows] == list(range(len(rows)))  # no leaf lost
    assert all(leaf_hash(r["entry"].encode()) == r["leaf_hash"] for r in rows)
    checkpoint = await audit.latest_checkpoint()
    assert checkpoint.tree_size == len(rows)
    assert root_from_leaf_hashes([r["leaf_hash"] for r in rows]) == checkpoint.root_hash
    for index in (0, len(rows) - 1):
        proof = await audit.inclusion_proof(index, checkpoint.tree_size)
        assert verify_inclusion(
            rows[index]["leaf_hash"],
            index,
            checkpoint.tree_size,
            proof["proof"],
            checkpoint.root_hash,
        )
