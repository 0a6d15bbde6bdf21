"""The schema as migrated: every SQL statement prepares, migrations are safe to run at once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from marketplace.db import migrate
from sql import QUERIES_DIR, load_queries
from tests.conftest import scratch_database

QUERY_FILES = sorted(QUERIES_DIR.glob("*.sql"))


def _statements():
    for path in QUERY_FILES:
        for name, body in load_queries(path.name).items():
            yield pytest.param(body, id=f"{path.stem}.{name}")


@pytest.mark.parametrize("sql", list(_statements()))
async def test_every_query_prepares_against_the_migrated_schema(pool, sql):
    async with pool.acquire() as conn:
        await conn.prepare(sql)


async def test_concurrent_migrations_apply_each_file_once(server_url):
    async with scratch_database(server_url, "mkt_migrate", migrated=False) as url:
        results = await asyncio.gather(*(migrate(url) for _ in range(4)))
        applied = [v for r in results for v in r]
        assert sorted(applied) == sorted(set(applied)) and applied  # each applied exactly once
        conn = await asyncpg.connect(url)
        n = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        await conn.close()
        assert n == len(applied)


async def test_offer_versions_cannot_be_rewritten(pool, actors):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE offer_versions SET title = 'x' WHERE offer_id = $1", offer["id"])
