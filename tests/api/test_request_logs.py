"""One canonical JSON log line per request, with its request id, and never a token."""

from __future__ import annotations

import json

import httpx

from tests.conftest import free_port, partner_body, start_server


def test_one_json_line_per_request_with_ids_only(settings, token, tmp_path):
    log_file = tmp_path / "server.log"
    port = free_port()
    with log_file.open("w") as err:
        proc = start_server(settings, port, stderr=err)
    secret = token("operator", "op_logs")
    try:
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(
            f"{base}/v1/admin/partners",
            json=partner_body(name="Logged GmbH"),
            headers={"Authorization": f"Bearer {secret}", "X-Request-Id": "req-test-0001"},
        )
        assert r.status_code == 201 and r.headers["x-request-id"] == "req-test-0001"
        r = httpx.get(f"{base}/v1/me/offers")  # no token: 401, still logged
        generated = r.headers["x-request-id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    by_id = {line["request_id"]: line for line in requests}
    first = by_id["req-test-0001"]
    assert first["status"] == 201 and first["route"] == "/v1/admin/partners"
    assert first["role"] == "operator" and first["sub"] == "op_logs"
    assert by_id[generated]["status"] == 401
    assert sum(1 for line in requests if line["request_id"] == "req-test-0001") == 1
    assert secret not in text and "Logged GmbH" not in text
