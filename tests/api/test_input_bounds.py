"""Bounded input: every date and time a caller sends lies in one published range, bodies are
limited while they are read, JSON nesting has a depth limit (issue 11)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

import pytest

from marketplace.http import MAX_JSON_DEPTH
from marketplace.http.dates import FORMAT_BOUNDS
from tests.conftest import partner_body

OUT_OF_RANGE = {
    "date": ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"],
    "date-time": [
        "0001-01-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1900-01-01T00:30:00+01:00",
    ],
}


def _date_query_parameters(doc: dict) -> list[tuple[str, str, str]]:
    """(path, query parameter, format) for every date or date-time query parameter."""
    return [
        (path, p["name"], p["schema"]["format"])
        for path, item in doc["paths"].items()
        for op in item.values()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["schema"].get("format") in FORMAT_BOUNDS
    ]


async def test_every_date_input_publishes_its_range(client):
    doc = (await client.get("/schema/openapi.json")).json()
    params = _date_query_parameters(doc)
    assert {(p, n) for p, n, _ in params} >= {
        ("/v1/audit/metrics", "from"),
        ("/v1/audit/entries", "to"),
    }
    for path, item in doc["paths"].items():
        for op in (o for o in item.values() if isinstance(o, dict)):
            for p in op.get("parameters", []):
                fmt = p["schema"].get("format")
                if fmt in FORMAT_BOUNDS:
                    low, high = FORMAT_BOUNDS[fmt]
                    assert p["schema"]["formatMinimum"] == low, (path, p)
                    assert (
                        p["schema"]["formatMaximum"] == high
                        and "1900-01-01" in p["schema"]["description"]
                    )
    schemas = doc["components"]["schemas"]
    birth = schemas["CreateCustomer"]["properties"]["birth_date"]["oneOf"][0]
    recorded = schemas["RecordIn"]["properties"]["recorded_at"]
    assert birth["formatMinimum"] == "1900-01-01" and birth["formatMaximum"] == "2100-12-31"
    assert recorded["formatMinimum"] == FORMAT_BOUNDS["date-time"][0]


async def test_every_date_query_parameter_outside_the_range_is_400_naming_it(client, token):
    doc = (await client.get("/schema/openapi.json")).json()
    regulator = {"Authorization": f"Bearer {token('regulator', 'reg_bounds', ['DE'])}"}
    for path, name, fmt in _date_query_parameters(doc):
        for value in OUT_OF_RANGE[fmt]:
            others = {"from": "2024-01-01", "to": "2024-01-02"} if fmt == "date" else {}
            r = await client.get(path, params={**others, name: value}, headers=regulator)
            assert r.status_code == 400, (path, name, value, r.text)
            assert r.json()["field"] == name and "1900-01-01" in r.json()["detail"], r.json()


async def test_metrics_from_year_one_is_400_and_the_edges_of_the_range_answer(client, token):
    regulator = {"Authorization": f"Bearer {token('regulator', 'reg_bounds', ['DE'])}"}
    r = await client.get("/v1/audit/metrics?from=0001-01-01&to=2024-01-01", headers=regulator)
    assert r.status_code == 400 and r.json()["field"] == "from", r.text
    r = await client.get("/v1/audit/metrics?from=2100-12-30&to=2100-12-31", headers=regulator)
    assert r.status_code == 200 and len(r.json()["days"]) == 2, r.text
    r = await client.get("/v1/audit/metrics?from=1900-01-01&to=2100-12-31", headers=regulator)
    assert r.status_code == 200 and len(r.json()["days"]) == 366, r.text


@pytest.mark.parametrize("birth_date", ["0001-01-01", "1899-12-31", "2101-01-01"])
async def test_a_birth_date_outside_the_range_is_400_naming_it(client, actors, pool, birth_date):
    before = await pool.fetchval("SELECT count(*) FROM customers")
    body = {"external_ref": f"bounds-{birth_date}", "jurisdiction": "FR", "birth_date": birth_date}
    r = await client.post("/v1/admin/customers", json=body, headers=actors.operator)
    assert r.status_code == 400 and r.json()["field"] == "birth_date", r.text
    assert await pool.fetchval("SELECT count(*) FROM customers") == before


async def test_a_birth_date_in_the_future_is_422_naming_it(client, actors, pool):
    """Inside the range, but nobody is born tomorrow: age rules would take them for a minor."""
    from datetime import UTC, datetime, timedelta

    before = await pool.fetchval("SELECT count(*) FROM customers")
    unborn = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    body = {"external_ref": "bounds-unborn", "jurisdiction": "DE", "birth_date": unborn}
    r = await client.post("/v1/admin/customers", json=body, headers=actors.operator)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_customer" and r.json()["field"] == "birth_date"
    assert await pool.fetchval("SELECT count(*) FROM customers") == before


@pytest.mark.parametrize("recorded_at", OUT_OF_RANGE["date-time"])
async def test_a_record_time_outside_the_range_is_400_naming_it(client, actors, pool, recorded_at):
    customer = await actors.customer()
    good = {
        "category": "device",
        "recorded_at": "2024-01-01T00:00:00Z",
        "payload": {"model": "x"},
        "source": "test",
    }
    body = {"records": [good, {**good, "recorded_at": recorded_at}]}
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records", json=body, headers=actors.operator
    )
    assert r.status_code == 400 and r.json()["field"] == "records[1].recorded_at", r.text
    count = await pool.fetchval(
        "SELECT count(*) FROM records WHERE customer_id = $1", customer["id"]
    )
    assert count == 0


# -- body size, while it is read ---------------------------------------------------------------


class StreamedBody:
    """An ASGI `receive` that hands out a body chunk by chunk and counts what was taken."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.taken = 0
        self.ended = False
        self.done = asyncio.Event()

    async def receive(self):
        chunk = next(self.chunks, None)
        if chunk is None and not self.ended:
            self.ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if chunk is None:
            await self.done.wait()  # like a server: nothing more until the response is out
            return {"type": "http.disconnect"}
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}


