"""Money over HTTP: funding through Stripe (localstripe, real signed webhooks), balance,
statement, earnings, the operator's payout account, and the problems money returns."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import stripe
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from tests.conftest import Actors
from tests.fakes.peers import LocalStripe, WebhookCatcher

SECRET = "whsec_test_money"


@pytest.fixture(scope="module")
def localstripe():
    ls = LocalStripe()
    yield ls
    ls.stop()


@pytest.fixture(scope="module")
def catcher(localstripe):
    c = WebhookCatcher()
    import httpx

    httpx.post(
        f"{localstripe.url}/_config/webhooks/money", data={"url": c.url, "secret": SECRET}
    ).raise_for_status()
    return c


@pytest.fixture(scope="module")
async def money_client(settings, localstripe):
    app = create_app(
        replace(settings, stripe_api_base=localstripe.url, stripe_webhook_secret=SECRET)
    )
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture(scope="module")
def money_actors(money_client, token):
    return Actors(money_client, token)


async def test_funding_credits_escrow_once_from_stripes_signed_webhook(
    money_client, money_actors, catcher
):
    partner = await money_actors.partner(fund=0)
    r = await money_client.post(
        "/v1/partner/funding",
        headers=partner["auth"],
        json={"amount": 25_000, "currency": "EUR", "payment_method": "pm_card_visa"},
    )
    assert r.status_code == 201, r.text
    funding = r.json()
    assert funding["payment_intent"].startswith("pi_") and funding["client_secret"]
    assert funding["status"] == "succeeded"
    r = await money_client.get("/v1/partner/balance", headers=partner["auth"])
    assert r.json() == {"escrow": []}  # nothing until Stripe says the payment succeeded

    body, headers = await catcher.wait_for("payment_intent.succeeded", funding["payment_intent"])
    hook = {"stripe-signature": headers["Stripe-Signature"], "content-type": "application/json"}
    r = await money_client.post("/v1/stripe/webhook", content=body, headers=hook)
    assert r.status_code == 200 and r.json()["result"] == "credited", r.text
    r = await money_client.post("/v1/stripe/webhook", content=body, headers=hook)
    assert r.json()["result"] == "duplicate"  # replayed delivery: no second credit
    r = await money_client.get("/v1/partner/balance", headers=partner["auth"])
    assert r.json() == {"escrow": [{"currency": "EUR", "amount": 25_000}]}

    # A tampered body or a wrong secret is refused, and changes nothing.
    forged = body.replace(b"25000", b"99999")
    r = await money_client.post("/v1/stripe/webhook", content=forged, headers=hook)
    assert r.status_code == 401 and r.json()["code"] == "webhook_signature_invalid"
    r = await money_client.post(
        "/v1/stripe/webhook", content=body, headers={"stripe-signature": "t=1,v1=00"}
    )
    assert r.status_code == 401

    r = await money_client.get("/v1/partner/statement", headers=partner["auth"])
    lines = r.json()["data"]
    assert [(x["kind"], x["amount"], x["reference"]) for x in lines] == [
        ("funding", 25_000, funding["payment_intent"])
    ]


async def test_out_of_order_and_foreign_events_are_tolerated(money_client, money_actors):
    partner = await money_actors.partner(fund=0)

    def signed(event: dict) -> tuple[bytes, dict]:
        payload = json.dumps(event).encode()
        t = int(time.time())
        sig = stripe.WebhookSignature._compute_signature(f"{t}.{payload.decode()}", SECRET)
        return payload, {"stripe-signature": f"t={t},v1={sig}"}

    pi = {
        "id": "pi_ooo1",
        "object": "payment_intent",
        "amount": 700,
        "amount_received": 700,
        "currency": "eur",
        "metadata": {"partner_id": partner["id"]},
    }
    succeeded = signed(
        {
            "id": "evt_ooo_2",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": pi},
        }
    )
    created = signed(
        {
            "id": "evt_ooo_1",
            "object": "event",
            "type": "payment_intent.created",
            "data": {"object": {**pi, "amount_received": 0}},
        }
    )
    again = signed(
        {
            "id": "evt_ooo_3",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": pi},
        }
    )
    results = []
    for payload, headers in (succeeded, created, again):
        r = await money_client.post("/v1/stripe/webhook", content=payload, headers=headers)
        results.append(r.json()["result"])
    # Succeeded before created, then a second event for the same PaymentIntent: one credit.
    assert results == ["credited", "ignored", "duplicate"]
    r = await money_client.get("/v1/partner/balance", headers=partner["auth"])
    assert r.json() == {"escrow": [{"currency": "EUR", "amount": 700}]}


def _signed(payload: bytes) -> dict:
    t = int(time.time())
    sig = stripe.WebhookSignature._compute_signature(f"{t}.{payload.decode()}", SECRET)
    return {"stripe-signature": f"t={t},v1={sig}", "content-type": "application/json"}


async def test_signed_but_malformed_stripe_events_are_400_and_change_nothing(
    money_client, money_actors, pool
):
    partner = await money_actors.partner(fund=0)
    pi = {
        "id": "pi_odd",
        "object": "payment_intent",
        "amount": 700,
        "amount_received": 700,
        "currency": "eur",
        "metadata": {"partner_id": partner["id"]},
    }

    def event(n: int, **changes) -> dict:
        body = {
            "id": f"evt_odd_{n}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": pi},
        }
        return {**body, **changes}

    def succeeded(n: int, **changes) -> dict:
        return event(n, data={"object": {**pi, **changes}})

    events_before = await pool.fetchval("SELECT count(*) FROM stripe_events")
    for n, raw in enumerate(
        [
            b"[]",
            b'"evt"',
            b"{}",
            b"null",
            json.dumps(event(1, id="evt\u0000x")).encode(),
            json.dumps(event(2, id="evt\ud800")).encode(),
            json.dumps(event(3, id=12)).encode(),
            json.dumps(event(4, type=["x"])).encode(),
            json.dumps(event(5, data=None)).encode(),
            json.dumps(event(6, data={"object": [1]})).encode(),
            json.dumps(succeeded(7, id=["pi"])).encode(),
            json.dumps(succeeded(8, amount="700", amount_received="700")).encode(),
            json.dumps(succeeded(9, amount_received=True)).encode(),
            json.dumps(succeeded(10, amount_received=2**70)).encode(),
            json.dumps(succeeded(11, currency=978)).encode(),
            json.dumps(succeeded(12, metadata=["partner_id"])).encode(),
            json.dumps(succeeded(13, id="pi_\u0000")).encode(),
        ]
    ):
        r = await money_client.post("/v1/stripe/webhook", content=raw, headers=_signed(raw))
        assert r.status_code == 400, (n, raw, r.text)
        assert r.json()["code"] == "invalid_stripe_event", (n, r.json())
    # Signed, well-formed, but its metadata is not ours: acknowledged and ignored.
    for n, metadata in enumerate([{"partner_id": {"id": 1}}, {"partner_id": "ptn_\u0000"}], 20):
        raw = json.dumps(succeeded(n, id=f"pi_meta{n}", metadata=metadata)).encode()
        r = await money_client.post("/v1/stripe/webhook", content=raw, headers=_signed(raw))
        assert r.status_code == 200 and r.json()["result"] == "ignored", r.text
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == events_before + 2
    r = await money_client.get("/v1/partner/balance", headers=partner["auth"])
    assert r.json() == {"escrow": []}


async def test_acceptance_earnings_and_insufficient_escrow_over_http(money_client, money_actors):
    partner = await money_actors.partner(fund=1_000)
    offer = await money_actors.offer(
        partner, compensation={"kind": "discount", "amount": 600, "currency": "EUR"}
    )
    first = await money_actors.customer("FR")
    await money_actors.accept(first, offer)
    second = await money_actors.customer("FR")
    r = await money_client.post(
        "/v1/me/grants", json={"offer_id": offer["id"]}, headers=second["auth"]
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_escrow"
    assert r.headers["content-type"].startswith("application/problem+json")

    r = await money_client.get("/v1/me/earnings", headers=first["auth"])
    assert r.json()["balances"] == [
        {
            "kind": "discount",
            "currency": "EUR",
            "earned": 540,
            "paid": 0,
            "pending": 0,
            "available": 540,
        }
    ]
    r = await money_client.get("/v1/partner/statement?limit=1", headers=partner["auth"])
    page = r.json()
    assert page["has_more"] is True and page["data"][0]["amount"] == -600
    r = await money_client.get(
        f"/v1/partner/statement?starting_after={page['data'][0]['txn_id']}",
        headers=partner["auth"],
    )
    assert [x["kind"] for x in r.json()["data"]] == ["funding_adjustment"]
    # A customer never sees a partner's money, nor a partner a customer's.
    assert (await money_client.get("/v1/partner/balance", headers=first["auth"])).status_code == 403
    assert (await money_client.get("/v1/me/earnings", headers=partner["auth"])).status_code == 403


async def test_bad_money_input_is_a_4xx_naming_the_field(money_client, money_actors):
    partner = await money_actors.partner(fund=0)
    for body, field in (
        ({"amount": 0, "currency": "EUR"}, "amount"),
        ({"amount": 10, "currency": "eur"}, "currency"),
        ({"amount": 1.5, "currency": "EUR"}, "amount"),
    ):
        r = await money_client.post("/v1/partner/funding", json=body, headers=partner["auth"])
        assert r.status_code == 400 and field in (r.json().get("field") or ""), r.text
    customer = await money_actors.customer("FR")
    r = await money_client.post(
        f"/v1/admin/customers/{customer['id']}/payout-account",
        json={"stripe_account": "not-an-account"},
        headers=money_actors.operator,
    )
    assert r.status_code == 400 and "stripe_account" in r.json()["field"]
    r = await money_client.post(
        "/v1/admin/customers/cus_nope/payout-account",
        json={"stripe_account": "acct_123"},
        headers=money_actors.operator,
    )
    assert r.status_code == 404
    r = await money_client.post(
        f"/v1/admin/customers/{customer['id']}/payout-account",
        json={"stripe_account": "acct_123"},
        headers=money_actors.operator,
    )
    assert r.status_code == 200 and r.json()["stripe_account_id"] == "acct_123"
