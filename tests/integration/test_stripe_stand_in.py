"""The demo's Stripe stand-in (`make run`): partner funding works through the same SDK calls
production makes, its signed webhook credits the escrow, and the stand-in keeps its objects
across a restart, so `reconcile` finds the payouts it made."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from ledger import StripeGateway
from tests.conftest import ROOT, Actors, free_port, start_server
from tests.fakes.peers import wait_for_port

SECRET = "whsec_stand_in_test"


def start_stand_in(port: int, state, webhook_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.stripe_server",
            "--port",
            str(port),
            "--state",
            str(state),
            "--webhook-url",
            webhook_url,
            "--webhook-secret",
            SECRET,
        ],
        cwd=ROOT,
    )
    wait_for_port(proc, port)
    return proc


@pytest.mark.timeout(300)
async def test_funding_and_state_across_restarts(settings, tmp_path, token):
    api_port, stripe_port = free_port(), free_port()
    base, stripe_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{stripe_port}"
    state = tmp_path / "stand-in.json"
    stand_in = start_stand_in(stripe_port, state, f"{base}/v1/stripe/webhook")
    server = start_server(
        settings, api_port, {"STRIPE_API_BASE": stripe_base, "STRIPE_WEBHOOK_SECRET": SECRET}
    )
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            partner = await Actors(client, token).partner(fund=0)
            r = await client.post(
                "/v1/partner/funding",
                json={"amount": 12_345, "currency": "EUR", "payment_method": "pm_card_visa"},
                headers=partner["auth"],
            )
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "succeeded" and r.json()["client_secret"]
            # The stand-in sends the signed payment_intent.succeeded; the escrow is credited.
            while not (await client.get("/v1/partner/balance", headers=partner["auth"])).json()[
                "escrow"
            ]:
                assert stand_in.poll() is None
                time.sleep(0.1)
            r = await client.get("/v1/partner/balance", headers=partner["auth"])
            assert r.json() == {"escrow": [{"currency": "EUR", "amount": 12_345}]}

        # A transfer made before a restart is still listed after it, as Stripe would.
        gateway = StripeGateway("sk_test_local", stripe_base)
        transfer = await gateway.transfer(
            destination="acct_standin", amount=700, currency="EUR", payout_id="po_standin"
        )
        stand_in.terminate()
        stand_in.wait(timeout=30)
        stand_in = start_stand_in(stripe_port, state, f"{base}/v1/stripe/webhook")
        assert [t["id"] async for t in gateway.transfers()] == [transfer]
        # The same idempotency key replays the first transfer instead of making a second.
        again = await gateway.transfer(
            destination="acct_standin", amount=700, currency="EUR", payout_id="po_standin"
        )
        assert again == transfer
    finally:
        server.terminate()
        server.wait(timeout=30)
        stand_in.terminate()
        stand_in.wait(timeout=30)
