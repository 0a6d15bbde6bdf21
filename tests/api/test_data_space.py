"""The Personal Data Space over HTTP: see it, erase it (Art. 17), take it along (Art. 20)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import jwt
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.http.auth import issue_token
from tests.conftest import bearer, scratch_database
from tests.dataspace_helpers import insert_records

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _audit_kinds(pool, since_id: int) -> list[dict]:
    rows = await pool.fetch("SELECT entry FROM audit_entries WHERE id > $1 ORDER BY id", since_id)
    return [json.loads(r["entry"]) for r in rows]


async def _last_audit_id(pool) -> int:
    return await pool.fetchval("SELECT coalesce(max(id), 0) FROM audit_entries")


async def test_customer_sees_every_category_and_who_may_read_it(client, actors, pool):
    partner = await actors.partner(name="Footfall AG")
    offer = await actors.offer(partner)  # location + data_usage
    customer = await actors.customer("FR")
    grant = await actors.accept(customer, offer, purposes=["research"])
    await insert_records(pool, customer["id"], "location", 3, source="cells")
    await insert_records(pool, customer["id"], "location", 2, source="wifi")
    await insert_records(pool, customer["id"], "billing", 1)

    r = await client.get("/v1/me/data", headers=customer["auth"])
    assert r.status_code == 200, r.text
    cats = {c["category"]: c for c in r.json()["categories"]}
    assert set(cats) == {"location", "billing", "data_usage"}
    loc = cats["location"]
    assert loc["record_count"] == 5 and loc["sources"] == ["cells", "wifi"]
    assert loc["iri"] == "https://w3id.org/dpv/pd#Location"
    assert loc["first_recorded_at"] < loc["last_recorded_at"]
    [reader] = loc["readers"]
    assert reader == {
        "grant_id": grant["id"],
        "partner_id": partner["id"],
        "partner_name": "Footfall AG",
        "purposes": ["research"],
        "expires_at": grant["expires_at"],
    }
    assert cats["billing"]["readers"] == []
    assert cats["data_usage"]["record_count"] == 0  # granted, nothing held yet

    # Records, newest ingested first, paginated; another customer sees none of them.
    r = await client.get("/v1/me/data/location?limit=3", headers=customer["auth"])
    page = r.json()
    assert len(page["data"]) == 3 and page["has_more"] is True
    r = await client.get(
        f"/v1/me/data/location?limit=3&starting_after={page['data'][-1]['id']}",
        headers=customer["auth"],
    )
    assert len(r.json()["data"]) == 2 and r.json()["has_more"] is False
    assert r.json()["data"][0]["payload"]["c"] == "location"
    other = await actors.customer("FR")
    r = await client.get("/v1/me/data/location", headers=other["auth"])
    assert r.json()["data"] == []

    r = await client.get("/v1/me/data/horoscope", headers=customer["auth"])
    assert r.status_code == 400
    assert r.json()["code"] == "unknown_category" and r.json()["field"] == "category"


async def test_erasing_a_category_ends_every_grant_covering_it(client, actors, pool):
    partner = await actors.partner()
    # A grant of location alone ends; one that also covers other categories is narrowed
    # instead (tests/integration/test_deletion_obligations.py).
    covering = await actors.offer(partner, categories=["location"])
    unrelated = await actors.offer(partner, categories=["billing"], purposes=["research"])
    customer = await actors.customer("FR")
    g1 = await actors.accept(customer, covering)
    g2 = await actors.accept(customer, unrelated)
    await insert_records(pool, customer["id"], "location", 4)
    await insert_records(pool, customer["id"], "billing", 2)
    since = await _last_audit_id(pool)

    r = await client.delete("/v1/me/data/location", headers=customer["auth"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["records_deleted"] == 4 and body["grants_revoked"] == [g1["id"]]
    assert body["partners_notified"] == [partner["id"]]

    # Gone for everyone, at once: no rows in the database, the grant reads revoked.
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM records WHERE customer_id = $1 AND category = 'location'",
            customer["id"],
        )
        == 0
    )
    r = await client.get(f"/v1/partner/grants/{g1['id']}", headers=partner["auth"])
    assert r.json()["status"] == "revoked"
    r = await client.get(f"/v1/partner/grants/{g2['id']}", headers=partner["auth"])
    assert r.json()["status"] == "active"
    r = await client.get("/v1/me/data", headers=customer["auth"])
    assert {c["category"] for c in r.json()["categories"]} == {"billing"}

    entries = await _audit_kinds(pool, since)
    revoked = [e for e in entries if e["kind"] == "grant.revoked"]
    assert [e["grant_id"] for e in revoked] == [g1["id"]]
    assert revoked[0]["reason"] == "data_erased"
    [erased] = [e for e in entries if e["kind"] == "data.erased"]
    assert erased["category"] == "location" and erased["records_deleted"] == 4
    assert customer["id"] not in json.dumps(entries)  # pseudonym only

    # The partner is told: a delivery row exists for a subscribed endpoint (delivery itself
    # is covered by the webhook tests).
    r = await client.delete("/v1/me/data/horoscope", headers=customer["auth"])
    assert r.status_code == 400 and r.json()["field"] == "category"


async def test_erasing_everything_and_closing_the_account(client, actors, pool):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer("FR")
    grant = await actors.accept(customer, offer)
    await insert_records(pool, customer["id"], "device", 2)
    await insert_records(pool, customer["id"], "location", 2)
    r = await client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/none", "events": ["customer.data_erased"]},
        headers=partner["auth"],
    )
    endpoint = r.json()

    r = await client.delete("/v1/me/data", headers=customer["auth"])
    assert r.status_code == 200
    assert r.json()["records_deleted"] == 4 and r.json()["grants_revoked"] == [grant["id"]]
    assert (
        await pool.fetchval("SELECT count(*) FROM records WHERE customer_id = $1", customer["id"])
        == 0
    )
    event = await pool.fetchrow(
        "SELECT e.type, e.data FROM webhook_deliveries d JOIN webhook_events e"
        " ON e.id = d.event_id WHERE d.endpoint_id = $1",
        endpoint["id"],
    )
    assert event["type"] == "customer.data_erased"
    data = json.loads(event["data"])
    assert data["customer_id"] == customer["id"] and data["grant_ids"] == [grant["id"]]
    assert data["required_action"] == "delete"

    since = await _last_audit_id(pool)
    ref = await pool.fetchval("SELECT external_ref FROM customers WHERE id = $1", customer["id"])
    r = await client.delete("/v1/me", headers=customer["auth"])
    assert r.status_code == 200 and r.json()["account_closed_at"]
    row = await pool.fetchrow("SELECT * FROM customers WHERE id = $1", customer["id"])
    assert row["closed_at"] is not None and row["birth_date"] is None
    assert row["external_ref"] != ref and row["external_ref"].startswith("closed_")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM customer_audit_keys WHERE customer_id = $1", customer["id"]
        )
        == 0
    )
    kinds = [e["kind"] for e in await _audit_kinds(pool, since)]
    assert kinds == ["data.erased", "account.closed"]
    for path in ("/v1/me/data", "/v1/me/grants", "/v1/me/offers"):
        r = await client.get(path, headers=customer["auth"])
        assert r.status_code == 404 and r.json()["code"] == "customer_not_found", path
    r = await client.delete("/v1/me", headers=customer["auth"])
    assert r.status_code == 404


# -- take along ----------------------------------------------------------------------------------


def _lines(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n")
    return body[:-1].split(b"\n")


async def _exported(client, actors, pool, records=25):
    partner = await actors.partner(name="Portable Partner")
    offer = await actors.offer(partner)
    customer = await actors.customer("FR", birth_date="1985-05-05")
    grant = await actors.accept(customer, offer)
    await insert_records(pool, customer["id"], "location", records)
    await insert_records(pool, customer["id"], "billing", 3)
    r = await client.post("/v1/me/exports", headers=customer["auth"])
    assert r.status_code == 201, r.text
    export = r.json()
    r = await client.get(export["download_url"], headers=customer["auth"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/jsonl")
    return customer, grant, export, r.content


async def test_export_is_signed_and_every_part_matches_its_hash(client, actors, pool):
    since = await _last_audit_id(pool)
    customer, grant, export, body = await _exported(client, actors, pool)
    assert export["id"].startswith("exp_") and export["status"] == "ready"
    assert export["record_count"] == 28 and export["consent_count"] == 1
    r = await client.get(f"/v1/me/exports/{export['id']}", headers=customer["auth"])
    assert r.json() == export

    lines = _lines(body)
    header = json.loads(lines[0])
    assert header["format"] == "urn:consent-marketplace:export:v1"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(header["signature"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    manifest = jwt.decode(header["signature"], key.key, algorithms=["EdDSA"])
    assert manifest["jti"] == export["id"] and manifest["sub"] == customer["id"]

    parts: dict[str, list[bytes]] = {}
    names = {
        "customer": "customer",
        "consent": "consents",
        "earnings": "earnings",
        "record": "records",
    }
    for raw in lines[1:]:
        parts.setdefault(names[json.loads(raw)["part"]], []).append(raw)
    for name, spec in manifest["parts"].items():
        got = parts.get(name, [])
        assert spec["count"] == len(got)
        assert spec["sha256"] == hashlib.sha256(b"".join(x + b"\n" for x in got)).hexdigest()

    records = [json.loads(x) for x in parts["records"]]
    assert {r["category_iri"] for r in records} == {
        "https://w3id.org/dpv/pd#Location",
        "https://w3id.org/dpv/pd#Transactional",
    }
    [consent] = [json.loads(x) for x in parts["consents"]]
    assert consent["record"]["record_id"] == grant["id"]
    assert consent["record"]["schema"] == "ISO/IEC TS 27560:2023"
    assert consent["receipt"] == grant["receipt"]
    [earnings] = [json.loads(x) for x in parts["earnings"]]
    assert earnings["totals"] == [
        {"kind": "discount", "currency": "EUR", "amount": 500, "grants": 1}
    ]
    [who] = [json.loads(x) for x in parts["customer"]]
    assert who["birth_date"] == "1985-05-05" and who["jurisdiction"] == "FR"
    assert "data.exported" in [e["kind"] for e in await _audit_kinds(pool, since)]

    # Validates against the published JSON Schema.
    import jsonschema_rs

    from tests.conftest import ROOT

    schema = json.loads((ROOT / "docs" / "export-format.schema.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    for raw in lines:
        validator.validate(json.loads(raw))

    # Erasing data invalidates the export: its package would hand out erased data.
    r = await client.delete("/v1/me/data/billing", headers=customer["auth"])
    r = await client.get(export["download_url"], headers=customer["auth"])
    assert r.status_code == 410 and r.json()["code"] == "export_invalidated"


@pytest.fixture(scope="module")
async def importer(settings, tmp_path_factory, client, server_url):
    """A second operator (own database and signing key) trusting this instance's exports
    through a JWKS file."""
    jwks = (await client.get("/.well-known/jwks.json")).json()
    path = tmp_path_factory.mktemp("trust") / "exporter-jwks.json"
    path.write_text(json.dumps(jwks))
    async with scratch_database(server_url, "mkt_importer") as url:
        other = replace(
            settings,
            database_url=url,
            data_dir=tmp_path_factory.mktemp("importer"),
            trusted_exporters={settings.public_url: str(path)},
        )
        app = create_app(other)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            async with AsyncTestClient(app=app) as c:
                yield _importer(c, app, other, pool)
        finally:
            await pool.close()


def _importer(c, app, other, pool):
    c.operator = bearer(
        issue_token(
            app.state.keyring,
            issuer=other.local_issuer,
            audience=other.jwt_audience,
            role="operator",
            sub="op_import",
        )
    )
    c.keyring = app.state.keyring
    c.app_settings = other
    c.pool = pool
    return c


def _customer_token(c, customer_id: str) -> dict:
    return bearer(
        issue_token(
            c.keyring,
            issuer=c.app_settings.local_issuer,
            audience=c.app_settings.jwt_audience,
            role="customer",
            sub=customer_id,
        )
    )


async def test_import_recreates_the_customer_and_offers_consents_to_reconfirm(
    client, actors, pool, importer
):
    customer, grant, _, body = await _exported(client, actors, pool)
    r = await importer.post(
        "/v1/admin/imports?external_ref=imported-1&jurisdiction=DE",
        content=body,
        headers={**importer.operator, "Content-Type": "application/jsonl"},
    )
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["customer_id"] != customer["id"] and result["record_count"] == 28
    new = _customer_token(importer, result["customer_id"])
    a = await client.get("/v1/me/data/location?limit=100", headers=customer["auth"])
    b = await importer.get("/v1/me/data/location?limit=100", headers=new)
    strip = [(x["recorded_at"], x["source"], x["payload"]) for x in a.json()["data"]]
    assert sorted(strip) == sorted(
        (x["recorded_at"], x["source"], x["payload"]) for x in b.json()["data"]
    )
    r = await importer.get("/v1/me/imported-consents", headers=new)
    [consent] = r.json()["data"]
    assert consent["status"] == "to_reconfirm" and consent["former_grant_id"] == grant["id"]
    assert consent["controller_name"] == "Portable Partner"
    assert consent["categories"] == grant["categories"]
    r = await importer.get("/v1/me/grants", headers=new)
    assert r.json()["data"] == []  # never live grants
    # The same export cannot be imported twice.
    r = await importer.post(
        "/v1/admin/imports?external_ref=imported-2", content=body, headers=importer.operator
    )
    assert r.status_code == 409 and r.json()["code"] == "export_already_imported"


async def test_a_tampered_package_is_refused_and_nothing_is_written(client, actors, pool, importer):
    *_, body = await _exported(client, actors, pool, records=3)
    lines = _lines(body)
    counted = await importer.pool.fetchval("SELECT count(*) FROM customers")

    # A record altered (valid JSON, valid record): the records hash no longer matches.
    altered = lines[:]
    altered[-1] = altered[-1].replace(b'"source":"network"', b'"source":"forged"')
    assert altered[-1] != lines[-1]
    # A record dropped: the count and hash no longer match.
    dropped = lines[:-1]
    # The manifest's signature broken.
    header = json.loads(lines[0])
    header["signature"] = header["signature"][:-4] + (
        "AAAA" if not header["signature"].endswith("AAAA") else "BBBB"
    )
    forged_sig = [json.dumps(header).encode(), *lines[1:]]
    for package, code in (
        (altered, "export_content_mismatch"),
        (dropped, "export_content_mismatch"),
        (forged_sig, "export_signature_invalid"),
    ):
        r = await importer.post(
            "/v1/admin/imports?external_ref=tampered",
            headers=importer.operator,
            content=b"\n".join(package) + b"\n",
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code
    assert await importer.pool.fetchval("SELECT count(*) FROM customers") == counted
    assert (
        await importer.pool.fetchval(
            "SELECT count(*) FROM customers WHERE external_ref = 'tampered'"
        )
        == 0
    )

    r = await importer.post(
        "/v1/admin/imports?external_ref=x", content=b"not json\n", headers=importer.operator
    )
    assert r.status_code == 422 and r.json()["code"] == "export_malformed"


async def test_untrusted_issuer_is_refused(client, actors, pool, importer):
    *_, body = await _exported(client, actors, pool, records=1)
    # The exporting instance itself trusts nobody.
    operator = bearer(
        issue_token(
            client.app.state.keyring,
            issuer="marketplace-local",
            audience="marketplace",
            role="operator",
            sub="op",
        )
    )
    r = await client.post("/v1/admin/imports?external_ref=z", content=body, headers=operator)
    assert r.status_code == 422 and r.json()["code"] == "export_issuer_not_trusted"


async def test_an_export_counts_the_compensation_of_a_re_accepted_offer_once(client, actors):
    offer = await actors.offer(await actors.partner())
    customer = await actors.customer("FR")
    first = await actors.accept(customer, offer)
    r = await client.post(f"/v1/me/grants/{first['id']}/revoke", headers=customer["auth"])
    assert r.status_code == 200
    await actors.accept(customer, offer)  # again: a grant, no second payment
    r = await client.post("/v1/me/exports", headers=customer["auth"])
    assert r.status_code == 201, r.text
    r = await client.get(r.json()["download_url"], headers=customer["auth"])
    lines = [json.loads(x) for x in _lines(r.content)[1:]]
    assert len([x for x in lines if x["part"] == "consent"]) == 2
    [earnings] = [x for x in lines if x["part"] == "earnings"]
    assert earnings["totals"] == [
        {"kind": "discount", "currency": "EUR", "amount": 500, "grants": 1}
    ]
    r = await client.get("/v1/me/earnings", headers=customer["auth"])
    assert [b["earned"] for b in r.json()["balances"]] == [450]  # the ledger agrees: once


# -- what ingest accepts, the package carries ------------------------------------------------


async def test_a_payload_holding_nul_anywhere_is_refused_at_ingest(client, actors, pool):
    customer = await actors.customer()
    ok = {"category": "location", "recorded_at": "2026-01-01T00:00:00Z", "source": "network"}
    for payload in (
        {"k\u0000": 1},
        {"k": "v\u0000"},
        {"a": [{"b": ["x", "\u0000"]}]},
        {"a": {"b\u0000c": {}}},
    ):
        body = {"records": [{**ok, "payload": {"fine": True}}, {**ok, "payload": payload}]}
        r = await client.post(
            f"/v1/admin/customers/{customer['id']}/records", json=body, headers=actors.operator
        )
        assert r.status_code == 400, (payload, r.text)
        assert r.json()["code"] == "invalid_input" and r.json()["field"] == "records[1].payload"
    count = await pool.fetchval(
        "SELECT count(*) FROM records WHERE customer_id = $1", customer["id"]
    )
    assert count == 0  # all or nothing


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # JSON numbers have no range: past int64 too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_payloads = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        _json_scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=5,
)
_records = st.lists(
    st.fixed_dictionaries(
        {
            "category": st.sampled_from(["location", "billing", "device", "health"]),
            "recorded_at": st.datetimes(
                min_value=datetime(1971, 1, 1),
                max_value=datetime(2025, 12, 31),
                timezones=st.sampled_from(
                    [UTC, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(hours=14))]
                ),
            ),
            "payload": _payloads,
            "source": st.text(min_size=1, max_size=30),
        }
    ),
    min_size=1,
    max_size=6,
)


async def _all_records(c, auth) -> list[tuple]:
    out = []
    for category in ("location", "billing", "device", "health"):
        r = await c.get(f"/v1/me/data/{category}?limit=100", headers=auth)
        assert r.status_code == 200, r.text
        out += [(category, x["recorded_at"], x["source"], x["payload"]) for x in r.json()["data"]]
    return sorted(out, key=repr)


@hsettings(
    max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(records=_records)
@example(
    records=[
        {
            "category": "device",
            "recorded_at": datetime(2020, 1, 1, tzinfo=UTC),
            "payload": {"big": 10**30, "u64": 2**64, "low": -(2**63) - 1, "f": 1e308},
            "source": "s",
        }
    ]
)
async def test_whatever_ingest_accepts_exports_and_imports_intact(
    client, actors, importer, records
):
    customer = await actors.customer("FR")
    body = {"records": [{**r, "recorded_at": r["recorded_at"].isoformat()} for r in records]}
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records", json=body, headers=actors.operator
    )
    assert r.status_code in (201, 400), r.text  # refused input is a 400, nothing else
    if r.status_code == 400:
        return
    r = await client.post("/v1/me/exports", headers=customer["auth"])
    assert r.status_code == 201, r.text
    package = await client.get(r.json()["download_url"], headers=customer["auth"])
    assert package.status_code == 200, package.text
    r = await importer.post(
        f"/v1/admin/imports?external_ref=prop-{customer['id']}",
        content=package.content,
        headers={**importer.operator, "Content-Type": "application/jsonl"},
    )
    assert r.status_code == 201, r.text
    moved = _customer_token(importer, r.json()["customer_id"])
    exported = await _all_records(client, customer["auth"])
    assert len(exported) == len(records)
    assert await _all_records(importer, moved) == exported
