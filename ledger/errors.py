"""Errors raised by the money ledger; each carries a stable `code` and an HTTP `status`.

LedgerError
├── InvalidAmount
├── UnbalancedTransaction
├── InsufficientFunds
│   └── InsufficientEscrow
├── UnknownParty
├── WebhookSignatureInvalid
├── StripeEventInvalid
└── PaymentGatewayError
    └── PaymentRefused
"""

from __future__ import annotations

from collections.abc import Callable


class LedgerError(Exception):
    """Base of every error the ledger raises: says why and may name the offending `field`."""

    code = "ledger_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidAmount(LedgerError):
    """An amount or currency that is not integer minor units and an ISO 4217 code."""

    code = "invalid_amount"
    status = 422


class UnbalancedTransaction(LedgerError):
    """Postings that do not sum to zero per currency, or fewer than two of them."""

    code = "unbalanced_transaction"
    status = 422


class InsufficientFunds(LedgerError):
    """An account that may not go negative would be overdrawn."""

    code = "insufficient_funds"
    status = 409


class InsufficientEscrow(InsufficientFunds):
    """The partner's escrow cannot pay this compensation."""

    code = "insufficient_escrow"
    status = 409


class UnknownParty(LedgerError):
    """The partner or customer named does not exist."""

    code = "not_found"
    status = 404


class WebhookSignatureInvalid(LedgerError):
    """A Stripe webhook whose signature does not verify: the sender is not who it claims."""

    code = "webhook_signature_invalid"
    status = 401


class StripeEventInvalid(LedgerError):
    """A correctly signed Stripe event that is not the shape Stripe documents."""

    code = "invalid_stripe_event"
    status = 400


class PaymentGatewayError(LedgerError):
    """Stripe refused or could not be reached; `retryable` says whether trying again may work."""

    code = "payment_gateway_error"
    status = 502

    def __init__(self, detail: str, *, retryable: bool, field: str | None = None):
        super().__init__(detail, field=field)
        self.retryable = retryable


class PaymentRefused(PaymentGatewayError):
    """Stripe refused the caller's own values (a currency it does not settle, an amount under
    its minimum, an unusable payment method): the request's fault, naming Stripe's `param`."""

    code = "payment_refused"
    status = 422

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail, retryable=False, field=field)


# Violated database constraints (by name) and the domain error each means; the unit of work
# translates them once, at the data layer's boundary.
CONSTRAINT_ERRORS: dict[str, Callable[[], Exception]] = {
    # A payout account for a customer who does not exist (set_payout_account).
    "customer_payment_accounts_customer_id_fkey": lambda: UnknownParty(
        "no such customer", field="customer_id"
    ),
    # An overdraft refused by ledger_post (migration 0081) inside another statement (an
    # acceptance's), or one the balance CHECK refused past it.
    "ledger_account_not_overdrawn": lambda: InsufficientFunds(
        "an account that may not go negative would be overdrawn", field="amount"
    ),
    "ledger_escrow_not_overdrawn": lambda: InsufficientEscrow(
        "the partner's escrow cannot pay this compensation", field="amount"
    ),
}
