"""The regulator's audit API and the customer's access log, through the app."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from ledger.audit import (
    AuditLog,
    AuditService,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from marketplace.bootstrap import bootstrap
from tests.conftest import bearer, seal_everything


@pytest.fixture(scope="module")
def sealer(pool, settings) -> AuditService:
    return bootstrap(settings, pool).audit


@pytest.fixture(scope="module")
async def world(actors, client, pool, sealer, token):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    de = await actors.customer("DE")
    fr = await actors.customer("FR")
    de_grant = await actors.accept(de, offer)
    fr_grant = await actors.accept(fr, offer)
    async with pool.acquire() as conn, conn.transaction():
        audit = AuditLog(conn)
        for customer, jurisdiction, outcome, reasons in (
            (de, "DE", "denied", ["rule:de-no-location-trade"]),
            (de, "DE", "allowed", []),
            (fr, "FR", "denied", ["no_grant"]),
        ):
            await audit.append(
                "access.decision",
                jurisdictions=[jurisdiction],
                partner_id=partner["id"],
                customer_id=customer["id"],
                category="location",
                outcome=outcome,
                purpose="aggregated_analytics",
                reasons=reasons,
            )
    await seal_everything(sealer, pool)
    return {
        "partner": partner,
        "de": de,
        "fr": fr,
        "de_grant": de_grant,
        "fr_grant": fr_grant,
        "de_reg": bearer(token("regulator", "reg_de", ["DE"])),
        "fr_reg": bearer(token("regulator", "reg_fr", ["FR"])),
    }


async def _all_entries(client, headers, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        q = {"limit": 100, **params, **({"starting_after": cursor} if cursor is not None else {})}
        r = await client.get("/v1/audit/entries", params=q, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["data"]
        if not page["has_more"]:
            return out
        cursor = page["data"][-1]["leaf_index"]


async def test_de_regulator_sees_every_de_grant_and_decision_and_nothing_else(client, world):
    entries = await _all_entries(client, world["de_reg"], partner_id=world["partner"]["id"])
    assert all("DE" in e["jurisdictions"] for e in entries)
    grant_ids = {json.loads(e["entry"]).get("grant_id") for e in entries}
    assert world["de_grant"]["id"] in grant_ids
    assert world["fr_grant"]["id"] not in grant_ids
    decisions = [e for e in entries if e["kind"] == "access.decision"]
    assert sorted(d["outcome"] for d in decisions) == ["allowed", "denied"]
    indices = [e["leaf_index"] for e in entries]
    assert indices == sorted(indices)
    fr = await _all_entries(client, world["fr_reg"], partner_id=world["partner"]["id"])
    assert world["fr_grant"]["id"] in {json.loads(e["entry"]).get("grant_id") for e in fr}


async def test_entries_filter_by_kind_subject_and_outcome(client, world):
    denied = await _all_entries(
        client,
        world["de_reg"],
        kind="access.decision",
        outcome="denied",
        partner_id=world["partner"]["id"],
    )
    assert len(denied) == 1 and denied[0]["category"] == "location"
    subject = denied[0]["subject"]
    mine = await _all_entries(client, world["de_reg"], subject=subject)
    # the acceptance moved money too: its ledger transaction is logged under the same pseudonym
    assert {e["kind"] for e in mine} == {"grant.accepted", "ledger.transaction", "access.decision"}
    r = await client.get(
        "/v1/audit/entries",
        params={"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"},
        headers=world["de_reg"],
    )
    assert r.json() == {"data": [], "has_more": False}


async def test_unsealed_entries_are_not_served(client, pool, world):
    async with pool.acquire() as conn, conn.transaction():
        await AuditLog(conn).append("test.unsealed", jurisdictions=["DE"])
    r = await client.get(
        "/v1/audit/entries", params={"kind": "test.unsealed"}, headers=world["de_reg"]
    )
    assert r.json()["data"] == []


async def test_checkpoint_and_proofs_verify_with_the_published_key(client, world):
    key = (await client.get("/v1/audit/key")).text.strip()
    r = await client.get("/v1/audit/checkpoint", headers=world["de_reg"])
    assert r.headers["content-type"].startswith("text/plain")
    checkpoint = verify_checkpoint(r.text, key)
    entry = (await _all_entries(client, world["de_reg"], partner_id=world["partner"]["id"]))[0]
    r = await client.get(
        "/v1/audit/proofs/inclusion",
        params={"index": entry["leaf_index"], "tree_size": checkpoint.size},
        headers=world["de_reg"],
    )
    p = r.json()
    assert bytes.fromhex(p["leaf_hash"]) == leaf_hash(entry["entry"].encode())
    assert verify_inclusion(
        leaf_hash(entry["entry"].encode()),
        entry["leaf_index"],
        checkpoint.size,
        [bytes.fromhex(h) for h in p["proof"]],
        checkpoint.root,
    )
    first = max(1, checkpoint.size // 2)
    r = await client.get(
        "/v1/audit/proofs/consistency",
        params={"first": first, "second": checkpoint.size},
        headers=world["de_reg"],
    )
    c = r.json()
    assert verify_consistency(
        first,
        checkpoint.size,
        bytes.fromhex(c["first_root"]),
        checkpoint.root,
        [bytes.fromhex(h) for h in c["proof"]],
    )
    leaves = (await client.get("/v1/audit/leaves", headers=world["de_reg"])).json()
    assert leaves["end"] == checkpoint.size and len(leaves["hashes"]) == checkpoint.size
    assert leaves["hashes"][entry["leaf_index"]] == p["leaf_hash"]


async def test_export_streams_json_lines_of_the_same_entries(client, world):
    r = await client.get(
        "/v1/audit/export",
        params={"partner_id": world["partner"]["id"]},
        headers=world["de_reg"],
    )
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines() if line]
    assert lines == await _all_entries(client, world["de_reg"], partner_id=world["partner"]["id"])


async def test_metrics_count_grants_and_decisions_by_reason_per_day(client, world):
    today = datetime.now(UTC).date().isoformat()
    r = await client.get(
        "/v1/audit/metrics", params={"from": today, "to": today}, headers=world["de_reg"]
    )
    assert r.status_code == 200, r.text
    (day,) = r.json()["days"]
    assert day["date"] == today
    assert day["grants"]["new"] >= 1 and day["grants"]["active"] >= 1
    assert day["decisions"]["denied"] >= 1 and day["decisions"]["allowed"] >= 1
    assert day["decisions"]["by_reason"].get("rule:de-no-location-trade", 0) >= 1
    r = await client.get(
        "/v1/audit/metrics", params={"from": today, "to": today}, headers=world["fr_reg"]
    )
    fr_reasons = r.json()["days"][0]["decisions"]["by_reason"]
    assert fr_reasons.get("no_grant", 0) >= 1 and "rule:de-no-location-trade" not in fr_reasons


async def test_customer_sees_own_access_history_until_erasure(client, pool, world):
    r = await client.get("/v1/me/access-log", headers=world["de"]["auth"])
    assert r.status_code == 200, r.text
    items = r.json()["data"]
    decisions = [i for i in items if i["kind"] == "access.decision"]
    assert {(d["outcome"], tuple(d["reasons"])) for d in decisions} == {
        ("denied", ("rule:de-no-location-trade",)),
        ("allowed", ()),
    }
    assert all(d["partner_id"] == world["partner"]["id"] for d in decisions)
    assert any(i["kind"] == "grant.accepted" for i in items)
    page = (
        await client.get("/v1/me/access-log", params={"limit": 1}, headers=world["de"]["auth"])
    ).json()
    assert page["has_more"] and page["data"][0]["id"] == items[0]["id"]
    await pool.execute("DELETE FROM customer_audit_keys WHERE customer_id = $1", world["de"]["id"])
    r = await client.get("/v1/me/access-log", headers=world["de"]["auth"])
    assert r.json() == {"data": [], "has_more": False}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/audit/proofs/inclusion", {"index": 0, "tree_size": 10**9}, "tree_size"),
        ("/v1/audit/proofs/consistency", {"first": 5, "second": 2}, "first"),
        ("/v1/audit/leaves", {"start": 0, "end": 10**9}, "end"),
        ("/v1/audit/metrics", {"from": "2024-02-01"}, "to"),
        ("/v1/audit/entries", {"from": "2024-01-01T00:00:00"}, "from"),
        ("/v1/audit/entries", {"limit": 0}, "limit"),
    ],
)
async def test_bad_queries_are_4xx_naming_the_field(client, world, path, params, field):
    """Out-of-range leaves and tree sizes are 404 (not in the log); malformed input is 400."""
    r = await client.get(path, params=params, headers=world["de_reg"])
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["field"] == field


async def test_only_regulators_read_the_audit_api(client, world):
    r = await client.get("/v1/audit/entries", headers=world["de"]["auth"])
    assert r.status_code == 403
    r = await client.get("/v1/audit/checkpoint")
    assert r.status_code == 401
    key = (await client.get("/v1/audit/key")).text.strip()
    assert base64.b64decode(key.split("+", 2)[2])[0] == 1  # Ed25519 note key (base64 may hold "+")


async def test_an_empty_metrics_range_has_no_days(client, world):
    r = await client.get("/v1/audit/metrics?from=2024-02-01&to=2024-01-01", headers=world["de_reg"])
    assert r.status_code == 200 and r.json()["days"] == []


async def test_metrics_count_erasures_exports_closures_and_payouts_per_day(
    client, pool, sealer, token
):
    """Counted in the database, however many there are (the regulator's charts draw them)."""
    today = datetime.now(UTC).date().isoformat()
    nl_reg = bearer(token("regulator", "reg_nl", ["NL"]))

    async def activity() -> dict:
        r = await client.get(
            "/v1/audit/metrics", params={"from": today, "to": today}, headers=nl_reg
        )
        assert r.status_code == 200, r.text
        return r.json()["days"][0]["activity"]

    before = await activity()
    async with pool.acquire() as conn, conn.transaction():
        audit = AuditLog(conn)
        for kind, fields in (
            ("data.erased", {"category": "location"}),
            ("data.erased", {"category": "call_records"}),
            ("data.exported", {}),
            ("account.closed", {}),
            ("ledger.transaction", {"txn_kind": "payout"}),
            ("ledger.transaction", {"txn_kind": "acceptance"}),  # money moved, not paid out
        ):
            await audit.append(kind, jurisdictions=["NL"], **fields)
    await seal_everything(sealer, pool)
    after = await activity()
    assert {k: after[k] - before[k] for k in after} == {
        "erasures": 2,
        "exports": 1,
        "accounts_closed": 1,
        "payouts": 1,
    }
