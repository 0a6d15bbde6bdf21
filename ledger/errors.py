"""Errors raised by the ledger package; each carries a stable `code` for the API's problem map.

LedgerError
├── AuditError
│   ├── CheckpointInvalid
│   ├── ProofInvalid
│   ├── TreeStateInvalid
│   ├── SealRefused
│   └── AuditQueryInvalid
│       └── AuditRangeNotFound
└── MoneyError
    ├── InvalidAmount
    ├── UnbalancedTransaction
    ├── InsufficientFunds
    │   └── InsufficientEscrow
    ├── UnknownParty
    ├── WebhookSignatureInvalid
    └── PaymentGatewayError
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


class MoneyError(LedgerError):
    """A money operation that cannot be done; says why and may name the offending `field`."""

    code = "money_error"

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidAmount(MoneyError):
    """An amount or currency that is not integer minor units and an ISO 4217 code."""

    code = "invalid_amount"


class UnbalancedTransaction(MoneyError):
    """Postings that do not sum to zero per currency, or fewer than two of them."""

    code = "unbalanced_transaction"


class InsufficientFunds(MoneyError):
    """A posting would take an account that may not go negative below zero."""

    code = "insufficient_funds"


class InsufficientEscrow(InsufficientFunds):
    """The partner's escrow cannot cover the offer's compensation."""

    code = "insufficient_escrow"


class UnknownParty(MoneyError):
    """The partner or customer named does not exist."""

    code = "not_found"


class WebhookSignatureInvalid(MoneyError):
    """A Stripe webhook whose signature does not verify with the configured secret."""

    code = "webhook_signature_invalid"


class PaymentGatewayError(MoneyError):
    """Stripe refused or could not be reached; `retryable` says whether trying again may work."""

    code = "payment_gateway_error"

    def __init__(self, detail: str, *, retryable: bool, field: str | None = None):
        super().__init__(detail, field=field)
        self.retryable = retryable
