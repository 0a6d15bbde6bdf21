"""Posting balanced transactions on the caller's connection and transaction.

This is what other packages call when money moves with their own action (a grant's
compensation moves in the same database transaction as the grant): `Books(conn)`.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from typing import Any

from .audit import AuditLog, entry_row
from .errors import InvalidAmount, LedgerError, UnbalancedTransaction
from .models import EARNINGS_KIND, Account, Posting, PreparedTransaction, Transaction
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


def new_txn_id() -> str:
    """A transaction id as the database's new_id('txn') makes them: milliseconds since the
    epoch (12 hex digits), then 16 random hex digits."""
    return f"txn_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def prepare_transaction(
    kind: str,
    idempotency_key: str,
    postings: list[Posting],
    *,
    reference: str | None = None,
    reverses: str | None = None,
    audit: dict[str, Any] | None = None,
) -> PreparedTransaction:
    """Checks the postings and builds the transaction's audit entry (`audit`: its extra
    fields, the customer only as `subject`); no I/O."""
    check_postings(postings)
    txn_id = new_txn_id()
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
        **(audit or {}),
    )
    return PreparedTransaction(
        id=txn_id,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference,
        reverses=reverses,
        postings=tuple(postings),
        audit_entry=entry,
    )


def grant_compensation(
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
) -> PreparedTransaction | None:
    """A grant's compensation: the partner's escrow to the customer's earnings, less the
    platform fee; None when there is nothing to pay. Posted, it raises InsufficientEscrow
    when the escrow cannot cover it."""
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
        # The platform's fee revenue is kept per paying partner (the sum of its platform_fees
        # accounts): an acceptance locks only rows of its own partner and customer, so
        # acceptances of different partners never wait on one fee row.
        fees = Account(kind="platform_fees", owner_id=partner_id, currency=currency)
        postings.append(Posting(account=fees, amount=fee))
    return prepare_transaction(
        "acceptance",
        f"grant:{grant_id}",
        postings,
        reference=grant_id,
        audit={
            "jurisdictions": list(jurisdictions),
            "partner_id": partner_id,
            "subject": subject,
            "outcome": "posted",
        },
    )


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
        One statement (`ledger_post`): the transaction, its accounts (opened if missing, then
        locked in id order: no deadlocks), the postings and the audit entry. An overdraft
        raises InsufficientEscrow (a partner's escrow) or InsufficientFunds, naming what the
        account holds; nothing of the transaction is kept (the caller's rolls back).
        """
        audit = dict(audit or {})
        customer_id = audit.pop("customer_id", None)
        if customer_id is not None and "subject" not in audit:
            audit["subject"] = await self.audit.subject(customer_id)
        txn = prepare_transaction(
            kind, idempotency_key, postings, reference=reference, reverses=reverses, audit=audit
        )
        return await self.post_prepared(txn)

    async def post_prepared(self, txn: PreparedTransaction) -> tuple[Transaction, bool]:
        """Posts a transaction `prepare_transaction` (or `grant_compensation`) built."""
        posted = await self.repo.post(txn)
        if not posted.created:
            existing = await self.repo.get_transaction_by_key(txn.idempotency_key)
            if existing is None:  # ledger rows are never deleted: a fault, not a request's
                raise LedgerError(f"transaction {txn.idempotency_key!r} was posted but is gone")
            return existing, False
        return Transaction(
            id=posted.id,
            kind=txn.kind,
            idempotency_key=txn.idempotency_key,
            reference=txn.reference,
            reverses=txn.reverses,
            created_at=posted.created_at,
            postings=txn.postings,
        ), True
