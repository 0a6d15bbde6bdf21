"""A streaming replica that serves the reads which may lag, and only while it is fresh enough.

Freshness is measured in the primary's own terms, never by clocks: a read that tolerates
`max_lag` seconds goes to the replica only if the replica has replayed the primary's WAL up to
a position the primary reported at most `max_lag` seconds ago (by this process's monotonic
clock). The replica then holds every transaction that committed before that moment. With
`max_lag=0` the position is taken when the read begins, so the read sees every write that had
returned before it (a customer's revoke, an export just made); the read waits up to `wait`
seconds for the replica to replay that far. Otherwise, or when the replica cannot be reached,
the primary serves the read: a replica never makes a read fail or return older data than its
tolerance allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Literal, Protocol

import asyncpg

from .errors import database_fault

log = logging.getLogger("sql.replica")

Server = Literal["primary", "replica"]

# The primary's position: every WAL record inserted so far, so every commit that has returned
# (synchronous or not) lies before it.
_PRIMARY_POSITION = "SELECT pg_current_wal_insert_lsn()::text"
# NULL on a server that is not in recovery (a promoted replica): then it is not used.
_REPLAYED = "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)"
_POLL_SECONDS = 0.005


class RouteObserver(Protocol):
    """Told which server each read that could use the replica was given to (the metrics)."""

    def routed(self, server: Server) -> None: ...


class Replica:
    """The replica's pool, and the primary's recent WAL positions that say how fresh it is."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        primary: asyncpg.Pool,
        *,
        wait: float = 0.1,
        acquire_timeout: float | None = None,
        observer: RouteObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.pool = pool
        self._primary = primary
        self._wait = wait
        self._acquire_timeout = acquire_timeout
        self._observer = observer
        self._clock = clock
        self._position: tuple[float, str] | None = None  # (when, the primary's LSN then)
        self._sampling: asyncio.Lock | None = None
        self._reachable = True

    async def acquire(self, max_lag: float) -> asyncpg.Connection | None:
        """A replica connection fresh enough for a read that tolerates `max_lag` seconds, or
        None: the caller reads from the primary."""
        # The primary's failure is the read's own (it could not be proven fresh otherwise).
        target = await self._primary_position(max_lag)
        conn = None
        try:
            conn = await self.pool.acquire(timeout=self._acquire_timeout)
            deadline = self._clock() + (self._wait if max_lag == 0 else 0.0)
            while not await conn.fetchval(_REPLAYED, target):
                if self._clock() >= deadline:
                    await self._release(conn)
                    return self._routed(None)
                await asyncio.sleep(_POLL_SECONDS)
        except Exception as e:
            if database_fault(e) is None:
                raise
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.terminate()
                await self._release(conn)
            self._unreachable(e)
            return self._routed(None)
        if not self._reachable:
            self._reachable = True
            log.warning("replica_back")
        return self._routed(conn)

    async def release(self, conn: asyncpg.Connection, *, broken: bool = False) -> None:
        """Gives a connection back; `broken`: the replica failed under a read (said once)."""
        if broken:
            with contextlib.suppress(Exception):
                conn.terminate()
            self._unreachable(ConnectionError("the replica connection broke"))
        await self._release(conn)

    async def _release(self, conn: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):  # a broken replica connection is the pool's
            await self.pool.release(conn)

    def _routed(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        if self._observer is not None:
            self._observer.routed("primary" if conn is None else "replica")
        return conn

    def _unreachable(self, e: BaseException) -> None:
        if self._reachable:
            self._reachable = False
            log.warning("replica_unavailable", extra={"error": type(e).__name__})

    async def _primary_position(self, max_lag: float) -> str:
        """The primary's WAL position as of at most `max_lag` seconds ago (now for 0). A
        sample older than half the tolerance is renewed, so a replica keeping up within half
        of it serves reads without a round trip to the primary each time; concurrent reads
        share one renewal."""
        if self._sampling is None:
            self._sampling = asyncio.Lock()
        asked = self._clock()
        if max_lag > 0 and self._fresh(asked, max_lag / 2):
            return self._position[1]  # type: ignore[index]
        async with self._sampling:
            if self._position is not None and self._position[0] >= asked:
                return self._position[1]  # sampled by another read after this one began
            if max_lag > 0 and self._fresh(asked, max_lag / 2):
                return self._position[1]  # type: ignore[index]
            taken = self._clock()
            async with self._primary.acquire(timeout=self._acquire_timeout) as conn:
                lsn: str = await conn.fetchval(_PRIMARY_POSITION)
            self._position = (taken, lsn)
            return lsn

    def _fresh(self, now: float, age: float) -> bool:
        return self._position is not None and now - self._position[0] <= age
