"""The Stripe webhook: Stripe's events, verified by their signature."""

from __future__ import annotations

from litestar import Request, Response, post

from ledger import LedgerService


@post(
    "/v1/stripe/webhook",
    operation_id="receiveStripeWebhook",
    opt={"exclude_from_auth": True},
    tags=["public"],
    status_code=200,
)
async def stripe_webhook(request: Request, money: LedgerService) -> Response:
    """Stripe's events, verified by their signature; a redelivered event changes nothing."""
    result = await money.handle_stripe_webhook(
        await request.body(), request.headers.get("stripe-signature")
    )
    return Response({"received": True, "result": result})


ROUTES = [stripe_webhook]
