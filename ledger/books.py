"""Posting balanced transactions on the caller's connection and transaction.

This is what other packages call when money moves with their own action (a grant's
compensation moves in the same database transaction as the grant): `Books(conn)`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .audit import AuditLog, entry_row
from .errors import (
    InsufficientEscrow,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    UnbalancedTransaction,
)
from .models import EARNINGS_KIND, Account, Posting, Transaction
from .repository import Connection, LedgerRepository

MAX_AMOUNT = 10**15  # far above any real transaction; keeps sums well inside bigint


def check_currency(currency: str, field: str = "currency") -> None:
    if len(currency) != 3 or not currency.isascii() or not currency.isupper():
        raise InvalidAmount(f"currency {currency!r} is not an ISO 4217 code", field=field)


def check_postings(postings: list[Posting]) -> None:
    """Two or more postings of integer, non-zero amounts that sum to zero per currency."""
    if len(postings) < 2:
        raise UnbalancedTransaction("a transaction needs at least two postings")
    totals: dict[str, int] = defaultdict(int)
    seen = set()
    for p in postings:
        if type(p.amount) is not int or p.amount == 0 or abs(p.amount) > MAX_AMOUNT:
            raise InvalidAmount(f"posting amount {p.amount!r} is not a non-zero integer")
        check_currency(p.account.currency)
        if p.account in seen:
            raise UnbalancedTransaction("a transaction posts to each account at most once")
        seen.add(p.account)
        totals[p.account.currency] += p.amount
    unbalanced = {c: t for c, t in totals.items() if t}
    if unbalanced:
        raise UnbalancedTransaction(f"postings do not sum to zero: {unbalanced}")


def split_fee(amount: int, fee_bps: int) -> tuple[int, int]:
    """(customer's share, platform fee); the fee is rounded down, in the customer's favour."""
    fee = amount * fee_bps // 10_000
    return amount - fee, fee


class Books:
    """The ledger on one connection; the caller owns the transaction (a unit of work builds
    it as `uow.repository(Books)`)."""

    def __init__(self, conn: Connection):
        self.repo = LedgerRepository(conn)
        self.audit = AuditLog(conn)

    async def post(
        self,
        kind: str,
        idempotency_key: str,
        postings: list[Posting],
        *,
        reference: str | None = None,
        reverses: str | None = None,
        audit: dict[str, Any] | None = None,
    ) -> tuple[Transaction, bool]:
        """Posts one balanced transaction; returns it and whether it is new.

        The same idempotency key returns the transaction already posted and changes nothing.
        Two statements: the transaction row with its accounts (opening missing ones), then
        the accounts locked in id order (no deadlocks), the postings and the audit entry;
        the hot rows are held only for that last statement and the commit.
        """
        check_postings(postings)
        opened = await self.repo.open_transaction(
            kind, idempotency_key, reference, reverses, sorted({p.account for p in postings})
        )
        if opened is None:
            existing = await self.repo.get_transaction_by_key(idempotency_key)
            if existing is None:  # ledger rows are never deleted: a fault, not a request's
                raise LedgerError(f"transaction {idempotency_key!r} was posted but is gone")
            return existing, False
        txn_id, ids = opened.id, opened.account_ids
        audit = dict(audit or {})
        customer_id = audit.pop("customer_id", None)
        if customer_id is not None and "subject" not in audit:
            audit["subject"] = await self.audit.subject(customer_id)
        entry = entry_row(
            "ledger.transaction",
            txn_id=txn_id,
            txn_kind=kind,
            reference=reference,
            reverses=reverses,
            postings=[
                # Partners by id; a customer only through the entry's pseudonymous subject.
                {
                    "account": p.account.kind,
                    "owner": p.account.owner_id if p.account.kind == "partner_escrow" else None,
                    "amount": p.amount,
                    "currency": p.account.currency,
                }
                for p in postings
            ],
            **audit,
        )
        # Should the statement's own check ever be passed, the balance CHECK refuses it and
        # the unit of work names it InsufficientFunds (CONSTRAINT_ERRORS).
        locked = await self.repo.post_locked(
            txn_id,
            [ids[p.account] for p in postings],
            [p.amount for p in postings],
            [p.account.currency for p in postings],
            entry,
        )
        for p in postings:
            balance, may_go_negative = locked[ids[p.account]]
            if not may_go_negative and balance + p.amount < 0:
                # Nothing was posted (the statement refused it); the caller's transaction
                # rolls back with this error, so nothing of this transaction is kept.
                error = (
                    InsufficientEscrow if p.account.kind == "partner_escrow" else InsufficientFunds
                )
                raise error(
                    f"{p.account.kind} holds {balance} {p.account.currency}, {-p.amount} needed",
                    field="amount",
                )
        return Transaction(
            id=txn_id,
            kind=kind,
            idempotency_key=idempotency_key,
            reference=reference,
            reverses=reverses,
            created_at=opened.created_at,
            postings=tuple(postings),
        ), True

    async def record_grant_compensation(
        self,
        *,
        grant_id: str,
        partner_id: str,
        customer_id: str,
        kind: str,
        amount: int,
        currency: str,
        fee_bps: int,
        jurisdictions: list[str] | tuple[str, ...] = (),
        subject: str | None = None,
    ) -> Transaction | None:
        """Moves a grant's compensation from the partner's escrow to the customer's earnings,
        less the platform fee. Raises InsufficientEscrow when the escrow cannot cover it."""
        if amount == 0:
            return None
        share, fee = split_fee(amount, fee_bps)
        postings = [
            Posting(
                account=Account(kind="partner_escrow", owner_id=partner_id, currency=currency),
                amount=-amount,
            )
        ]
        if share:
            earnings = Account(kind=EARNINGS_KIND[kind], owner_id=customer_id, currency=currency)
            postings.append(Posting(account=earnings, amount=share))
        if fee:
            # The platform's fee revenue is kept per paying partner (the sum of its
            # platform_fees accounts): an acceptance locks only rows of its own partner and
            # customer, so acceptances of different partners never wait on one fee row.
            fees = Account(kind="platform_fees", owner_id=partner_id, currency=currency)
            postings.append(Posting(account=fees, amount=fee))
        txn, _ = await self.post(
            "acceptance",
            f"grant:{grant_id}",
            postings,
            reference=grant_id,
            audit={
                "jurisdictions": list(jurisdictions),
                "partner_id": partner_id,
                "customer_id": customer_id,
                "outcome": "posted",
                # The customer's pseudonym when the caller has it (saves looking the key up).
                **({"subject": subject} if subject is not None else {}),
            },
        )
        return txn