async def _call(client, method, path, headers, body: StreamedBody) -> tuple[int, dict, bytes]:
    """The request straight through the ASGI app, on the loop its lifespan (pool) runs on."""
    portal = client.blocking_portal
    return await asyncio.to_thread(portal.call, _asgi, client.app, method, path, headers, body)


async def _asgi(app, method, path, headers, body: StreamedBody) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    start, parts = {}, []

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                body.done.set()

    await app(scope, body.receive, send)
    return start["status"], dict(start["headers"]), b"".join(parts)


def _records(n: int) -> bytes:
    record = {
        "category": "device",
        "recorded_at": "2024-01-01T00:00:00Z",
        "payload": {"model": "x" * 200},
        "source": "test",
    }
    return json.dumps({"records": [record] * n}).encode()


def _chunks(data: bytes, size: int = 8192):
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_an_over_limit_body_with_an_idempotency_key_is_refused_before_it_is_buffered(
    client, actors, settings
):
    """Idempotency-Key replay once read the whole body first: now the limit holds while
    reading, and the app stops taking chunks at the limit."""
    partner = await actors.partner()
    headers = {
        **partner["auth"],
        "content-type": "application/json",
        "idempotency-key": uuid.uuid4().hex,
    }
    endless = StreamedBody(itertools.repeat(b" " * 8192, 10_000))  # 80 MB, never finished
    status, out_headers, answer = await _call(
        client, "POST", "/v1/partner/offers", headers, endless
    )
    assert status == 413 and json.loads(answer)["code"] == "body_too_large", answer
    assert out_headers[b"content-type"] == b"application/problem+json"
    assert settings.max_body_bytes < endless.taken <= settings.max_body_bytes + 8192
    # A declared length over the limit is refused before a byte is read.
    declared = StreamedBody([b"{}"])
    too_long = {**headers, "content-length": str(settings.max_body_bytes + 1)}
    status, _, _ = await _call(client, "POST", "/v1/partner/offers", too_long, declared)
    assert status == 413 and declared.taken == 0


async def test_the_ingestion_route_takes_bodies_up_to_its_own_limit(client, actors, settings):
    customer = await actors.customer()
    path = f"/v1/admin/customers/{customer['id']}/records"
    headers = {
        **actors.operator,
        "content-type": "application/json",
        "idempotency-key": uuid.uuid4().hex,
    }
    body = _records(1000)
    assert settings.max_body_bytes < len(body) < settings.max_ingest_body_bytes
    status, _, answer = await _call(client, "POST", path, headers, StreamedBody(_chunks(body)))
    assert status == 201, answer
    headers["idempotency-key"] = uuid.uuid4().hex
    endless = StreamedBody(itertools.repeat(b" " * 65536, 10_000))
    status, _, answer = await _call(client, "POST", path, headers, endless)
    assert status == 413 and json.loads(answer)["code"] == "body_too_large"
    assert endless.taken <= settings.max_ingest_body_bytes + 65536


# -- JSON depth ----------------------------------------------------------------------------------


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_json_nested_past_the_limit_is_400_naming_the_body(client, actors, pool):
    customer = await actors.customer()
    path = f"/v1/admin/customers/{customer['id']}/records"
    record = {"category": "device", "recorded_at": "2024-01-01T00:00:00Z", "source": "test"}
    # {"records": [{"payload": ...}]} is three levels around the payload.
    deepest = {"records": [{**record, "payload": _nested(MAX_JSON_DEPTH - 3)}]}
    r = await client.post(path, json=deepest, headers=actors.operator)
    assert r.status_code == 201, r.text
    too_deep = {"records": [{**record, "payload": _nested(MAX_JSON_DEPTH - 2)}]}
    r = await client.post(path, json=too_deep, headers=actors.operator)
    assert r.status_code == 400 and r.json()["code"] == "nesting_too_deep", r.text
    assert r.json()["field"] == "body"
    assert (
        await pool.fetchval("SELECT count(*) FROM records WHERE customer_id = $1", customer["id"])
        == 1
    )
    for raw in (b"[" * 50_000, b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
        r = await client.post(
            "/v1/admin/partners",
            content=raw,
            headers={**actors.operator, "content-type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["code"] == "nesting_too_deep", r.text
    # Brackets inside strings are text, not nesting.
    body = partner_body(name="[" * 150 + '{"\\' * 10)
    r = await client.post("/v1/admin/partners", json=body, headers=actors.operator)
    assert r.status_code == 201, r.text
