"""The unit of work: one pooled connection and one transaction, committed only when the block
completes. Services take a factory of these; repositories wrap its connection."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

import asyncpg

from .errors import DatabaseUnavailable, database_fault
from .health import DatabaseHealth

R = TypeVar("R")
Isolation = Literal["read_committed", "repeatable_read", "serializable"]
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


class UnitOfWorkFactory(Protocol):
    def __call__(
        self,
        *,
        transaction: bool = True,
        isolation: Isolation | None = None,
        readonly: bool = False,
    ) -> UnitOfWork: ...


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
    ):
        self._pool = pool
        self._health = health or DatabaseHealth()
        self._constraint_errors = constraint_errors
        self._acquire_timeout = acquire_timeout
        self._transactional = transaction
        self._isolation = isolation
        self._readonly = readonly
        self._conn: Any = None
        self._tx: Any = None
        self._repositories: dict[type, object] = {}

    @property
    def connection(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open (use `async with`)")
        return self._conn

    async def __aenter__(self) -> Self:
        try:
            self._conn = await self._pool.acquire(timeout=self._acquire_timeout)
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
                self._conn = self._tx = None
            self._raise_fault(e)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        broken = exc is not None and isinstance(database_fault(exc), DatabaseUnavailable)
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
            self._raise_fault(e)
            raise
        finally:
            if broken:
                _discard(self._conn)
            await self._pool.release(self._conn)
            self._conn = self._tx = None
            self._repositories.clear()
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            self._translate(exc)
        if exc is not None:
            self._raise_fault(exc)
        self._health.succeeded()  # the database answered (a domain error is not its fault)

    def _raise_fault(self, e: BaseException) -> None:
        """Raises the domain error for a failure of the database itself, if `e` is one."""
        fault = database_fault(e)
        if fault is not None:
            self._health.failed(fault)
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


def unit_of_work_factory(
    pool: asyncpg.Pool,
    constraint_errors: ConstraintErrors | None = None,
    *,
    acquire_timeout: float | None = None,
) -> UnitOfWorkFactory:
    """The factory services are built with (in the composition root). `acquire_timeout`
    bounds the wait for a free connection: a hung database never hangs every caller."""
    errors = dict(constraint_errors or {})
    health = DatabaseHealth()  # one per process: an outage is logged once, not per request

    def make(
        *, transaction: bool = True, isolation: Isolation | None = None, readonly: bool = False
    ) -> UnitOfWork:
        return PostgresUnitOfWork(
            pool,
            errors,
            transaction=transaction,
            isolation=isolation,
            readonly=readonly,
            acquire_timeout=acquire_timeout,
            health=health,
        )

    return make
