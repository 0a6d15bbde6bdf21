"""The pool's series as the unit of work reports them: held, waiting, and a wait that gave up."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from marketplace.metrics import POOL_IN_USE, POOL_TIMEOUTS, POOL_WAITING, PoolObserver
from sql import DatabaseError, unit_of_work_factory


def value(metric) -> float:
    """This process's value (a counter's first sample is its _total)."""
    return next(iter(next(iter(metric.collect())).samples)).value


async def test_pool_in_use_waiting_and_timeouts(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    uow = unit_of_work_factory(pool, acquire_timeout=0.2, observer=PoolObserver())
    in_use, waiting, timeouts = value(POOL_IN_USE), value(POOL_WAITING), value(POOL_TIMEOUTS)
    try:
        async with uow():
            assert value(POOL_IN_USE) == in_use + 1
            second = asyncio.create_task(uow().__aenter__())
            while value(POOL_WAITING) == waiting:  # the second one is in line for the only one
                await asyncio.sleep(0.01)
            assert value(POOL_WAITING) == waiting + 1
            with pytest.raises((DatabaseError, TimeoutError)):
                await second
        assert value(POOL_TIMEOUTS) == timeouts + 1
        assert value(POOL_WAITING) == waiting and value(POOL_IN_USE) == in_use
    finally:
        await pool.close()
