"""Errors raised by the ledger package; each carries a stable `code` for the API's problem map.

LedgerError
└── AuditError
    ├── CheckpointInvalid
    ├── ProofInvalid
    ├── TreeStateInvalid
    ├── SealRefused
    └── AuditQueryInvalid
        └── AuditRangeNotFound
"""


class LedgerError(Exception):
    """Base of every error the ledger package raises."""

    code = "ledger_error"


class AuditError(LedgerError):
    """A problem with the tamper-evident audit log or its proofs."""

    code = "audit_error"


class CheckpointInvalid(AuditError):
    """A checkpoint is malformed, or is not validly signed by the expected key."""

    code = "checkpoint_invalid"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        # `reason` is a stable sub-code ("malformed", "bad_signature", ...) a verifier can report.
        self.reason = reason


class ProofInvalid(AuditError):
    """A proof was asked for a leaf index or tree sizes the tree does not have."""

    code = "proof_invalid"


class TreeStateInvalid(AuditError):
    """A persisted compact-tree state does not fit its declared size."""

    code = "tree_state_invalid"


class SealRefused(AuditError):
    """The sealer would publish a checkpoint that does not extend the previous one."""

    code = "seal_refused"


class AuditQueryInvalid(AuditError):
    """A regulator's or customer's query names a range or value the log cannot answer."""

    code = "audit_query_invalid"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class AuditRangeNotFound(AuditQueryInvalid):
    """The asked leaf, tree size or range is not in the log (yet)."""

    code = "audit_range_not_found"
