"""SQL access for the money ledger and payouts: the only place an asyncpg.Record exists here.
Every method returns Structs (or scalars) of `models.py`."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from sql import load_queries

from .errors import InsufficientEscrow, InsufficientFunds
from .models import (
    Account,
    Difference,
    EarnedTotal,
    EarningsToSettle,
    LockedAccount,
    PaymentAccounts,
    Payout,
    PayoutTotal,
    PostedTransaction,
    Posting,
    PreparedTransaction,
    StatementLine,
    StoredPayout,
    Transaction,
)

Q = load_queries("ledger.sql")

# What the ledger's writers (Books, AuditLog) are built on: one connection, its transaction
# owned by the caller's unit of work.
Connection = asyncpg.Connection

PAY_OUT_JOB = "pay_out"

# ledger_post's refusals of an overdraft (migration 0081), by the constraint name it raises.
OVERDRAFTS: dict[str, type[InsufficientFunds]] = {
    "ledger_escrow_not_overdrawn": InsufficientEscrow,
    "ledger_account_not_overdrawn": InsufficientFunds,
}

_PAYOUT_FIELDS = (
    "id",
    "customer_id",
    "kind",
    "amount",
    "currency",
    "status",
    "attempts",
    "stripe_object_id",
    "last_error",
    "created_at",
    "updated_at",
)


def _payout(r: asyncpg.Record) -> Payout:
    return Payout(**{k: r[k] for k in _PAYOUT_FIELDS})


def _account(r: asyncpg.Record) -> Account:
    return Account(kind=r["kind"], owner_id=r["owner_id"], currency=r["currency"])


def _payment_accounts(r: asyncpg.Record) -> PaymentAccounts:
    return PaymentAccounts(
        customer_id=r["customer_id"],
        stripe_customer_id=r["stripe_customer_id"],
        stripe_account_id=r["stripe_account_id"],
    )


class LedgerRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    # -- accounts and postings ------------------------------------------------------------

    async def ensure_accounts(self, accounts: list[Account]) -> dict[Account, str]:
        wanted = sorted(set(accounts))
        found: dict[Account, str] = {}
        for _ in range(3):  # an account opened concurrently shows on the next statement
            missing = [a for a in wanted if a not in found]
            if not missing:
                break
            rows = await self.conn.fetch(
                Q["ensure_accounts"],
                [a.kind for a in missing],
                [a.owner_id for a in missing],
                [a.currency for a in missing],
            )
            found.update({_account(r): r["id"] for r in rows})
        return found

    async def post(self, txn: PreparedTransaction) -> PostedTransaction:
        """Posts in one call (`ledger_post`); an overdraft it refuses leaves as the domain
        error, with the database's words (which account holds what)."""
        try:
            r = await self.conn.fetchrow(Q["post"], *txn.arguments())
        except asyncpg.CheckViolationError as e:
            refused = OVERDRAFTS.get(e.constraint_name or "")
            if refused is None:
                raise
            raise refused(e.args[0] if e.args else str(e), field="amount") from None
        return PostedTransaction(id=r["txn_id"], created_at=r["created_at"], created=r["created"])

    async def lock_accounts(self, account_ids: list[str]) -> list[LockedAccount]:
        rows = await self.conn.fetch(Q["lock_accounts"], account_ids)
        return [
            LockedAccount(
                id=r["id"],
                account=_account(r),
                balance=r["balance"],
                may_go_negative=r["may_go_negative"],
            )
            for r in rows
        ]

    async def get_transaction_by_key(self, key: str) -> Transaction | None:
        """The transaction posted under this idempotency key, with its postings."""
        r = await self.conn.fetchrow(Q["get_transaction_by_key"], key)
        if r is None:
            return None
        rows = await self.conn.fetch(Q["transaction_postings"], r["id"])
        return Transaction(
            id=r["id"],
            kind=r["kind"],
            idempotency_key=r["idempotency_key"],
            reference=r["reference"],
            reverses=r["reverses"],
            created_at=r["created_at"],
            postings=tuple(Posting(account=_account(p), amount=p["amount"]) for p in rows),
        )

    async def balances(self, owner_id: str, kind: str | None) -> list[tuple[Account, int]]:
        rows = await self.conn.fetch(Q["account_balances"], owner_id, kind)
        return [(_account(r), r["balance"]) for r in rows]

    async def ledger_differences(self) -> list[Difference]:
        """Stored balances that differ from their postings; transactions that do not balance."""
        out = [
            Difference(
                problem="balance_mismatch",
                subject=r["id"],
                detail=f"{r['kind']} {r['owner_id']} {r['currency']}: stored {r['balance']}, "
                f"postings sum to {r['computed']}",
            )
            for r in await self.conn.fetch(Q["recomputed_balances"])
        ]
        out += [
            Difference(
                problem="unbalanced_transaction",
                subject=r["id"],
                detail=f"{r['postings']} posting(s) summing to {r['total']} {r['currency']}",
            )
            for r in await self.conn.fetch(Q["unbalanced_transactions"])
        ]
        return out

    async def escrow_statement(
        self, partner_id: str, currency: str | None, starting_after: str | None, limit: int
    ) -> list[StatementLine]:
        rows = await self.conn.fetch(
            Q["escrow_statement"], partner_id, currency, starting_after, limit
        )
        return [
            StatementLine(
                txn_id=r["txn_id"],
                kind=r["kind"],
                reference=r["reference"],
                amount=r["amount"],
                currency=r["currency"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    # -- customers' money -----------------------------------------------------------------

    async def customer_earned(self, customer_id: str) -> list[EarnedTotal]:
        rows = await self.conn.fetch(Q["customer_earned"], customer_id)
        return [
            EarnedTotal(kind=r["kind"], currency=r["currency"], earned=r["earned"]) for r in rows
        ]

    async def customer_payout_totals(self, customer_id: str) -> list[PayoutTotal]:
        rows = await self.conn.fetch(Q["customer_payout_totals"], customer_id)
        return [
            PayoutTotal(
                kind=r["kind"], currency=r["currency"], status=r["status"], total=r["total"]
            )
            for r in rows
        ]

    async def customer_payouts(
        self, customer_id: str, starting_after: str | None, limit: int
    ) -> list[Payout]:
        rows = await self.conn.fetch(Q["customer_payouts"], customer_id, starting_after, limit)
        return [_payout(r) for r in rows]

    async def customer_jurisdiction(self, customer_id: str) -> str | None:
        jurisdiction: str | None = await self.conn.fetchval(Q["customer_jurisdiction"], customer_id)
        return jurisdiction

    async def partner_exists(self, partner_id: str) -> bool:
        return bool(await self.conn.fetchval(Q["partner_exists"], partner_id))

    # -- Stripe ---------------------------------------------------------------------------

    async def record_stripe_event(self, event_id: str, event_type: str) -> bool:
        """True the first time this event is seen."""
        return await self.conn.fetchval(Q["record_stripe_event"], event_id, event_type) is not None

    async def insert_funding(
        self, payment_intent_id: str, partner_id: str, amount: int, currency: str
    ) -> None:
        await self.conn.execute(
            Q["insert_funding"], payment_intent_id, partner_id, amount, currency
        )

    async def set_payout_account(self, customer_id: str, stripe_account: str) -> PaymentAccounts:
        """An unknown customer violates customer_payment_accounts_customer_id_fkey (the unit
        of work makes that UnknownParty)."""
        r = await self.conn.fetchrow(Q["set_payout_account"], customer_id, stripe_account)
        return _payment_accounts(r)

    async def get_payment_accounts(self, customer_id: str) -> PaymentAccounts | None:
        r = await self.conn.fetchrow(Q["get_payment_accounts"], customer_id)
        return _payment_accounts(r) if r else None

    async def set_stripe_customer(self, customer_id: str, stripe_customer_id: str) -> str:
        stored: str = await self.conn.fetchval(
            Q["set_stripe_customer"], customer_id, stripe_customer_id
        )
        return stored

    async def all_payment_accounts(self) -> list[PaymentAccounts]:
        return [_payment_accounts(r) for r in await self.conn.fetch(Q["all_payment_accounts"])]

    # -- payouts --------------------------------------------------------------------------

    async def earnings_to_settle(self) -> list[EarningsToSettle]:
        rows = await self.conn.fetch(Q["earnings_to_settle"])
        return [
            EarningsToSettle(
                account=_account(r), balance=r["balance"], stripe_account_id=r["stripe_account_id"]
            )
            for r in rows
        ]

    async def new_payout_id(self) -> str:
        payout_id: str = await self.conn.fetchval(Q["new_payout_id"])
        return payout_id

    async def insert_payout(
        self, payout_id: str, customer_id: str, kind: str, amount: int, currency: str, txn_id: str
    ) -> Payout:
        r = await self.conn.fetchrow(
            Q["insert_payout"], payout_id, customer_id, kind, amount, currency, txn_id
        )
        return _payout(r)

    async def get_payout(self, payout_id: str, *, lock: bool = False) -> StoredPayout | None:
        r = await self.conn.fetchrow(Q["lock_payout" if lock else "get_payout"], payout_id)
        return StoredPayout(payout=_payout(r), txn_id=r["txn_id"]) if r else None

    async def update_payout(
        self,
        payout_id: str,
        *,
        status: str,
        attempts: int,
        stripe_object_id: str | None,
        last_error: str | None,
    ) -> Payout:
        r = await self.conn.fetchrow(
            Q["update_payout"], payout_id, status, attempts, stripe_object_id, last_error
        )
        return _payout(r)

    async def stale_pending_payouts(self, older_than_seconds: float) -> list[str]:
        rows = await self.conn.fetch(Q["stale_pending_payouts"], older_than_seconds)
        return [r["id"] for r in rows]

    async def all_payouts(self) -> list[Payout]:
        return [_payout(r) for r in await self.conn.fetch(Q["all_payouts"])]

    async def enqueue_payout(self, payout_id: str, after: timedelta | None = None) -> None:
        """The payout's job, in the caller's transaction: it exists iff the payout does."""
        await Queries(AsyncpgDriver(self.conn)).enqueue(
            PAY_OUT_JOB, payout_id.encode(), execute_after=after
        )
