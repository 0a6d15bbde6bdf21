"""The unit of work: one pooled connection and one transaction, committed only when the block
completes. Services take a factory of these; repositories wrap its connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

import asyncpg

from .errors import DatabaseUnavailable, database_fault
from .health import DatabaseHealth
from .replica import Replica

R = TypeVar("R")
Isolation = Literal["read_committed", "repeatable_read", "serializable"]
# A read the streaming replica may serve (docs/scale.md lists which reads may, and why):
# `caught_up` once the replica has replayed everything the primary had when the read began
# (the read sees every write that returned before it); `within_lag` when the replica is at most
# the configured REPLICA_MAX_LAG_SECONDS behind. Either way the primary serves it otherwise.
ReplicaRead = Literal["caught_up", "within_lag"]
# A constraint's name -> the domain error its violation means (each package declares its own).
ConstraintErrors = Mapping[str, Callable[[], Exception]]


class UnitOfWork(Protocol):
    """What a service sees: repositories on one connection, inside one transaction."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def repository(self, kind: type[R]) -> R:
        """The repository of this class, on this unit of work's connection."""
        ...


class AcquireObserver(Protocol):
    """Told of each wait for a pooled connection and each release (the service's metrics)."""

    def acquiring(self) -> None: ...
    def acquired(self) -> None: ...
    def failed(self, timed_out: bool) -> None: ...
    def released(self) -> None: ...


class _Unobserved:
    def acquiring(self) -> None:
        pass

    def acquired(self) -> None:
        pass

    def failed(self, timed_out: bool) -> None:
        pass

    def released(self) -> None:
        pass


class UnitOfWorkFactory(Protocol):
    def __call__(
        self,
        *,
        transaction: bool = True,
        isolation: Isolation | None = None,
        readonly: bool = False,
        replica: ReplicaRead | None = None,
    ) -> UnitOfWork: ...


class RequestTransaction:
    """One connection and one transaction for a whole request: every unit of work its task
    opens joins them, and nothing commits until the owner says so. The HTTP edge uses it so
    that an Idempotency-Key's answer commits in the same transaction as the request's effect.

    The transaction begins with the first unit of work, at that unit's isolation level (READ
    COMMITTED for one without a transaction); later units run at that level. A unit that
    fails marks the whole request `failed`: its owner then rolls everything back (the request
    is atomic, as a handler's one service call is). Only the task that bound it joins: work
    the request hands to another task (the decision writer's group commit) keeps its own
    connections."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        acquire_timeout: float | None,
        health: DatabaseHealth,
        observer: AcquireObserver | None = None,
    ):
        self._pool = pool
        self._observer = observer or _Unobserved()
        self._acquire_timeout = acquire_timeout
        self._health = health
        self._conn: Any = None
        self._tx: Any = None
        self._task: asyncio.Task | None = None
        self._began = health.clock()
        self.failed = False  # a unit of work of the request raised: nothing may commit

    @contextmanager
    def bound(self) -> Iterator[Self]:
        """Units of work opened by the current task inside this block join this transaction."""
        self._task = asyncio.current_task()
        token = _REQUEST.set(self)
        try:
            yield self
        finally:
            _REQUEST.reset(token)
            self._task = None

    def joins(self) -> bool:
        return self._task is not None and asyncio.current_task() is self._task

    async def connection(self, isolation: Isolation | None = None) -> asyncpg.Connection:
        """The request's connection inside its open transaction (both begun on first use)."""
        if self._conn is None:
            self._observer.acquiring()
            try:
                self._conn = await self._pool.acquire(timeout=self._acquire_timeout)
            except BaseException as e:
                self._observer.failed(timed_out=isinstance(e, TimeoutError))
                raise
            self._observer.acquired()
        if self._tx is None:
            self._tx = self._conn.transaction(isolation=isolation)
            await self._tx.start()
        return self._conn

    async def commit(self) -> None:
        """Commits everything the request did; raises the database's fault if it could not."""
        tx, self._tx = self._tx, None
        if tx is None:
            return
        try:
            await tx.commit()
        except BaseException as e:
            fault = database_fault(e)
            if isinstance(fault, DatabaseUnavailable):
                if self._conn is not None:
                    _discard(self._conn)  # broken: never handed out again
                await _note_unavailable(self._health, self._pool, e, self._began)
            if fault is not None:
                raise fault from e
            raise
        self._health.succeeded(self._began)

    async def close(self) -> None:
        """Rolls back whatever was not committed and gives the connection back."""
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:
            return
        try:
            if tx is not None:
                await tx.rollback()
        except BaseException as e:
            # Broken (the pool may already have taken it back): never reused, a fresh one
            # takes its place.
            with contextlib.suppress(Exception):
                conn.terminate()
            if not isinstance(e, Exception):
                raise
        finally:
            await self._pool.release(conn)
            self._observer.released()


