"""The database's own failures, as the rest of the service sees them.

    DatabaseError
    ├── DatabaseUnavailable     the server cannot be reached, or the connection broke
    └── DatabaseTimeout         a statement ran past its time limit, or no connection was free

Neither is the caller's fault nor a bug: both answer 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import re

import asyncpg


class DatabaseError(Exception):
    """Base: the database could not do the work right now."""

    code = "database_error"
    status = 503
    retry_after = 1

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached, or the connection broke mid-request."""

    code = "database_unavailable"
    status = 503
    retry_after = 2

    def __init__(self, detail: str, *, field: str | None = None, connection_lost: bool = False):
        super().__init__(detail, field=field)
        # The connection broke under a request (terminated, closed, reset), the server being
        # up: a fresh connection may well work at once, so an idempotent request may retry.
        self.connection_lost = connection_lost


class DatabaseTimeout(DatabaseError):
    """A statement ran past `statement_timeout`, or no pooled connection came free in time."""

    code = "database_timeout"
    status = 503
    retry_after = 1


# What asyncpg (and the sockets under it) raise when the server is gone or going.
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,  # connection failures, rejections, lost connections
    asyncpg.CannotConnectNowError,  # the server is starting up or shutting down
    asyncpg.InterfaceError,  # "connection is closed", "the connection pool is closing"
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
)


# asyncpg's words for a connection whose protocol the server broke: a message out of turn
# (the FATAL a backend sends to an idle connection when the server shuts down or the backend
# is terminated) leaves it consuming an error until a sync that never comes, and the socket's
# close may not have been seen yet. Any other InternalClientError is a bug, and stays a 500.
_BROKEN_PROTOCOL = re.compile(
    r"another operation \(2\) is in progress|protocol is in the \"failed\" state"
    r"|cannot process message .*unexpected state"
)


def database_fault(exc: BaseException) -> DatabaseError | None:
    """The domain error for a failure of the database itself; None for anything else."""
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, asyncpg.InternalClientError) and _BROKEN_PROTOCOL.search(str(exc)):
        return DatabaseUnavailable("the database connection broke; retry shortly")
    if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout (57014)
        return DatabaseTimeout("the database did not answer in time; retry shortly")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return DatabaseTimeout("no database connection came free in time; retry shortly")
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(
            "the database is not reachable; retry shortly",
            connection_lost=isinstance(exc, _LOST) and not isinstance(exc, _REFUSED),
        )
    return None


# The connection existed and broke: terminated by the server (pg_terminate_backend), closed or
# reset under the statement. Not a refusal to connect, which a retry at once would meet again.
_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    ConnectionResetError,
    BrokenPipeError,
)
_REFUSED = (ConnectionRefusedError, asyncpg.CannotConnectNowError)
