"""`marketplace ingest`, `rules check` and `rules explain` against the real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from marketplace import cli
from marketplace.bootstrap import bootstrap
from marketplace.db import create_pool
from marketplace.demo import demo_records
from marketplace.ingest import explain, ingest_file
from policies import load_bundle
from tests.decisions import decision_rows, recorded_decisions


@pytest.fixture
async def services(settings, database_url):
    pool = await create_pool(database_url, min_size=1, max_size=2)
    built = bootstrap(settings, pool)
    yield built
    await pool.close()


def _line(customer_id: str, **over) -> str:
    rec = {
        "customer_id": customer_id,
        "category": "data_usage",
        "source": "bulk",
        "recorded_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "payload": {"mb": 3},
    }
    rec.update(over)
    return json.dumps(rec)


async def test_ingest_file_copies_every_line(tmp_path, services, settings, database_url, capsys):
    consent = services.consent
    a, _ = await consent.create_customer("bulk-a", "FR", None)
    b, _ = await consent.create_customer("bulk-b", "DE", None)
    lines = [_line(a.id), _line(b.id, category="device", payload={"model": "X"})] * 500
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert await ingest_file(settings, str(path)) == 0
    assert "ingested 1000 record(s) for 2 customer(s)" in capsys.readouterr().out
    conn = await asyncpg.connect(database_url)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM records WHERE customer_id = ANY($1)", [a.id, b.id]
            )
            == 1000
        )
    finally:
        await conn.close()


async def test_ingest_file_reports_bad_lines_and_loads_nothing(
    tmp_path, services, settings, database_url, capsys
):
    consent = services.consent
    c, _ = await consent.create_customer("bulk-c", "FR", None)
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                _line(c.id),
                _line(c.id, category="shoe_size"),
                "{not json",
                _line(c.id),
                _line(c.id, recorded_at="yesterday"),
                json.dumps({"category": "device"}),
            ]
        )
        + "\n"
    )
    assert await ingest_file(settings, str(path)) == 1
    err = capsys.readouterr().err
    assert "line 2.category" in err and "line 3: not JSON" in err
    assert "line 5.recorded_at" in err and "line 6: customer_id" in err
    path.write_text(_line(c.id) + "\n" + _line("cus_nobody") + "\n")
    assert await ingest_file(settings, str(path)) == 1
    assert "line 2: customer_id: no customer cus_nobody" in capsys.readouterr().err
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM records WHERE customer_id = $1", c.id) == 0
    finally:
        await conn.close()


async def test_rules_explain_prints_the_decision_and_its_reasons(
    services, settings, database_url, capsys
):
    consent = services.consent
    from offers import Compensation, OfferTerms

    partner = await consent.create_partner("Explain AG", "DE")
    await services.ledger.adjust_escrow(
        partner.id, 100, "EUR", idempotency_key=f"fund-{partner.id}"
    )
    customer, _ = await consent.create_customer("explain-de", "DE", None)
    terms = OfferTerms(
        title="t",
        description="d",
        categories=("location", "device"),
        purposes=("research",),
        duration_days=30,
        lookback_days=7,
        compensation=Compensation(kind="cash", amount=1, currency="EUR"),
        jurisdictions=("DE",),
    )
    offer = await consent.create_offer(partner.id, terms, 10)
    await consent.change_offer_status(partner.id, offer.id, "publish")
    grant = await consent.accept_offer(customer.id, offer.id)
    code = await explain(settings, customer.id, partner.id, "location", "research")
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("DENIED")
    assert "rule:de-location-trading" in out and "Germany" in out
    # The law kept location out of the grant at acceptance (issue 11): no grant covers it.
    assert grant.categories == ("device",) and grant.id not in out
    assert await explain(settings, customer.id, partner.id, "device", "research") == 0
    assert capsys.readouterr().out.startswith("ALLOWED")
    assert await explain(settings, customer.id, partner.id, "nope", "research") == 2
    # explain is a what-if: nothing recorded
    conn = await asyncpg.connect(database_url)
    try:
        assert await recorded_decisions(conn, customer.id) == []
        assert await decision_rows(conn, customer.id) == 0
    finally:
        await conn.close()


def test_rules_check_prints_the_version(capsys):
    cli.main(["rules", "check"])
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and f"version {load_bundle().version}" in out


def test_rules_check_fails_on_a_bad_bundle(tmp_path, capsys):
    (tmp_path / "x.toml").write_text('[[rules]]\nid = "x"\neffect = "forbid"\n')
    with pytest.raises(SystemExit) as e:
        cli.main(["rules", "check", "--dir", str(tmp_path)])
    assert e.value.code == 1 and "invalid rule bundle" in capsys.readouterr().err


async def test_demo_records_are_valid_and_ingest(services):
    consent, access = services.consent, services.access
    customer, _ = await consent.create_customer("demo-like", "ES", None)
    records = demo_records("demo-like", "ES", datetime.now(UTC))
    assert 20 <= len(records) <= 60
    assert {r["category"] for r in records} == {
        "location",
        "call_records",
        "data_usage",
        "device",
        "billing",
    }
    result = await access.ingest(customer.id, records)
    assert result.ingested == len(records)
