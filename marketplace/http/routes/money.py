"""Money endpoints: partner funding, balance and statement; customer earnings; the Stripe
webhook; operator payout accounts and escrow adjustments."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post

from ledger import Balance, Earnings, Funding, LedgerService, PaymentAccounts, StatementLine
from offers import Page

from ..auth import requires
from ..schemas import CreateFunding, Currency, EscrowAdjustment, SetPayoutAccount
from .params import Limit, StartingAfter


class PartnerMoneyController(Controller):
    path = "/v1/partner"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/funding", status_code=201)
    async def fund(self, request: Request, data: CreateFunding, money: LedgerService) -> Funding:
        """Start a funding payment (a Stripe PaymentIntent); the escrow is credited when Stripe
        reports the payment succeeded."""
        key = request.headers.get("idempotency-key") or uuid.uuid4().hex
        return await money.create_funding(
            request.user.sub, data.amount, data.currency,
            idempotency_key=f"funding-{request.user.sub}-{key}",
            payment_method=data.payment_method,
        )  # fmt: skip

    @get("/balance")
    async def balance(self, request: Request, money: LedgerService) -> dict:
        """Escrow available per currency."""
        balances: list[Balance] = await money.partner_balance(request.user.sub)
        return {"escrow": balances}

    @get("/statement")
    async def statement(
        self,
        request: Request,
        money: LedgerService,
        currency: Currency | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[StatementLine]:
        """Escrow movements, newest first; the cursor is a transaction id."""
        lines, more = await money.partner_statement(
            request.user.sub, currency=currency, starting_after=starting_after, limit=limit
        )
        return Page(data=lines, has_more=more)


class MeMoneyController(Controller):
    path = "/v1/me"
    guards = [requires("customer")]
    tags = ["customer"]

    @get("/earnings")
    async def earnings(self, request: Request, money: LedgerService) -> Earnings:
        """Earned, paid, pending and available per kind and currency, and recent payouts."""
        return await money.customer_earnings(request.user.sub)


class AdminMoneyController(Controller):
    path = "/v1/admin"
    guards = [requires("operator")]
    tags = ["operator"]

    @post("/customers/{customer_id:str}/payout-account", status_code=200)
    async def payout_account(
        self, customer_id: str, data: SetPayoutAccount, money: LedgerService
    ) -> PaymentAccounts:
        """The Stripe connected account that receives the customer's cash payouts."""
        return await money.set_payout_account(customer_id, data.stripe_account)

    @post("/partners/{partner_id:str}/escrow-adjustments", status_code=201)
    async def adjust_escrow(
        self, request: Request, partner_id: str, data: EscrowAdjustment, money: LedgerService
    ) -> dict:
        """Credit (or correct) a partner's escrow outside Stripe; `reference` makes it once."""
        txn = await money.adjust_escrow(
            partner_id, data.amount, data.currency,
            idempotency_key=f"adjustment:{partner_id}:{data.reference}",
            operator=request.user.sub,
        )  # fmt: skip
        return {"txn_id": txn.id, "amount": data.amount, "currency": data.currency}


@post("/v1/stripe/webhook", opt={"exclude_from_auth": True}, tags=["public"], status_code=200)
async def stripe_webhook(request: Request, money: LedgerService) -> Response:
    """Stripe's events, verified by their signature; a redelivered event changes nothing."""
    result = await money.handle_stripe_webhook(
        await request.body(), request.headers.get("stripe-signature")
    )
    return Response({"received": True, "result": result})


ROUTES = [PartnerMoneyController, MeMoneyController, AdminMoneyController, stripe_webhook]
