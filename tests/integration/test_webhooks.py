"""Partner webhooks over real HTTP: signed, retried with backoff, never in the customer's way,
and never inside the operator's network (checked at registration and at delivery)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from typing import get_args

import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from offers import WebhookSignatureError, sign_webhook, verify_webhook
from offers.models import DeliveryOutcome
from tests.dataspace_helpers import Receiver, drain_jobs

pytestmark = pytest.mark.usefixtures("own_queue")


async def _endpoint(client, partner, url, events=("grant.revoked",)) -> dict:
    r = await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": url, "events": list(events)},
        headers=partner["auth"],
    )
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
        endpoint = await _endpoint(
            client, partner, receiver.url, ("grant.created", "grant.revoked")
        )
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
    assert {d["status"] for d in log} == {"succeeded"}, log
    assert all(d["log"][0]["status_code"] == 204 for d in log), log


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
    assert all(a["status_code"] is None for a in delivery["log"])
    assert [a["error"] for a in delivery["log"]] == ["connection_refused"] * 3


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
        # The receiver holds every call until `hold` is set, which happens only below: a revoke
        # that waited for it would never return (and pytest-timeout would fail the test).
        r = await client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        assert not hold.is_set() and receiver.calls == []  # returned before any delivery

        drain = asyncio.create_task(drain_jobs(settings, database_url))
        await receiver.arrived.wait()  # the delivery is at the receiver
        [delivery] = await _deliveries(client, partner, endpoint)
        assert delivery["status"] == "pending"  # the receiver is still holding it
        hold.set()
        await drain

    [(header, body, _)] = receiver.calls
    event = verify_webhook(endpoint["secret"], header, body)
    assert event["type"] == "grant.revoked" and event["data"]["grant_id"] == grant["id"]
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(
    client, actors, settings, database_url, pool
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    first, second = await actors.accept(customer, offer), None
    async with Receiver() as receiver:
        endpoint = await _endpoint(client, partner, receiver.url, ("grant.paused",))
        path = f"/v1/partner/webhook-endpoints/{endpoint['id']}/secret-rotations"
        r = await client.post(path, headers=partner["auth"])
        assert r.status_code == 201, r.text
        rotated = r.json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
        assert rotated["previous_secret_expires_at"]
        r = await client.post(f"/v1/me/grants/{first['id']}/pause", headers=customer["auth"])
        assert r.status_code == 200
        await drain_jobs(settings, database_url)
        # The overlap ends: only the new secret signs.
        await pool.execute(
            "UPDATE webhook_endpoints SET previous_secret_expires_at = now() WHERE id = $1",
            endpoint["id"],
        )
        await client.post(f"/v1/me/grants/{first['id']}/revoke", headers=customer["auth"])
        second = await actors.accept(customer, offer)
        r = await client.post(f"/v1/me/grants/{second['id']}/pause", headers=customer["auth"])
        assert r.status_code == 200
        await drain_jobs(settings, database_url)

    (h1, b1, _), (h2, b2, _) = receiver.calls
    for secret in (endpoint["secret"], rotated["secret"]):  # either verifies, mid-switch
        assert verify_webhook(secret, h1, b1)["data"]["grant_id"] == first["id"]
    assert verify_webhook(rotated["secret"], h2, b2)["data"]["grant_id"] == second["id"]
    with pytest.raises(WebhookSignatureError):
        verify_webhook(endpoint["secret"], h2, b2)
    r = await client.post(
        f"/v1/partner/webhook-endpoints/{endpoint['id']}/secret-rotations",
        params={"overlap_seconds": -1},
        headers=partner["auth"],
    )
    # Refused at the edge, before the service: a bound the OpenAPI publishes.
    assert r.status_code == 400 and r.json()["field"] == "overlap_seconds"
    other = await actors.partner()
    r = await client.post(
        f"/v1/partner/webhook-endpoints/{endpoint['id']}/secret-rotations", headers=other["auth"]
    )
    assert r.status_code == 404


async def test_endpoints_refuse_non_http_urls_and_unknown_events(client, actors):
    partner = await actors.partner()
    for url in ("ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "not a url"):
        r = await client.post(
            "/v1/partner/webhook-endpoints",
            json={"url": url, "events": ["grant.revoked"]},
            headers=partner["auth"],
        )
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


# -- where webhooks may go ---------------------------------------------------------------------

OUTCOMES = set(get_args(DeliveryOutcome))

INSIDE_TARGETS = [
    # loopback, in every spelling a resolver accepts
    "http://127.0.0.1/hooks",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0X7F.0.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://127.0.0.1./",
    "http://127.0.0.1:8080/",
    "http://１２７．０．０．１/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[::127.0.0.1]/",
    # unspecified, private, shared, link-local
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.1.1/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    # cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "http://100.100.100.200/",
    "http://168.63.129.16/",
    # multicast, reserved, documentation
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.1/",
    "http://[2001:db8::1]/",
    # names that resolve only inside: one label (search domains), local suffixes
    "http://redis:6379/",
    "http://db.internal/",
    "http://printer.local/",
]
MALFORMED_TARGETS = [
    "http://user:pass@example.com/",
    "http://user@example.com/",
    "http://example.com@127.0.0.1/",
    "http://example.com:99999/",
    "http://example.com:0/",
    "http://example.com:-1/",
    "http://example.com:8o/",
    "http://example.com:/",
    "http://example.com\x00/",
    "http://exa mple.com/",
    "http://example.com/\r\nX-Injected: 1",
    "http://example.com/\t",
    "http://example.com/\u2028",
    "http://[::1",
    "http://256.0.0.1/",
    "http://1.2.3.4.5/",
    "http://0x7g.1/",
    "http://ex%61mple.com/",
    "http://example.com\\@127.0.0.1/",
    "ftp://example.com/",
    "gopher://example.com:25/",
    "file:///etc/passwd",
    "http://" + "a" * 60 + "." + "b" * 2000 + ".com/",
]
PUBLIC_TARGETS = [
    "https://example.com/hooks",
    "https://hooks.partner.example:8443/in?x=1",
    "http://93.184.215.14/h",
    "https://[2606:4700:4700::1111]/h",
    "https://EXAMPLE.com./h",
]


@pytest.fixture(scope="module")
async def unallowed(settings):
    """A client of an app configured as production is: no host is allowed to be local."""
    async with AsyncTestClient(app=create_app(replace(settings, webhook_allowed_hosts=()))) as c:
        yield c


async def _register(client, partner, url: str):
    return await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": url, "events": ["grant.revoked"]},
        headers=partner["auth"],
    )


@pytest.mark.parametrize("url", INSIDE_TARGETS)
async def test_registration_refuses_targets_inside_the_network(unallowed, actors, url):
    r = await _register(unallowed, await actors.partner(), url)
    assert r.status_code == 422, (url, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_webhook_endpoint" and r.json()["field"] == "url"


@pytest.mark.parametrize("url", MALFORMED_TARGETS)
async def test_registration_refuses_userinfo_bad_ports_and_control_characters(
    unallowed, actors, url
):
    r = await _register(unallowed, await actors.partner(), url)
    assert r.status_code in (400, 422), (url, r.text)
    assert r.json()["field"] == "url"


@pytest.mark.parametrize("url", PUBLIC_TARGETS)
async def test_registration_accepts_public_targets(unallowed, actors, url):
    r = await _register(unallowed, await actors.partner(), url)
    assert r.status_code == 201, (url, r.text)
    assert r.json()["url"] == url


async def test_loopback_is_reachable_only_through_hosts_the_settings_name(client, actors):
    """The suite's settings allow 127.0.0.1 and localhost (its receivers listen there); any
    spelling of those is that host, and nothing else local comes with them."""
    partner = await actors.partner()
    for url in ("http://127.0.0.1:9/h", "http://2130706433:9/h", "http://localhost:9/h"):
        assert (await _register(client, partner, url)).status_code == 201, url
    for url in ("http://[::1]:9/h", "http://10.0.0.1/h", "http://169.254.169.254/"):
        assert (await _register(client, partner, url)).status_code == 422, url


def _resolver(table: dict[str, list[str]]):
    """DNS as the test says: a name's addresses, and no address for any other name."""

    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return resolve


