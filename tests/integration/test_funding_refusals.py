"""Stripe refusing the caller's own values (currency, amount) is the caller's 422 naming the
field, never a 502; a fault of the gateway itself stays a 502."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import stripe

from ledger import PaymentGatewayError, PaymentRefused
from ledger.stripe_gateway import _translate
from marketplace.bootstrap import bootstrap


async def test_values_stripe_refuses_are_a_422_naming_stripes_param(world, fake_stripe):
    settings = replace(world.settings, stripe_api_key="sk_test_x", stripe_api_base=fake_stripe.url)
    money = bootstrap(settings, world.pool).ledger
    partner = await world.consent.create_partner("P", "DE")
    for amount, currency, field in ((5_000, "AAA", "currency"), (1, "EUR", "amount")):
        with pytest.raises(PaymentRefused) as refused:
            await money.create_funding(
                partner.id, amount, currency, idempotency_key=uuid.uuid4().hex
            )
        assert refused.value.field == field and refused.value.status == 422
        assert refused.value.retryable is False
    funding = await money.create_funding(partner.id, 5_000, "EUR", idempotency_key="ok")
    assert funding.payment_intent.startswith("pi_") and funding.client_secret


def test_a_refusal_naming_no_param_is_still_the_gateways_fault():
    unknown_url = stripe.InvalidRequestError(
        "Unrecognized request URL", param=None, http_status=404
    )
    error = _translate(unknown_url)
    assert type(error) is PaymentGatewayError and error.status == 502
    down = stripe.APIError("down", http_status=503)
    assert type(_translate(down)) is PaymentGatewayError and _translate(down).retryable
