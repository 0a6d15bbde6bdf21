"""The money ledger: double-entry books, partner escrow, customers' earnings and their payouts
through Stripe. The audit log is its own subpackage, `ledger.audit`."""

from .books import Books, grant_compensation, split_fee
from .errors import (
    CONSTRAINT_ERRORS,
    InsufficientEscrow,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    PaymentGatewayError,
    PaymentRefused,
    StripeEventInvalid,
    UnbalancedTransaction,
    UnknownParty,
    WebhookSignatureInvalid,
)
from .models import (
    Account,
    Balance,
    Difference,
    Earnings,
    EarningsLine,
    Funding,
    PaymentAccounts,
    Payout,
    Posting,
    PreparedTransaction,
    StatementLine,
    Transaction,
)
from .payouts import PAY_OUT_JOB, PayoutService
from .service import LedgerService
from .stripe_gateway import StripeGateway

__all__ = [
    "CONSTRAINT_ERRORS",
    "PAY_OUT_JOB",
    "Account",
    "Balance",
    "Books",
    "Difference",
    "Earnings",
    "EarningsLine",
    "Funding",
    "InsufficientEscrow",
    "InsufficientFunds",
    "InvalidAmount",
    "LedgerError",
    "LedgerService",
    "PaymentAccounts",
    "PaymentGatewayError",
    "PaymentRefused",
    "Payout",
    "PayoutService",
    "Posting",
    "PreparedTransaction",
    "StatementLine",
    "StripeGateway",
    "Transaction",
    "UnbalancedTransaction",
    "UnknownParty",
    "StripeEventInvalid",
    "WebhookSignatureInvalid",
    "grant_compensation",
    "split_fee",
]