NAME = "hooks.partner.example"  # a public name: accepted at registration, resolved at delivery


async def test_a_delivery_connects_to_the_address_it_checked_with_the_original_host(
    client, actors, settings, database_url
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    async with Receiver() as receiver:
        endpoint = await _endpoint(
            client, partner, f"http://{NAME}:{receiver.port}/hooks", ("grant.created",)
        )
        await actors.accept(customer, offer)
        allowing = replace(settings, webhook_allowed_hosts=(*settings.webhook_allowed_hosts, NAME))
        await drain_jobs(allowing, database_url, resolver=_resolver({NAME: ["127.0.0.1"]}))

    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "succeeded"


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["93.184.215.14", "127.0.0.1"],
    ],
)
async def test_a_name_that_resolves_inside_at_delivery_is_refused_and_the_delivery_fails(
    client, actors, settings, database_url, addresses
):
    """DNS rebinding: the name was public when registered, and resolves inside the network
    when the worker sends. Every address is checked, none is connected to."""
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    async with Receiver() as receiver:
        endpoint = await _endpoint(
            client, partner, f"http://{NAME}:{receiver.port}/hooks", ("grant.created",)
        )
        await actors.accept(customer, offer)
        await drain_jobs(settings, database_url, resolver=_resolver({NAME: addresses}))

    assert receiver.calls == []
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "failed" and delivery["attempts"] == 1  # not retried
    assert delivery["log"][0]["error"] == "target_forbidden"
    assert delivery["log"][0]["status_code"] is None


