"""Errors raised by the ledger package; each carries a stable `code` for the API's problem map.

LedgerError
└── AuditError
    ├── CheckpointInvalid
    ├── ProofInvalid
    └── TreeStateInvalid
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
