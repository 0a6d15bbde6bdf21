"""Errors raised by the audit log; each carries a stable `code` and an HTTP `status`.

AuditError
├── CheckpointInvalid
├── ProofInvalid
├── AuditQueryInvalid
│   └── AuditRangeNotFound
└── AuditStateInvalid           (server-side faults: 500)
    ├── TreeStateInvalid
    └── SealRefused
"""

from __future__ import annotations

from collections.abc import Callable


class AuditError(Exception):
    """Base of every error the audit log raises."""

    code = "audit_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class CheckpointInvalid(AuditError):
    """A checkpoint is malformed, or is not validly signed by the expected key."""

    code = "checkpoint_invalid"
    status = 422

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        # `reason` is a stable sub-code ("malformed", "bad_signature", ...) a verifier can report.
        self.reason = reason


class ProofInvalid(AuditError):
    """A proof was asked for while the tree has nothing sealed yet."""

    code = "proof_invalid"
    status = 404


class AuditQueryInvalid(AuditError):
    """A regulator's or customer's query names a range or value the log cannot answer."""

    code = "audit_query_invalid"
    status = 400


class AuditRangeNotFound(AuditQueryInvalid):
    """The asked leaf, tree size or range is not in the log (yet)."""

    code = "audit_range_not_found"
    status = 404


class AuditStateInvalid(AuditError):
    """The stored log contradicts itself: a fault on the server's side, never the caller's."""

    code = "audit_state_invalid"
    status = 500


class TreeStateInvalid(AuditStateInvalid):
    """A persisted compact-tree state does not fit its declared size."""

    code = "tree_state_invalid"
    status = 500


class SealRefused(AuditStateInvalid):
    """The sealer would publish a checkpoint that does not extend the previous one."""

    code = "seal_refused"
    status = 500


# Violated database constraints (by name) and the domain error each means; the unit of work
# translates them once, at the data layer's boundary.
CONSTRAINT_ERRORS: dict[str, Callable[[], Exception]] = {}