async def test_a_host_that_does_not_resolve_is_retried_then_failed(
    client, actors, settings, database_url
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    endpoint = await _endpoint(client, partner, f"https://{NAME}/hooks", ("grant.created",))
    await actors.accept(customer, offer)
    await drain_jobs(
        settings, database_url, base_delay=0.01, max_attempts=2, resolver=_resolver({})
    )
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    assert [a["error"] for a in delivery["log"]] == ["unresolvable", "unresolvable"]


@pytest.mark.parametrize(
    "url,outcome",
    [
        ("http://169.254.169.254/latest/meta-data/", "target_forbidden"),
        ("http://user:secret@example.com/", "invalid_url"),
        ("http://exa mple.com/", "invalid_url"),
    ],
)
async def test_an_endpoint_that_cannot_be_attempted_fails_at_once(
    client, actors, settings, database_url, pool, url, outcome
):
    """Endpoints registered before today's checks: the delivery is refused under them and
    marked failed, not left pending (the job used to raise, and nothing retried it)."""
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    endpoint_id = await pool.fetchval(
        "INSERT INTO webhook_endpoints (partner_id, url, events, secret)"
        " VALUES ($1, $2, '{grant.created}', 'whsec_x') RETURNING id",
        partner["id"],
        url,
    )
    await actors.accept(customer, offer)
    await drain_jobs(settings, database_url)
    [delivery] = await _deliveries(client, partner, {"id": endpoint_id})
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["log"][0]["error"] == outcome


async def test_the_delivery_log_tells_the_class_of_a_failure_never_its_text(
    client, actors, settings, database_url, capsys
):
    """What a partner could once read there (connection errors of internal targets, in
    detail) was enough to scan the operator's network; the detail is in the server log."""
    partner = await actors.partner()
    offer = await actors.offer(partner)
    hold = asyncio.Event()
    async with Receiver() as closed:
        pass  # its port now refuses connections
    async with Receiver(fail=1) as failing, Receiver(hold=hold) as slow:
        endpoints = {
            "connection_refused": await _endpoint(client, partner, closed.url, ("grant.created",)),
            "tls_error": await _endpoint(  # TLS to a plain-HTTP server
                client, partner, failing.url.replace("http://", "https://"), ("grant.created",)
            ),
            "http_status": await _endpoint(client, partner, failing.url, ("grant.created",)),
            "timeout": await _endpoint(client, partner, slow.url, ("grant.created",)),
        }
        await actors.accept(await actors.customer(), offer)
        capsys.readouterr()
        await drain_jobs(settings, database_url, max_attempts=1, timeout=0.5)
        hold.set()

    server_log = capsys.readouterr().err
    for outcome, endpoint in endpoints.items():
        r = await client.get(
            f"/v1/partner/webhook-endpoints/{endpoint['id']}/deliveries", headers=partner["auth"]
        )
        [delivery] = r.json()["data"]
        assert delivery["status"] == "failed", outcome
        assert [a["error"] for a in delivery["log"]] == [outcome]
        for text in ("Errno", "Error", "SSL", "ssl", "timed out", "try later", "All connection"):
            assert text not in r.text, (outcome, text)
    assert delivery["log"][0]["error"] in OUTCOMES
    failures = [
        json.loads(line) for line in server_log.splitlines() if '"webhook_attempt_failed"' in line
    ]
    assert {f["outcome"] for f in failures} >= {"connection_refused", "tls_error", "timeout"}
    assert all(f["error"] for f in failures)  # the detail stays with the operator


async def test_a_receiver_answering_without_end_is_not_read(client, actors, settings, database_url):
    """The answer's status is all a delivery needs; its body is never read, so a receiver
    that streams one without end costs the worker nothing."""
    partner = await actors.partner()
    offer = await actors.offer(partner)
    async with Receiver(endless=True) as receiver:
        endpoint = await _endpoint(client, partner, receiver.url, ("grant.created",))
        await actors.accept(await actors.customer(), offer)
        await drain_jobs(settings, database_url, max_attempts=1)
    [delivery] = await _deliveries(client, partner, endpoint)
    assert delivery["status"] == "succeeded" and delivery["log"][0]["status_code"] == 200


async def test_attempts_logged_before_the_outcome_classes_keep_no_error_text(server_url):
    """The migration that introduces the classes reduces the text already in the log (the
    partner reads it) to its class, and from then on the column holds classes only."""
    import asyncpg

    from marketplace.db import migrate, migration_files
    from tests.conftest import scratch_database

    [ours] = [p for p in migration_files() if p.stem.endswith("_webhook_outcomes")]
    async with scratch_database(server_url, "mkt_wh_outcomes", migrated=False) as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for path in (p for p in migration_files() if p.stem < ours.stem):
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations VALUES ($1)", path.stem)
            delivery = await conn.fetchval(
                "WITH p AS (INSERT INTO partners (name, jurisdiction) VALUES ('P', 'DE')"
                " RETURNING id), w AS (INSERT INTO webhook_endpoints (partner_id, url, events,"
                " secret) SELECT id, 'http://10.0.0.5:6379/', '{grant.revoked}', 's' FROM p"
                " RETURNING id, partner_id), e AS (INSERT INTO webhook_events (partner_id, type,"
                " data) SELECT partner_id, 'grant.revoked', '{}' FROM w RETURNING id)"
                " INSERT INTO webhook_deliveries (event_id, endpoint_id)"
                " SELECT e.id, w.id FROM e, w RETURNING id"
            )
            old = [
                "ConnectError: [Errno 111] Connection refused",
                "HTTP 503",
                "ReadTimeout: timed out",
                "endpoint deleted",
                None,
                "ConnectError: [SSL: WRONG_VERSION_NUMBER] wrong version number",
                "ConnectError: [Errno 113] No route to host",
            ]
            for i, text in enumerate(old, 1):
                await conn.execute(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, error, duration_ms)"
                    " VALUES ($1, $2, $3, 1)",
                    delivery,
                    i,
                    text,
                )
            await migrate(url)
            rows = await conn.fetch(
                "SELECT error FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
                delivery,
            )
            assert [r["error"] for r in rows] == [
                "connection_refused",
                "http_status",
                "timeout",
                "endpoint_deleted",
                None,
                "tls_error",
                "connection_failed",
            ]
            definition = await conn.fetchval(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conname = 'webhook_attempts_error_is_a_class'"
            )
            assert set(re.findall(r"'(\w+)'", definition)) == OUTCOMES  # the published enum
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, error, duration_ms)"
                    " VALUES ($1, 99, 'ConnectError: [Errno 113] No route to host', 1)",
                    delivery,
                )
        finally:
            await conn.close()