async def _note_unavailable(
    health: DatabaseHealth, pool: asyncpg.Pool, fault: BaseException, began: float
) -> None:
    """Work that began at `began` lost the database. If that begins an outage, no connection
    from before it is handed out again (see sql.health): asyncpg replaces each on acquire."""
    if health.failed(fault, began):
        await pool.expire_connections()


_REQUEST: ContextVar[RequestTransaction | None] = ContextVar("request_transaction", default=None)


def in_request_transaction() -> bool:
    """Whether a unit of work opened here would join a request's transaction."""
    shared = _REQUEST.get()
    return shared is not None and shared.joins()


class PostgresUnitOfWork:
    """A connection from the pool for the block; with `transaction`, one transaction that
    commits when the block completes and rolls back when it raises. A violated constraint
    named in `constraint_errors` leaves as its domain error, translated here once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        constraint_errors: ConstraintErrors,
        *,
        transaction: bool = True,
        isolation: Isolation | None = None,
        readonly: bool = False,
        acquire_timeout: float | None = None,
        health: DatabaseHealth | None = None,
        observer: AcquireObserver | None = None,
        replica: Replica | None = None,
        max_lag: float | None = None,
    ):
        self._pool = pool
        self._observer = observer or _Unobserved()
        self._health = health or DatabaseHealth()
        self._constraint_errors = constraint_errors
        self._acquire_timeout = acquire_timeout
        self._transactional = transaction
        self._isolation = isolation
        self._readonly = readonly
        # With both: a read the replica serves while it is at most `max_lag` seconds behind.
        self._replica = replica
        self._max_lag = max_lag
        self._on_replica = False
        self._conn: Any = None
        self._tx: Any = None
        self._shared: RequestTransaction | None = None
        self._repositories: dict[type, object] = {}
        self._began = 0.0

    @property
    def connection(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open (use `async with`)")
        return self._conn

    async def __aenter__(self) -> Self:
        self._began = self._health.clock()
        shared = _REQUEST.get()
        if shared is not None and shared.joins():
            return await self._join(shared)  # inside a write: it reads its own writes
        if self._replica is not None and self._max_lag is not None:
            conn = await self._replica_connection(self._replica, self._max_lag)
            if conn is not None:
                return self
        try:
            self._observer.acquiring()
            try:
                self._conn = await self._pool.acquire(timeout=self._acquire_timeout)
            except BaseException as e:
                self._observer.failed(timed_out=isinstance(e, TimeoutError))
                raise
            self._observer.acquired()
            if self._transactional:
                self._tx = self._conn.transaction(
                    isolation=self._isolation, readonly=self._readonly
                )
                await self._tx.start()
        except BaseException as e:
            if self._conn is not None:
                if isinstance(database_fault(e), DatabaseUnavailable):
                    _discard(self._conn)
                await self._pool.release(self._conn)
                self._observer.released()
                self._conn = self._tx = None
            await self._raise_fault(e)
            raise
        return self

    async def _replica_connection(self, replica: Replica, max_lag: float) -> Any:
        """The replica's connection in its read-only transaction, or None (the primary's turn).
        A failure of the primary while checking the replica's freshness is this read's own."""
        try:
            conn = await replica.acquire(max_lag)
        except BaseException as e:
            await self._raise_fault(e)
            raise
        if conn is None:
            return None
        try:
            if self._transactional:
                # A standby runs read-only transactions only.
                self._tx = conn.transaction(isolation=self._isolation, readonly=True)
                await self._tx.start()
        except Exception:
            await replica.release(conn, broken=True)
            self._tx = None
            return None
        self._conn, self._on_replica = conn, True
        return conn

    async def _join(self, shared: RequestTransaction) -> Self:
        """Inside the request's transaction, which its owner commits or rolls back."""
        try:
            self._conn = await shared.connection(self._isolation if self._transactional else None)
        except BaseException as e:
            shared.failed = True
            await self._raise_fault(e)
            raise
        self._shared = shared
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._shared is not None and exc is not None:
            self._shared.failed = True
        broken = exc is not None and isinstance(database_fault(exc), DatabaseUnavailable)
        if self._on_replica:
            await self._leave_replica(exc, broken)
            return
        try:
            if self._tx is not None and not broken:
                if exc is None:
                    await self._tx.commit()
                else:
                    await self._tx.rollback()
        except BaseException as e:  # a deferred check at commit, or the database went away
            broken = isinstance(database_fault(e), DatabaseUnavailable)
            if isinstance(e, asyncpg.IntegrityConstraintViolationError):
                self._translate(e)
            await self._raise_fault(e)
            raise
        finally:
            if self._shared is None:
                if broken:
                    _discard(self._conn)
                await self._pool.release(self._conn)
                self._observer.released()
            self._conn = self._tx = self._shared = None
            self._repositories.clear()
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            self._translate(exc)
        if exc is not None:
            await self._raise_fault(exc)
        # The database answered (a domain error is not its fault).
        self._health.succeeded(self._began)

    async def _leave_replica(self, exc: BaseException | None, broken: bool) -> None:
        """Ends a unit of work the replica served: nothing to commit (it only read). A broken
        replica is said once, by the replica, never as the primary's outage."""
        replica, conn, tx = self._replica, self._conn, self._tx
        self._conn = self._tx = None
        self._on_replica = False
        self._repositories.clear()
        assert replica is not None
        try:
            if tx is not None and not broken:
                await tx.rollback()
        except Exception:
            broken = True
        finally:
            await replica.release(conn, broken=broken)
        if isinstance(exc, asyncpg.SerializationError):
            # On a standby a read fails so only when replay cancels it (a conflict with
            # recovery): the replica's fault, not the read's, and a retry may well succeed.
            raise DatabaseUnavailable(
                "the replica cancelled the read; retry shortly", connection_lost=True
            ) from exc
        if exc is not None:
            fault = database_fault(exc)
            if fault is not None and fault is not exc:
                raise fault from exc

    async def _raise_fault(self, e: BaseException) -> None:
        """Raises the domain error for a failure of the database itself, if `e` is one."""
        fault = database_fault(e)
        if fault is not None:
            if isinstance(fault, DatabaseUnavailable):  # a slow statement is not an outage
                await _note_unavailable(self._health, self._pool, e, self._began)
            if fault is not e:
                raise fault from e
            raise fault

    def _translate(self, e: asyncpg.IntegrityConstraintViolationError) -> None:
        make = self._constraint_errors.get(getattr(e, "constraint_name", None) or "")
        if make is not None:
            raise make() from None

    def repository(self, kind: type[R]) -> R:
        repo = self._repositories.get(kind)
        if repo is None:
            repo = self._repositories[kind] = kind(self.connection)  # type: ignore[call-arg]
        return repo  # type: ignore[return-value]


