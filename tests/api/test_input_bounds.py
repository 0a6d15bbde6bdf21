"""Bounded input: every date and time a caller sends lies in one published range, bodies are
limited while they are read, JSON nesting has a depth limit (issue 11)."""

from __future__ import annotations

import pytest

from marketplace.http.dates import FORMAT_BOUNDS

OUT_OF_RANGE = {
    "date": ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"],
    "date-time": ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2101-01-01T00:00:00Z",
                  "9999-12-31T23:59:59Z", "1900-01-01T00:30:00+01:00"],
}  # fmt: skip


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
    assert {(p, n) for p, n, _ in params} >= {("/v1/audit/metrics", "from"),
                                              ("/v1/audit/entries", "to")}  # fmt: skip
    for path, item in doc["paths"].items():
        for op in (o for o in item.values() if isinstance(o, dict)):
            for p in op.get("parameters", []):
                fmt = p["schema"].get("format")
                if fmt in FORMAT_BOUNDS:
                    low, high = FORMAT_BOUNDS[fmt]
                    assert p["schema"]["formatMinimum"] == low, (path, p)
                    assert p["schema"]["formatMaximum"] == high and "1900-01-01" in p["schema"][
                        "description"]  # fmt: skip
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


@pytest.mark.parametrize("recorded_at", OUT_OF_RANGE["date-time"])
async def test_a_record_time_outside_the_range_is_400_naming_it(client, actors, pool, recorded_at):
    customer = await actors.customer()
    good = {"category": "device", "recorded_at": "2024-01-01T00:00:00Z",
            "payload": {"model": "x"}, "source": "test"}  # fmt: skip
    body = {"records": [good, {**good, "recorded_at": recorded_at}]}
    r = await client.post(f"/v1/admin/customers/{customer['id']}/records", json=body,
                          headers=actors.operator)  # fmt: skip
    assert r.status_code == 400 and r.json()["field"] == "records[1].recorded_at", r.text
    count = await pool.fetchval("SELECT count(*) FROM records WHERE customer_id = $1",
                                customer["id"])  # fmt: skip
    assert count == 0
