"""Partner webhooks over real HTTP: signed, retried with backoff, never in the customer's way."""

from __future__ import annotations

import asyncio
import json

import pytest

from offers import WebhookSignatureError, sign_webhook, verify_webhook
from tests.dataspace_helpers import Receiver, drain_jobs


async def _endpoint(client, partner, url, events=("grant.revoked",)) -> dict:
    r = await client.post(
        "/v1/partner/webhook-endpoints", json={"url": url, "events": list(events)},
        headers=partner["auth"],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


async def _deliveries(client, partner, endpoint) -> list[dict]:
    r = await client.get(
        f"/v1/partner/webhook-endpoints/{endpoint['id']}/deliveries", headers=partner["auth"]
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_revocation_reaches_the_partner_signed(client, actors, settings, database_url):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    async with Receiver() as receiver:
        endpoint = await _endpoint(client, partner, receiver.url,
                                   ("grant.created", "grant.revoked"))  # fmt: skip
        assert endpoint["id"].startswith("whe_") and endpoint["secret"].startswith("whsec_")
        listed = await client.get("/v1/partner/webhook-endpoints", headers=partner["auth"])
        assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
        assert listed.json()["data"][0].get("secret") is None  # shown once

        grant = await actors.accept(customer, offer)
        r = await client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
        assert r.status_code == 200
        await drain_jobs(settings, database_url)

    events = [verify_webhook(endpoint["secret"], h, body) for h, body, _ in receiver.calls]
    assert sorted(e["type"] for e in events) == ["grant.created", "grant.revoked"]
    revoked = next(e for e in events if e["type"] == "grant.revoked")
    assert revoked["id"].startswith("evt_") and isinstance(revoked["created"], int)
    assert revoked["data"]["grant_id"] == grant["id"]
    assert revoked["data"]["offer_id"] == offer["id"]
    assert revoked["data"]["customer_id"] == customer["id"]
    assert revoked["data"]["status"] == "revoked"
    # A forged or altered body does not verify.
    header, body, _ = next(c for c in receiver.calls if b"grant.revoked" in c[1])
    with pytest.raises(WebhookSignatureError):
        verify_webhook(endpoint["secret"], header, body.replace(b"revoked", b"active"))
    with pytest.raises(WebhookSignatureError):
        verify_webhook("whsec_wrong", header, body)
    log = await _deliveries(client, partner, endpoint)
    assert {d["status"] for d in log} == {"succeeded"}
    assert all(d["log"][0]["status_code"] == 204 for d in log)


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    client, actors, settings, database_url
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    async with Receiver(fail=2) as receiver:
        endpoint = await _endpoint(client, partner, receiver.url, ("grant.paused",))
        r = await client.post(f"/v1/me/grants/{grant['id']}/pause", headers=customer["auth"])
        assert r.status_code == 200
        await drain_jobs(settings, database_url, base_delay=0.1)

    assert len(receiver.calls) == 3
    bodies = {body for _, body, _ in receiver.calls}
    assert len(bodies) == 1  # the same event each time, so the receiver can dedupe by id
    gaps = [b[2] - a[2] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # exponential backoff: 0.1 s, then 0.2 s
    for header, body, _ in receiver.calls:
        assert verify_webhook(endpoint["secret"], header, body)["type"] == "grant.paused"
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [503, 503, 204]
    assert [a["attempt"] for a in delivery["log"]] == [1, 2, 3]


async def test_a_receiver_that_is_down_does_not_slow_the_revoke(
    client, actors, settings, database_url
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    async with Receiver() as receiver:
        down_url = receiver.url  # a port that will refuse connections once closed
    endpoint = await _endpoint(client, partner, down_url)
    r = await client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    [delivery] = await _deliveries(client, partner, endpoint)  # not tried during the call
    assert delivery["status"] == "pending" and delivery["attempts"] == 0

    await drain_jobs(settings, database_url, base_delay=0.02, max_attempts=3)
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert all(a["status_code"] is None and a["error"] for a in delivery["log"])


async def test_the_revoke_does_not_wait_for_the_receiver(client, actors, settings, database_url):
    """Shown by ordering, not by a timer: the receiver cannot answer until `hold` is set, and
    `hold` is set only after the revoke has returned. A revoke that waited for the receiver
    would never return (the wait_for below only turns that hang into a failure)."""
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    hold = asyncio.Event()
    async with Receiver(hold=hold) as receiver:
        endpoint = await _endpoint(client, partner, receiver.url)
        r = await asyncio.wait_for(
            client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"]), 60
        )
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        assert not hold.is_set() and receiver.calls == []  # returned before any delivery

        drain = asyncio.create_task(drain_jobs(settings, database_url))
        await asyncio.wait_for(receiver.arrived.wait(), 60)  # the delivery is at the receiver
        [delivery] = await _deliveries(client, partner, endpoint)
        assert delivery["status"] == "pending"  # the receiver is still holding it
        hold.set()
        await drain

    [(header, body, _)] = receiver.calls
    event = verify_webhook(endpoint["secret"], header, body)
    assert event["type"] == "grant.revoked" and event["data"]["grant_id"] == grant["id"]
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1


async def test_endpoints_refuse_non_http_urls_and_unknown_events(client, actors):
    partner = await actors.partner()
    for url in ("ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "not a url"):
        r = await client.post(
            "/v1/partner/webhook-endpoints", json={"url": url, "events": ["grant.revoked"]},
            headers=partner["auth"],
        )  # fmt: skip
        assert r.status_code in (400, 422), (url, r.text)
        assert r.json()["field"] == "url"
    r = await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": "https://example.com/h", "events": ["grant.exploded"]},
        headers=partner["auth"],
    )
    assert r.status_code == 400 and r.json()["field"].startswith("events")


async def test_partners_see_and_delete_only_their_own_endpoints(client, actors):
    a, b = await actors.partner(), await actors.partner()
    endpoint = await _endpoint(client, a, "https://example.com/hooks")
    r = await client.get(
        f"/v1/partner/webhook-endpoints/{endpoint['id']}/deliveries", headers=b["auth"]
    )
    assert r.status_code == 404
    r = await client.delete(f"/v1/partner/webhook-endpoints/{endpoint['id']}", headers=b["auth"])
    assert r.status_code == 404
    r = await client.delete(f"/v1/partner/webhook-endpoints/{endpoint['id']}", headers=a["auth"])
    assert r.status_code == 204
    r = await client.get("/v1/partner/webhook-endpoints", headers=a["auth"])
    assert r.json()["data"] == []


def test_verify_webhook_checks_age_and_format():
    body = json.dumps({"id": "evt_1", "type": "grant.revoked"}).encode()
    header = sign_webhook("whsec_x", body, timestamp=1_000_000)
    assert verify_webhook("whsec_x", header, body, now=1_000_100)["id"] == "evt_1"
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_webhook("whsec_x", header, body, now=1_000_000 + 301)
    with pytest.raises(WebhookSignatureError, match="malformed"):
        verify_webhook("whsec_x", "v1=abc", body)
    # During a secret rotation two signatures may be sent; one valid is enough.
    rotated = header + ",v1=" + "0" * 64
    assert verify_webhook("whsec_x", rotated, body, now=1_000_000)
