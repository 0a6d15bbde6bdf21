"""The audit metrics queries bound their own work, whatever range reaches them (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime

from sql import load_queries

AUDIT = load_queries("audit_seal.sql")


async def test_metrics_series_is_clamped_to_366_finite_days_inside_the_sql(pool):
    async with pool.acquire() as conn, conn.transaction():
        # Unclamped, -infinity makes generate_series run (and spill to disk) without end.
        await conn.execute("SET LOCAL statement_timeout = '20s'")
        start = datetime(2000, 1, 1, tzinfo=UTC)
        ten_years = await conn.fetch(
            AUDIT["grant_metrics"], start, datetime(2010, 1, 1, tzinfo=UTC), ["DE"]
        )
        assert len(ten_years) == 366
        assert ten_years[0]["day_start"] == start
        # asyncpg sends datetime.min / datetime.max as -infinity / infinity.
        endless = datetime.max.replace(tzinfo=UTC)
        assert len(await conn.fetch(AUDIT["grant_metrics"], start, endless, ["DE"])) == 366
        minus_infinity = datetime.min.replace(tzinfo=UTC)
        assert await conn.fetch(AUDIT["grant_metrics"], minus_infinity, start, ["DE"]) == []
        assert await conn.fetch(AUDIT["decision_metrics"], minus_infinity, start, ["DE"]) == []
