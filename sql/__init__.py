"""The data layer's shared infrastructure: the SQL files (queries and migrations), their
loader, and the unit of work every service runs its transactions in."""

from .errors import DatabaseError, DatabaseTimeout, DatabaseUnavailable, database_fault
from .loader import MIGRATIONS_DIR, QUERIES_DIR, load_queries
from .replica import Replica, RouteObserver
from .unit_of_work import (
    AcquireObserver,
    ConstraintErrors,
    PostgresUnitOfWork,
    PostgresUnitOfWorkFactory,
    ReplicaRead,
    RequestTransaction,
    UnitOfWork,
    UnitOfWorkFactory,
    in_request_transaction,
    unit_of_work_factory,
)

__all__ = [
    "MIGRATIONS_DIR",
    "QUERIES_DIR",
    "AcquireObserver",
    "ConstraintErrors",
    "DatabaseError",
    "DatabaseTimeout",
    "DatabaseUnavailable",
    "database_fault",
    "PostgresUnitOfWork",
    "PostgresUnitOfWorkFactory",
    "Replica",
    "ReplicaRead",
    "RequestTransaction",
    "RouteObserver",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "in_request_transaction",
    "load_queries",
    "unit_of_work_factory",
]
