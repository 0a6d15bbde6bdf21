"""Values of the money ledger: accounts, postings, transactions, payouts. Money is integer minor
units plus an ISO 4217 currency code, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

AccountKind = Literal[
    "partner_escrow",
    "customer_earnings_discount",
    "customer_earnings_cash",
    "platform_fees",
    "stripe_clearing",
    "payouts_in_transit",
    "funding_adjustments",
]
PayoutKind = Literal["discount", "cash"]
PayoutStatus = Literal["pending", "succeeded", "failed"]

EARNINGS_KIND: dict[str, AccountKind] = {
    "discount": "customer_earnings_discount",
    "cash": "customer_earnings_cash",
}
# Accounts that mirror money held elsewhere and so may show a negative balance.
MAY_GO_NEGATIVE = frozenset({"stripe_clearing", "funding_adjustments"})


class Account(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """An account is named by what it is, whose it is, and its currency."""

    kind: AccountKind
    # A partner or customer id; "" for the platform's own accounts, except that the platform's
    # fees are kept per partner who paid them (platform_fees, owner_id = that partner).
    owner_id: str = ""
    currency: str


class Posting(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    amount: int  # minor units; positive adds to the account's balance


class Transaction(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    idempotency_key: str
    reference: str | None
    reverses: str | None
    created_at: datetime
    postings: tuple[Posting, ...]


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    amount: int


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    """One movement of a partner's escrow: positive is money in."""

    txn_id: str
    kind: str
    reference: str | None
    amount: int
    currency: str
    created_at: datetime


class Payout(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    kind: PayoutKind
    amount: int
    currency: str
    status: PayoutStatus
    attempts: int
    stripe_object_id: str | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


class EarningsLine(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's money of one kind and currency: earned = paid + pending + available."""

    kind: PayoutKind
    currency: str
    earned: int  # from accepted grants, net of the platform fee
    paid: int  # payouts Stripe confirmed
    pending: int  # payouts on their way
    available: int  # not yet settled


class Earnings(msgspec.Struct, frozen=True, kw_only=True):
    balances: list[EarningsLine]
    payouts: list[Payout]


class Funding(msgspec.Struct, frozen=True, kw_only=True):
    """What a partner's client needs to pay a funding request (Stripe PaymentIntent)."""

    payment_intent: str
    client_secret: str | None
    amount: int
    currency: str
    status: str


class PaymentAccounts(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    stripe_customer_id: str | None = None
    stripe_account_id: str | None = None


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """One disagreement between the ledger and Stripe (or within the ledger)."""

    problem: str
    subject: str  # a payout, account or transaction id
    detail: str


# -- rows the repository hands the services -------------------------------------------------


class LockedAccount(msgspec.Struct, frozen=True, kw_only=True):
    """An account row held under FOR UPDATE: its balance before posting and overdraft rule."""

    id: str
    account: Account
    balance: int
    may_go_negative: bool


class PreparedTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """A checked, balanced transaction with its audit entry, ready for the database's
    `ledger_post` (migration 0081): posted by Books, or by another package's own statement
    (an acceptance posts its compensation in the statement that makes the grant)."""

    id: str  # chosen here, so the audit entry can name it
    kind: str
    idempotency_key: str
    reference: str | None
    reverses: str | None
    postings: tuple[Posting, ...]
    audit_entry: tuple[Any, ...]  # ledger.audit.entry_row

    def arguments(self) -> tuple[Any, ...]:
        """`ledger_post`'s arguments, in its order."""
        return (
            self.id,
            self.kind,
            self.idempotency_key,
            self.reference,
            self.reverses,
            [p.account.kind for p in self.postings],
            [p.account.owner_id for p in self.postings],
            [p.account.currency for p in self.postings],
            [p.amount for p in self.postings],
            *self.audit_entry,
        )


class PostedTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """What `ledger_post` answered: the transaction, and whether this call posted it."""

    id: str
    created_at: datetime
    created: bool  # False: its idempotency key was posted before, nothing changed


class EarnedTotal(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer earned from accepted grants into one earnings account."""

    kind: AccountKind
    currency: str
    earned: int


class PayoutTotal(msgspec.Struct, frozen=True, kw_only=True):
    """The sum of a customer's payouts of one kind, currency and status."""

    kind: PayoutKind
    currency: str
    status: PayoutStatus
    total: int


class EarningsToSettle(msgspec.Struct, frozen=True, kw_only=True):
    """A customer earnings account with money in it, and where cash would be paid."""

    account: Account
    balance: int
    stripe_account_id: str | None


class StoredPayout(msgspec.Struct, frozen=True, kw_only=True):
    """A payout with the ledger transaction that moved its money into transit."""

    payout: Payout
    txn_id: str
