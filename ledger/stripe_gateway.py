"""Stripe, through the official SDK: the only module that talks to it.

Two base addresses may be configured: `api_base` for PaymentIntents and customers, and
`payouts_base` for Connect transfers and customer balance credits (in tests these are two
fakes; in production both are Stripe's own). Stripe's errors are translated here, once
(`_stripe_errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import stripe

from .errors import PaymentGatewayError, PaymentRefused, StripeEventInvalid, WebhookSignatureInvalid

if TYPE_CHECKING:
    from stripe.params import (
        CustomerBalanceTransactionListParams,
        PaymentIntentCreateParams,
        TransferListParams,
    )


def _translate(e: stripe.StripeError) -> PaymentGatewayError:
    status = getattr(e, "http_status", None)
    param = getattr(e, "param", None)
    if (
        isinstance(e, stripe.InvalidRequestError | stripe.CardError)
        and param
        and status
        in (
            400,
            402,
        )
    ):
        # Stripe names the parameter of ours it refused: the caller's value, not a fault here.
        return PaymentRefused(
            f"stripe refused {param}: {e.user_message or str(e)}"[:500], field=str(param)[:100]
        )
    retryable = isinstance(e, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is not None and (status >= 500 or status in (409, 429))
    )
    return PaymentGatewayError(
        f"stripe: {type(e).__name__} {status or ''} {e.user_message or str(e)}".strip()[:500],
        retryable=retryable,
    )


class PaymentIntent(msgspec.Struct, frozen=True, kw_only=True):
    """What we keep of a PaymentIntent just created."""

    id: str
    client_secret: str | None
    status: str


@contextmanager
def _stripe_errors() -> Iterator[None]:
    """A Stripe call's errors leave as PaymentGatewayError (retryable or not)."""
    try:
        yield
    except stripe.StripeError as e:
        raise _translate(e) from None


class StripeGateway:
    """Async calls to Stripe; never called inside a database transaction."""

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        payouts_base: str | None = None,
        timeout: float = 20.0,
    ):
        def client(base: str | None) -> stripe.StripeClient:
            return stripe.StripeClient(
                api_key,
                base_addresses={"api": base} if base else {},
                max_network_retries=0,  # retries are ours: backoff, then a reversal
                http_client=stripe.HTTPXClient(timeout=timeout),
            )

        self.api = client(api_base)
        self.payouts = client(payouts_base or api_base)

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        partner_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> PaymentIntent:
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": {"partner_id": partner_id, "purpose": "escrow_funding"},
        }
        if payment_method:
            params["payment_method"] = payment_method
            params["confirm"] = True
        with _stripe_errors():
            pi = await self.api.v1.payment_intents.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        return PaymentIntent(id=pi.id, client_secret=pi.client_secret, status=pi.status)

    async def create_customer(self, customer_id: str) -> str:
        """A Stripe customer for bill credits; the metadata holds our id, nothing personal."""
        with _stripe_errors():
            c = await self.payouts.v1.customers.create_async(
                {"metadata": {"customer_id": customer_id}},
                {"idempotency_key": f"customer-{customer_id}"},
            )
        return c.id

    async def credit_customer_balance(
        self, *, stripe_customer: str, amount: int, currency: str, payout_id: str
    ) -> str:
        """A credit on the customer's bill: a negative customer balance transaction."""
        with _stripe_errors():
            t = await self.payouts.v1.customers.balance_transactions.create_async(
                stripe_customer,
                {
                    "amount": -amount,
                    "currency": currency.lower(),
                    "metadata": {"payout_id": payout_id},
                },
                {"idempotency_key": f"payout-{payout_id}"},
            )
        return t.id

    async def transfer(
        self, *, destination: str, amount: int, currency: str, payout_id: str
    ) -> str:
        with _stripe_errors():
            t = await self.payouts.v1.transfers.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": destination,
                    "metadata": {"payout_id": payout_id},
                    "transfer_group": payout_id,
                },
                {"idempotency_key": f"payout-{payout_id}"},
            )
        return t.id

    async def transfers(self) -> AsyncIterator[dict[str, Any]]:
        params: TransferListParams = {"limit": 100}
        while True:
            with _stripe_errors():
                page = await self.payouts.v1.transfers.list_async(params)
            for t in page.data:
                yield t.to_dict()
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id

    async def balance_transactions(self, stripe_customer: str) -> AsyncIterator[dict[str, Any]]:
        params: CustomerBalanceTransactionListParams = {"limit": 100}
        while True:
            with _stripe_errors():
                page = await self.payouts.v1.customers.balance_transactions.list_async(
                    stripe_customer, params
                )
            for t in page.data:
                yield t.to_dict()
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id


# What we read of a Stripe event. Stripe signs what it sends, but a signature says who sent a
# payload, not that it has the shape we expect: anything else is refused as a 400 here, before
# any of it reaches SQL (an id holding NUL, an amount that is a string or a bool, a list).
StripeId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_]{1,255}$")]
Minor = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class EventData(msgspec.Struct):
    object: dict[str, Any]


class StripeEvent(msgspec.Struct):
    id: StripeId
    type: Annotated[str, msgspec.Meta(pattern="^[a-z0-9_.]{1,100}$")]
    data: EventData


class PaymentIntentObject(msgspec.Struct):
    id: StripeId
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{3}$")]
    amount: Minor | None = None
    amount_received: Minor | None = None
    metadata: dict[str, Any] = {}


_event_decoder = msgspec.json.Decoder(StripeEvent)


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> StripeEvent:
    """The event, if Stripe signed it with our endpoint secret (and recently); else raises."""
    if not secret:
        raise WebhookSignatureInvalid("no webhook secret is configured", field="Stripe-Signature")
    try:
        stripe.WebhookSignature.verify_header(payload.decode(), signature or "", secret)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise WebhookSignatureInvalid(
            "the Stripe-Signature does not verify", field="Stripe-Signature"
        ) from None
    try:
        return _event_decoder.decode(payload)
    except msgspec.DecodeError as e:
        raise StripeEventInvalid(f"the payload is not a Stripe event: {e}", field="body") from None


def payment_intent(event: StripeEvent) -> PaymentIntentObject:
    """The PaymentIntent a `payment_intent.*` event carries, checked as strictly as the event."""
    try:
        return msgspec.convert(event.data.object, PaymentIntentObject, strict=True)
    except msgspec.ValidationError as e:
        raise StripeEventInvalid(
            f"the event's PaymentIntent is malformed: {e}", field="data.object"
        ) from None
