"""The money service: funding, balances, statements and earnings. Each method owns one
transaction; Stripe is called only outside of them."""

from __future__ import annotations

import asyncpg

from .audit import AuditLog
from .books import Books, check_currency
from .errors import InvalidAmount, UnknownParty
from .models import (
    Account,
    Balance,
    Earnings,
    EarningsLine,
    Funding,
    PaymentAccounts,
    Posting,
    StatementLine,
    Transaction,
)
from .repository import LedgerRepository
from .stripe_gateway import StripeGateway, verify_webhook

KIND_OF_EARNINGS = {"customer_earnings_discount": "discount", "customer_earnings_cash": "cash"}


def _page(rows: list, limit: int) -> tuple[list, bool]:
    return rows[:limit], len(rows) > limit


class LedgerService:
    """Money in (partner funding), money held (balances, statements) over one pool."""

    def __init__(self, pool: asyncpg.Pool, stripe: StripeGateway | None = None,
                 webhook_secret: str = ""):  # fmt: skip
        self.pool = pool
        self.stripe = stripe
        self.webhook_secret = webhook_secret

    async def post(
        self, kind: str, idempotency_key: str, postings: list[Posting], **kw
    ) -> tuple[Transaction, bool]:
        """One balanced transaction in its own database transaction (operator adjustments)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await Books(conn).post(kind, idempotency_key, postings, **kw)

    # -- funding --------------------------------------------------------------------------

    async def create_funding(self, partner_id: str, amount: int, currency: str, *,
                             idempotency_key: str, payment_method: str | None = None) -> Funding:  # fmt: skip
        """A Stripe PaymentIntent for the partner to pay; escrow is credited by the webhook."""
        if amount <= 0:
            raise InvalidAmount("amount must be a positive number of minor units", field="amount")
        check_currency(currency)
        async with self.pool.acquire() as conn:
            if not await LedgerRepository(conn).partner_exists(partner_id):
                raise UnknownParty("the partner in this token does not exist")
        pi = await self.stripe.create_payment_intent(
            amount=amount, currency=currency, partner_id=partner_id,
            idempotency_key=idempotency_key, payment_method=payment_method,
        )  # fmt: skip
        async with self.pool.acquire() as conn:
            await LedgerRepository(conn).insert_funding(pi["id"], partner_id, amount, currency)
        return Funding(payment_intent=pi["id"], client_secret=pi["client_secret"], amount=amount,
                       currency=currency, status=pi["status"])  # fmt: skip

    async def handle_stripe_webhook(self, payload: bytes, signature: str | None) -> str:
        """Verifies and applies one Stripe event; returns what was done with it.

        Replays are acknowledged without effect (by event id, and the escrow credit is keyed
        by the PaymentIntent), so duplicates and any delivery order are safe.
        """
        event = verify_webhook(payload, signature, self.webhook_secret)
        async with self.pool.acquire() as conn, conn.transaction():
            repo = LedgerRepository(conn)
            if not await repo.record_stripe_event(event["id"], event["type"]):
                return "duplicate"
            if event["type"] != "payment_intent.succeeded":
                return "ignored"
            pi = event["data"]["object"]
            partner_id = (pi.get("metadata") or {}).get("partner_id")
            amount = pi.get("amount_received") or pi.get("amount")
            if not partner_id or not isinstance(amount, int) or amount <= 0:
                return "ignored"  # not an escrow funding of ours
            currency = str(pi["currency"]).upper()
            _, created = await Books(conn).post(
                "funding",
                f"funding:{pi['id']}",
                [
                    Posting(account=Account(kind="partner_escrow", owner_id=partner_id,
                                            currency=currency), amount=amount),
                    Posting(account=Account(kind="stripe_clearing", currency=currency),
                            amount=-amount),
                ],
                reference=pi["id"],
                audit={"partner_id": partner_id, "outcome": "posted", "stripe_event": event["id"]},
            )  # fmt: skip
            return "credited" if created else "duplicate"

    async def adjust_escrow(self, partner_id: str, amount: int, currency: str, *,
                            idempotency_key: str, operator: str = "operator") -> Transaction:  # fmt: skip
        """An operator's funding adjustment (money received outside Stripe, or a correction)."""
        if amount == 0:
            raise InvalidAmount("amount must not be zero", field="amount")
        check_currency(currency)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await LedgerRepository(conn).partner_exists(partner_id):
                raise UnknownParty(f"no partner {partner_id}", field="partner_id")
            txn, _ = await Books(conn).post(
                "funding_adjustment",
                idempotency_key,
                [
                    Posting(account=Account(kind="partner_escrow", owner_id=partner_id,
                                            currency=currency), amount=amount),
                    Posting(account=Account(kind="funding_adjustments", currency=currency),
                            amount=-amount),
                ],
                audit={"partner_id": partner_id, "outcome": "posted", "operator": operator},
            )  # fmt: skip
            return txn

    # -- reading --------------------------------------------------------------------------

    async def partner_balance(self, partner_id: str) -> list[Balance]:
        async with self.pool.acquire() as conn:
            rows = await LedgerRepository(conn).balances(partner_id, "partner_escrow")
        return [Balance(currency=a.currency, amount=b) for a, b in rows]

    async def partner_statement(self, partner_id: str, *, currency: str | None,
                                starting_after: str | None,
                                limit: int) -> tuple[list[StatementLine], bool]:  # fmt: skip
        async with self.pool.acquire() as conn:
            rows = await LedgerRepository(conn).escrow_statement(
                partner_id, currency, starting_after, limit + 1
            )
        return _page(rows, limit)

    async def customer_earnings(self, customer_id: str, *, payouts_limit: int = 20) -> Earnings:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            repo = LedgerRepository(conn)
            earned = {(KIND_OF_EARNINGS[r["kind"]], r["currency"]): r["earned"]
                      for r in await repo.customer_earned(customer_id)}  # fmt: skip
            available = {(KIND_OF_EARNINGS[a.kind], a.currency): b
                         for a, b in await repo.balances(customer_id, None)
                         if a.kind in KIND_OF_EARNINGS}  # fmt: skip
            totals = {(r["kind"], r["currency"], r["status"]): r["total"]
                      for r in await repo.customer_payout_totals(customer_id)}  # fmt: skip
            payouts = await repo.customer_payouts(customer_id, None, payouts_limit)
        keys = sorted(set(earned) | set(available) | {(k, c) for k, c, _ in totals})
        lines = [
            EarningsLine(
                kind=k, currency=c, earned=earned.get((k, c), 0),
                paid=totals.get((k, c, "succeeded"), 0), pending=totals.get((k, c, "pending"), 0),
                available=available.get((k, c), 0),
            )
            for k, c in keys
        ]
        return Earnings(balances=lines, payouts=payouts)

    # -- where customers are paid (operator) ----------------------------------------------

    async def set_payout_account(self, customer_id: str, stripe_account: str) -> PaymentAccounts:
        async with self.pool.acquire() as conn, conn.transaction():
            accounts = await LedgerRepository(conn).set_payout_account(customer_id, stripe_account)
            if accounts is None:
                raise UnknownParty(f"no customer {customer_id}", field="customer_id")
            await AuditLog(conn).append(
                "payout.account_set", customer_id=customer_id, outcome="set"
            )
            return accounts
