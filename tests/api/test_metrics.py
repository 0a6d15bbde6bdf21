"""`/metrics`: the operator's Prometheus series, read as Prometheus reads them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Actors, bearer


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client, token) -> dict[tuple[str, tuple], float]:
    r = await client.get("/metrics", headers=bearer(token("operator", "op_metrics")))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


async def test_metrics_are_for_operators_only(client, token):
    assert (await client.get("/metrics")).status_code == 401
    r = await client.get("/metrics", headers=bearer(token("partner", "ptn_x")))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.get("/metrics", headers=bearer(token("regulator", "reg_x", ["DE"])))
    assert r.status_code == 403


async def test_metrics_count_requests_decisions_and_read_the_database(client, token, pool):
    actors = Actors(client, token)
    partner = await actors.partner()
    customer = await actors.customer()
    route = "/v1/partner/customers/{customer_id}/records"
    denied = ("marketplace_access_decisions_total", (("outcome", "denied"), ("reason", "no_grant")))
    requests = (
        "marketplace_http_requests_total",
        (("method", "GET"), ("route", route), ("status", "403")),
    )
    before = await scrape(client, token)

    for _ in range(3):  # no grant: denied, recorded, counted once each
        r = await client.get(
            f"/v1/partner/customers/{customer['id']}/records",
            params={"category": "location", "purpose": "research"},
            headers=partner["auth"],
        )
        assert r.status_code == 403
    after = await scrape(client, token)

    assert after[denied] - before.get(denied, 0) == 3
    assert after[requests] - before.get(requests, 0) == 3
    latency = ("marketplace_http_request_duration_seconds_count", requests[1])
    assert after[latency] - before.get(latency, 0) == 3
    # The route template labels the series, never the raw path (one series per route).
    assert not any(customer["id"] in str(labels) for _, labels in after)

    # The pool's series: nothing waits or is held once the requests are answered.
    assert after[("marketplace_db_pool_in_use", ())] == 0
    assert after[("marketplace_db_pool_waiting", ())] == 0
    assert ("marketplace_db_pool_acquire_timeouts_total", ()) in after

    # Read from the database: the decisions' audit entries wait for the sealer (no worker
    # runs here), and the gauges say so as SQL counts them.
    unsealed = await pool.fetchval(
        "SELECT count(*) FROM audit_entries e, audit_sealer_state s"
        " WHERE (e.txid, e.id) > (s.last_txid, s.last_entry_id)"
    )
    assert unsealed >= 3
    assert after[("marketplace_audit_unsealed_entries", ())] >= 3
    assert after[("marketplace_audit_seal_lag_seconds", ())] > 0
    for state in ("pending", "succeeded", "failed"):
        assert ("marketplace_payouts", (("state", state),)) in after
    assert ("marketplace_webhook_deliveries_failed", ()) in after


async def test_job_queue_depth_and_age_per_kind(client, token, pool):
    await pool.execute(
        "INSERT INTO pgqueuer (priority, entrypoint, payload, status, execute_after)"
        " VALUES (0, 'metrics_probe', NULL, 'queued', now() - interval '90 seconds'),"
        "        (0, 'metrics_probe', NULL, 'queued', now())"
    )
    try:
        after = await scrape(client, token)
        assert after[("marketplace_job_queue_depth", (("kind", "metrics_probe"),))] == 2
        age = after[("marketplace_job_queue_oldest_age_seconds", (("kind", "metrics_probe"),))]
        assert age >= 90
    finally:
        await pool.execute("DELETE FROM pgqueuer WHERE entrypoint = 'metrics_probe'")
