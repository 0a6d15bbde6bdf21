"""PostgreSQL: the embedded server for a fresh machine, the pool, and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import asyncpg
import structlog

from sql import MIGRATIONS_DIR, load_queries

log = structlog.get_logger(__name__)

# The pool's type, for code outside the data layer that holds one without using asyncpg.
Pool: TypeAlias = asyncpg.Pool

# Any constant works; it only has to be the same for every process that migrates.
_MIGRATION_LOCK = 727_401_2026
# Monthly partitions exist this many months past the current one (the job worker renews them
# daily, every start renews them too): a month's partition is there a month before its first
# row at the least.
PARTITION_MONTHS_AHEAD = 2
_PARTITIONS = load_queries("partitions.sql")


def embedded_database_url(data_dir: Path) -> str:
    """The embedded PostgreSQL kept under `data_dir/pg`: the running one, or one started now
    and stopped when this process exits (see marketplace/embedded.py)."""
    from .embedded import database_url

    return database_url(data_dir)


def is_database_error(e: BaseException) -> bool:
    """An error the database (or the driver talking to it) raised, for one-line reports."""
    return isinstance(e, asyncpg.PostgresError | asyncpg.InterfaceError)


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 20, statement_timeout_ms: int = 0
) -> asyncpg.Pool:
    """A pool whose every statement runs under `statement_timeout_ms` (0: no limit), set by
    the server for the session, so no statement runs unbounded."""
    settings = {"statement_timeout": str(statement_timeout_ms)} if statement_timeout_ms else {}
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=settings,
    )


async def connect_listener(url: str) -> asyncpg.Connection:
    """A dedicated connection outside the pool, for the job queue's LISTEN/NOTIFY."""
    return await asyncpg.connect(url)


async def ping(pool: asyncpg.Pool, *, timeout: float = 2.0) -> None:
    """Raises unless the database answers a trivial query within `timeout` for a connection."""
    async with pool.acquire(timeout=timeout) as conn:
        await conn.fetchval("SELECT 1")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Reset on release, minus the round trip of asyncpg's default reset query (unlock
    advisory locks, close cursors, UNLISTEN, RESET ALL): no code sets session state on a pool
    connection (locks are transaction-scoped, cursors live in transactions, LISTEN has its own
    connection). asyncpg still rolls back an open transaction and drops listeners first."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as text: msgspec encodes and decodes it, once, at the edges.
    # Binary format (a version byte, then the JSON text) so COPY can carry jsonb as well.
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        schema="pg_catalog",
        format="binary",
    )
    # Least privilege: the app appends to the audit tables but cannot change them (0006).
    if await conn.fetchval(_CAN_USE_APP_ROLE, APP_ROLE):
        await conn.execute(f"SET ROLE {APP_ROLE}")


def _jsonb_encode(text: str) -> bytes:
    return b"\x01" + text.encode()


def _jsonb_decode(data: bytes) -> str:
    return bytes(data[1:]).decode()


APP_ROLE = "marketplace_app"
# The role exists (it is cluster-wide), this database granted it (0006 ran here), and we may
# become it. `RESET ALL` on pool release leaves the role in place.
_CAN_USE_APP_ROLE = """
SELECT CASE WHEN to_regclass('public.audit_sealer_state') IS NOT NULL
             AND EXISTS (SELECT FROM pg_roles WHERE rolname = $1)
            THEN pg_has_role(current_user, $1, 'MEMBER') ELSE false END
"""


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def migrate(url: str) -> list[str]:
    """Apply pending migrations in order; safe when several processes start at once."""
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in migration_files():
            if path.stem in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
            applied.append(path.stem)
            log.info("migration_applied", version=path.stem)
        await create_partitions(conn)
        await _install_job_queue(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()
    return applied


async def create_partitions(
    db: asyncpg.Connection | asyncpg.Pool, months_ahead: int = PARTITION_MONTHS_AHEAD
) -> list[str]:
    """Makes the monthly partitions missing up to `months_ahead` months from now (by the
    schema owner's rights, sql/migrations/0063); returns the names of those it made."""
    made = [r["name"] for r in await db.fetch(_PARTITIONS["create_month_partitions"], months_ahead)]
    if made:
        log.info("partitions_created", partitions=made)
    return made


async def _install_job_queue(conn: asyncpg.Connection) -> None:
    """The job queue's own tables (pgqueuer), installed once and upgraded in place."""
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    queries = Queries(AsyncpgDriver(conn))
    if not await queries.schema_is_installed():
        await queries.install()
        log.info("job_queue_installed")
