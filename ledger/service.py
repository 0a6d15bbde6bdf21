"""The money service: funding, balances, statements and earnings. Each method owns one
transaction; Stripe is called only outside of them."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sql import UnitOfWorkFactory

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
    PayoutKind,
    Posting,
    StatementLine,
    Transaction,
)
from .repository import LedgerRepository
from .stripe_gateway import StripeGateway, payment_intent, verify_webhook

KIND_OF_EARNINGS: dict[str, PayoutKind] = {
    "customer_earnings_discount": "discount",
    "customer_earnings_cash": "cash",
}
T = TypeVar("T")
# A partner id as we make them; anything else in a PaymentIntent's metadata is not ours.
_OUR_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def _page(rows: list[T], limit: int) -> tuple[list[T], bool]:
    return rows[:limit], len(rows) > limit


class LedgerService:
    """Money in (partner funding), money held (balances, statements); each method is one
    unit of work."""

    def __init__(self, uow: UnitOfWorkFactory, stripe: StripeGateway, webhook_secret: str = ""):
        self.uow = uow
        self.stripe = stripe
        self.webhook_secret = webhook_secret

    async def post(
        self, kind: str, idempotency_key: str, postings: list[Posting], **kw: Any
    ) -> tuple[Transaction, bool]:
        """One balanced transaction in its own database transaction (operator adjustments)."""
        async with self.uow() as uow:
            return await uow.repository(Books).post(kind, idempotency_key, postings, **kw)

    # -- funding --------------------------------------------------------------------------

    async def create_funding(
        self,
        partner_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> Funding:
        """A Stripe PaymentIntent for the partner to pay; escrow is credited by the webhook."""
        if amount <= 0:
            raise InvalidAmount("amount must be a positive number of minor units", field="amount")
        check_currency(currency)
        async with self.uow(transaction=False) as uow:
            if not await uow.repository(LedgerRepository).partner_exists(partner_id):
                raise UnknownParty("the partner in this token does not exist")
        pi = await self.stripe.create_payment_intent(
            amount=amount,
            currency=currency,
            partner_id=partner_id,
            idempotency_key=idempotency_key,
            payment_method=payment_method,
        )
        async with self.uow(transaction=False) as uow:
            await uow.repository(LedgerRepository).insert_funding(
                pi.id, partner_id, amount, currency
            )
        return Funding(
            payment_intent=pi.id,
            client_secret=pi.client_secret,
            amount=amount,
            currency=currency,
            status=pi.status,
        )

    async def handle_stripe_webhook(self, payload: bytes, signature: str | None) -> str:
        """Verifies and applies one Stripe event; returns what was done with it.

        Replays are acknowledged without effect (by event id, and the escrow credit is keyed
        by the PaymentIntent), so duplicates and any delivery order are safe.
        """
        event = verify_webhook(payload, signature, self.webhook_secret)
        pi = payment_intent(event) if event.type == "payment_intent.succeeded" else None
        async with self.uow() as uow:
            repo = uow.repository(LedgerRepository)
            if not await repo.record_stripe_event(event.id, event.type):
                return "duplicate"
            if pi is None:
                return "ignored"
            partner_id = pi.metadata.get("partner_id")
            amount = pi.amount_received or pi.amount
            if not isinstance(partner_id, str) or not _OUR_ID.fullmatch(partner_id) or not amount:
                return "ignored"  # not an escrow funding of ours
            currency = pi.currency.upper()
            _, created = await uow.repository(Books).post(
                "funding",
                f"funding:{pi.id}",
                [
                    Posting(
                        account=Account(
                            kind="partner_escrow", owner_id=partner_id, currency=currency
                        ),
                        amount=amount,
                    ),
                    Posting(
                        account=Account(kind="stripe_clearing", currency=currency), amount=-amount
                    ),
                ],
                reference=pi.id,
                audit={"partner_id": partner_id, "outcome": "posted", "stripe_event": event.id},
            )
            return "credited" if created else "duplicate"

    async def adjust_escrow(
        self,
        partner_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str,
        operator: str = "operator",
    ) -> Transaction:
        """An operator's funding adjustment (money received outside Stripe, or a correction)."""
        if amount == 0:
            raise InvalidAmount("amount must not be zero", field="amount")
        check_currency(currency)
        async with self.uow() as uow:
            if not await uow.repository(LedgerRepository).partner_exists(partner_id):
                raise UnknownParty(f"no partner {partner_id}", field="partner_id")
            txn, _ = await uow.repository(Books).post(
                "funding_adjustment",
                idempotency_key,
                [
                    Posting(
                        account=Account(
                            kind="partner_escrow", owner_id=partner_id, currency=currency
                        ),
                        amount=amount,
                    ),
                    Posting(
                        account=Account(kind="funding_adjustments", currency=currency),
                        amount=-amount,
                    ),
                ],
                audit={"partner_id": partner_id, "outcome": "posted", "operator": operator},
            )
            return txn

    # -- reading --------------------------------------------------------------------------

    async def partner_balance(self, partner_id: str) -> list[Balance]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(LedgerRepository).balances(partner_id, "partner_escrow")
        return [Balance(currency=a.currency, amount=b) for a, b in rows]

    async def partner_statement(
        self, partner_id: str, *, currency: str | None, starting_after: str | None, limit: int
    ) -> tuple[list[StatementLine], bool]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(LedgerRepository).escrow_statement(
                partner_id, currency, starting_after, limit + 1
            )
        return _page(rows, limit)

    async def customer_earnings(self, customer_id: str, *, payouts_limit: int = 20) -> Earnings:
        async with self.uow(isolation="repeatable_read") as uow:
            repo = uow.repository(LedgerRepository)
            earned = {
                (KIND_OF_EARNINGS[e.kind], e.currency): e.earned
                for e in await repo.customer_earned(customer_id)
            }
            available = {
                (KIND_OF_EARNINGS[a.kind], a.currency): b
                for a, b in await repo.balances(customer_id, None)
                if a.kind in KIND_OF_EARNINGS
            }
            totals = {
                (t.kind, t.currency, t.status): t.total
                for t in await repo.customer_payout_totals(customer_id)
            }
            payouts = await repo.customer_payouts(customer_id, None, payouts_limit)
        keys = sorted(set(earned) | set(available) | {(k, c) for k, c, _ in totals})
        lines = [
            EarningsLine(
                kind=k,
                currency=c,
                earned=earned.get((k, c), 0),
                paid=totals.get((k, c, "succeeded"), 0),
                pending=totals.get((k, c, "pending"), 0),
                available=available.get((k, c), 0),
            )
            for k, c in keys
        ]
        return Earnings(balances=lines, payouts=payouts)

    # -- where customers are paid (operator) ----------------------------------------------

    async def set_payout_account(self, customer_id: str, stripe_account: str) -> PaymentAccounts:
        """An unknown customer is UnknownParty (the unit of work translates the foreign key)."""
        async with self.uow() as uow:
            accounts = await uow.repository(LedgerRepository).set_payout_account(
                customer_id, stripe_account
            )
            await uow.repository(AuditLog).append(
                "payout.account_set", customer_id=customer_id, outcome="set"
            )
            return accounts
