"""SQL access for the money ledger and payouts: the only place an asyncpg.Record exists here."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from sql import load_queries

from .models import Account, Difference, PaymentAccounts, Payout, Posting, StatementLine

Q = load_queries("ledger.sql")

_PAYOUT_FIELDS = (
    "id", "customer_id", "kind", "amount", "currency", "status", "attempts", "stripe_object_id",
    "last_error", "created_at", "updated_at",
)  # fmt: skip


def _payout(r: asyncpg.Record) -> Payout:
    return Payout(**{k: r[k] for k in _PAYOUT_FIELDS})


def _account(r: asyncpg.Record) -> Account:
    return Account(kind=r["kind"], owner_id=r["owner_id"], currency=r["currency"])


class LockedAccount:
    """An account row held under FOR UPDATE: its id, name, balance and overdraft rule."""

    __slots__ = ("account", "balance", "id", "may_go_negative")

    def __init__(self, r: asyncpg.Record):
        self.id = r["id"]
        self.account = _account(r)
        self.balance = r["balance"]
        self.may_go_negative = r["may_go_negative"]


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

    async def open_transaction(
        self, kind: str, key: str, reference: str | None, reverses: str | None,
        accounts: list[Account],
    ) -> tuple[str, datetime, dict[Account, str]] | None:
        """Inserts the transaction and opens its accounts; None if the key was posted before.
        Returns (txn id, created_at, {account: id})."""
        rows = await self.conn.fetch(
            Q["open_transaction"], kind, key, reference, reverses,
            [a.kind for a in accounts], [a.owner_id for a in accounts],
            [a.currency for a in accounts],
        )  # fmt: skip
        if not rows:
            return None
        ids = {_account(r): r["id"] for r in rows if r["id"] is not None}
        if len(ids) < len(accounts):  # opened concurrently, not yet visible to that statement
            ids.update(await self.ensure_accounts([a for a in accounts if a not in ids]))
        return rows[0]["txn_id"], rows[0]["created_at"], ids

    async def post_locked(
        self, txn_id: str, account_ids: list[str], amounts: list[int], currencies: list[str],
        audit_entry: tuple,
    ) -> dict[str, tuple[int, bool]]:
        """Locks the accounts, posts unless one would be overdrawn, appends the audit entry;
        returns {account id: (balance before, may go negative)}."""
        rows = await self.conn.fetch(
            Q["post_locked"], txn_id, account_ids, amounts, currencies, *audit_entry
        )
        return {r["id"]: (r["balance"], r["may_go_negative"]) for r in rows}

    async def lock_accounts(self, account_ids: list[str]) -> list[LockedAccount]:
        return [LockedAccount(r) for r in await self.conn.fetch(Q["lock_accounts"], account_ids)]

    async def insert_transaction(
        self, kind: str, key: str, reference: str | None, reverses: str | None
    ) -> asyncpg.Record | None:
        return await self.conn.fetchrow(Q["insert_transaction"], kind, key, reference, reverses)

    async def get_transaction_by_key(self, key: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(Q["get_transaction_by_key"], key)

    async def insert_postings(
        self, txn_id: str, account_ids: list[str], amounts: list[int], currencies: list[str]
    ) -> None:
        await self.conn.execute(Q["insert_postings"], txn_id, account_ids, amounts, currencies)

    async def transaction_postings(self, txn_id: str) -> list[Posting]:
        rows = await self.conn.fetch(Q["transaction_postings"], txn_id)
        return [
            Posting(
                account=Account(kind=r["kind"], owner_id=r["owner_id"], currency=r["currency"]),
                amount=r["amount"],
            )
            for r in rows
        ]

    async def balances(self, owner_id: str, kind: str | None) -> list[tuple[Account, int]]:
        rows = await self.conn.fetch(Q["account_balances"], owner_id, kind)
        return [(_account(r), r["balance"]) for r in rows]

    async def all_balances(self) -> dict[Account, int]:
        return {_account(r): r["balance"] for r in await self.conn.fetch(Q["all_balances"])}

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
        return [StatementLine(**dict(r)) for r in rows]

    # -- customers' money -----------------------------------------------------------------

    async def customer_earned(self, customer_id: str) -> list[asyncpg.Record]:
        return await self.conn.fetch(Q["customer_earned"], customer_id)

    async def customer_payout_totals(self, customer_id: str) -> list[asyncpg.Record]:
        return await self.conn.fetch(Q["customer_payout_totals"], customer_id)

    async def customer_payouts(
        self, customer_id: str, starting_after: str | None, limit: int
    ) -> list[Payout]:
        rows = await self.conn.fetch(Q["customer_payouts"], customer_id, starting_after, limit)
        return [_payout(r) for r in rows]

    async def customer_jurisdiction(self, customer_id: str) -> str | None:
        return await self.conn.fetchval(Q["customer_jurisdiction"], customer_id)

    async def partner_exists(self, partner_id: str) -> bool:
        return await self.conn.fetchval(Q["partner_exists"], partner_id)

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

    async def set_payout_account(
        self, customer_id: str, stripe_account: str
    ) -> PaymentAccounts | None:
        try:
            r = await self.conn.fetchrow(Q["set_payout_account"], customer_id, stripe_account)
        except asyncpg.ForeignKeyViolationError:
            return None
        return PaymentAccounts(**dict(r))

    async def get_payment_accounts(self, customer_id: str) -> PaymentAccounts | None:
        r = await self.conn.fetchrow(Q["get_payment_accounts"], customer_id)
        return PaymentAccounts(**dict(r)) if r else None

    async def set_stripe_customer(self, customer_id: str, stripe_customer_id: str) -> str:
        return await self.conn.fetchval(Q["set_stripe_customer"], customer_id, stripe_customer_id)

    async def all_payment_accounts(self) -> list[PaymentAccounts]:
        return [PaymentAccounts(**dict(r)) for r in await self.conn.fetch(Q["all_payment_accounts"])]

    # -- payouts --------------------------------------------------------------------------

    async def earnings_to_settle(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(Q["earnings_to_settle"])

    async def new_payout_id(self) -> str:
        return await self.conn.fetchval(Q["new_payout_id"])

    async def insert_payout(self, payout_id: str, customer_id: str, kind: str, amount: int,
                            currency: str, txn_id: str) -> Payout:  # fmt: skip
        r = await self.conn.fetchrow(
            Q["insert_payout"], payout_id, customer_id, kind, amount, currency, txn_id
        )
        return _payout(r)

    async def get_payout(self, payout_id: str, *, lock: bool = False) -> tuple[Payout, str] | None:
        r = await self.conn.fetchrow(Q["lock_payout" if lock else "get_payout"], payout_id)
        return (_payout(r), r["txn_id"]) if r else None

    async def update_payout(self, payout_id: str, *, status: str, attempts: int,
                            stripe_object_id: str | None, last_error: str | None) -> Payout:  # fmt: skip
        r = await self.conn.fetchrow(
            Q["update_payout"], payout_id, status, attempts, stripe_object_id, last_error
        )
        return _payout(r)

    async def stale_pending_payouts(self, older_than_seconds: float) -> list[str]:
        rows = await self.conn.fetch(Q["stale_pending_payouts"], older_than_seconds)
        return [r["id"] for r in rows]

    async def all_payouts(self) -> list[Payout]:
        return [_payout(r) for r in await self.conn.fetch(Q["all_payouts"])]