def _discard(conn: asyncpg.Connection) -> None:
    """A connection the database broke is never handed out again: closed here (the pool
    opens a fresh one), even when asyncpg has not seen its socket close yet."""
    with contextlib.suppress(asyncpg.InterfaceError):  # already closed and detached
        conn.terminate()


class PostgresUnitOfWorkFactory:
    """Makes the units of work services run in, over one pool; and, for the HTTP edge, the
    request transaction they join."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        constraint_errors: ConstraintErrors,
        *,
        acquire_timeout: float | None = None,
        observer: AcquireObserver | None = None,
        replica: Replica | None = None,
        replica_max_lag: float = 10.0,
    ):
        self._pool = pool
        self._errors = dict(constraint_errors)
        self._acquire_timeout = acquire_timeout
        self._observer = observer or _Unobserved()
        self._health = DatabaseHealth()  # one per process: an outage is logged once
        self._replica = replica
        self._lags: dict[ReplicaRead, float] = {"caught_up": 0.0, "within_lag": replica_max_lag}

    def __call__(
        self,
        *,
        transaction: bool = True,
        isolation: Isolation | None = None,
        readonly: bool = False,
        replica: ReplicaRead | None = None,
    ) -> UnitOfWork:
        return PostgresUnitOfWork(
            self._pool,
            self._errors,
            transaction=transaction,
            isolation=isolation,
            readonly=readonly,
            acquire_timeout=self._acquire_timeout,
            health=self._health,
            observer=self._observer,
            replica=self._replica if replica is not None else None,
            max_lag=self._lags[replica] if replica is not None else None,
        )

    def request_transaction(self) -> RequestTransaction:
        return RequestTransaction(
            self._pool,
            acquire_timeout=self._acquire_timeout,
            health=self._health,
            observer=self._observer,
        )


def unit_of_work_factory(
    pool: asyncpg.Pool,
    constraint_errors: ConstraintErrors | None = None,
    *,
    acquire_timeout: float | None = None,
    observer: AcquireObserver | None = None,
    replica: Replica | None = None,
    replica_max_lag: float = 10.0,
) -> PostgresUnitOfWorkFactory:
    """The factory services are built with (in the composition root). `acquire_timeout`
    bounds the wait for a free connection: a hung database never hangs every caller;
    `observer` sees every acquire and release (the pool metrics); `replica` serves the reads
    that ask for it (`replica_max_lag`: the `within_lag` reads' bound, in seconds)."""
    return PostgresUnitOfWorkFactory(
        pool,
        constraint_errors or {},
        acquire_timeout=acquire_timeout,
        observer=observer,
        replica=replica,
        replica_max_lag=replica_max_lag,
    )
