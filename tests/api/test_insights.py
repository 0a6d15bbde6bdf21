"""Aggregate releases over HTTP on a real PostgreSQL: who is counted (grants, the German ban,
revocation, pause, expiry, erasure), budgets spent in the release's transaction, the audit
entry, the customer's view, and bad requests.

Values are noisy by design. These tests run with a large epsilon and one bucket per release,
so the noise scale is 0.1 and |noise| >= 2 has probability about 4e-9 per cell; "within 1"
below is that bound. Who was counted is read exactly, from `insight_contributions`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import h3
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from offers.insights import InsightSettings
from tests.conftest import Actors, backdate_grant

PARIS = (48.8566, 2.3522)
CELL = h3.latlng_to_cell(*PARIS, 8)
OTHER_CELL = h3.latlng_to_cell(48.8738, 2.2950, 8)  # the Arc de Triomphe: another cell
EXACT = InsightSettings(
    k=2,
    delta=0.01,  # threshold = 2 + 0.1 * ln(50) = 2.39: three people are published, two are not
    epsilon_default=10.0,
    epsilon_max=10.0,
    customer_budget=25.0,
    partner_budget=100.0,
    buckets_per_release=1,
    data_usage_clip_mb=10,
)


@pytest.fixture(scope="module")
async def insight_client(settings):
    async with AsyncTestClient(app=create_app(replace(settings, insights=EXACT))) as c:
        yield c


@pytest.fixture(scope="module")
def people(insight_client, token) -> Actors:
    return Actors(insight_client, token)


def _hour() -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    return start, start + timedelta(hours=1)


async def _seen(client, people, customer, at: datetime, where=PARIS, **extra):
    r = await client.post(
        f"/v1/admin/customers/{customer['id']}/records",
        json={
            "records": [
                {
                    "category": "location",
                    "recorded_at": (at + timedelta(minutes=m)).isoformat(),
                    "source": "network-cells",
                    "payload": {"lat": where[0], "lon": where[1], **extra},
                }
                for m in (5, 20)  # twice in the hour: still one person
            ]
        },
        headers=people.operator,
    )
    assert r.status_code == 201, r.text


async def _crowd(client, people, partner, offer, jurisdictions, at):
    out = []
    for j in jurisdictions:
        c = await people.customer(j)
        grant = await people.accept(c, offer)
        await _seen(client, people, c, at)
        out.append((c, grant))
    return out


def _body(start, end, **over) -> dict:
    body = {
        "metric": "footfall",
        "area": {"cells": [CELL, OTHER_CELL]},
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket": "hour",
    }
    body.update(over)
    return body


async def _release(client, partner, body) -> dict:
    r = await client.post("/v1/partner/insights", json=body, headers=partner["auth"])
    assert r.status_code == 201, r.text
    return r.json()


def _value(release, cell=CELL, band=None):
    [c] = [c for c in release["cells"] if c["cell"] == cell and c.get("age_band") == band]
    return c


async def _counted(pool, release_id) -> set[str]:
    rows = await pool.fetch(
        "SELECT customer_id FROM insight_contributions WHERE release_id = $1", release_id
    )
    return {r["customer_id"] for r in rows}


async def _offer(people, partner, **over):
    return await people.offer(
        partner, categories=["location"], purposes=["aggregated_analytics"], **over
    )


async def test_footfall_counts_granted_customers_per_cell_and_publishes_its_parameters(
    insight_client, people, pool
):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    crowd = await _crowd(insight_client, people, partner, offer, ["FR", "FR", "ES", "NL"], start)

    release = await _release(insight_client, partner, _body(start, end))

    here = _value(release)
    assert not here["suppressed"] and abs(here["value"] - 4) <= 1
    empty = _value(release, OTHER_CELL)  # nobody there: suppressed, but listed
    assert empty["suppressed"] and empty["value"] is None
    p = release["parameters"]
    assert (p["k"], p["delta"], p["mechanism"]) == (2, 0.01, "discrete_laplace")
    assert p["epsilon"] == pytest.approx(10.0)
    assert p["bounds"] == {"cells_per_bucket": 1, "buckets_per_release": 1, "value_per_cell": 1}
    assert p["noise_scale"] == pytest.approx(0.1)
    assert release["rules_version"].startswith("sha256:")
    assert await _counted(pool, release["id"]) == {c["id"] for c, _ in crowd}

    again = await insight_client.get(
        f"/v1/partner/insights/{release['id']}", headers=partner["auth"]
    )
    assert again.status_code == 200 and again.json() == release  # immutable, as published
    listed = await insight_client.get("/v1/partner/insights", headers=partner["auth"])
    assert [r["id"] for r in listed.json()["data"]] == [release["id"]]
    other = await people.partner()
    hidden = await insight_client.get(
        f"/v1/partner/insights/{release['id']}", headers=other["auth"]
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "insight_not_found"


async def test_german_customers_location_never_enters_an_aggregate(insight_client, people, pool):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    french = await _crowd(insight_client, people, partner, offer, ["FR", "FR", "FR"], start)
    german = []
    for _ in range(3):  # their grants leave location out at acceptance; insert one that has it
        c = await people.customer("DE")
        await _seen(insight_client, people, c, start)
        german.append(c)
    for c in german:
        await pool.execute(
            "INSERT INTO grants (customer_id, partner_id, offer_id, offer_version, categories,"
            " purposes, status, granted_at, expires_at, updated_at, terms_hash, receipt)"
            " SELECT $1, partner_id, offer_id, offer_version, categories, purposes, 'active',"
            " granted_at, expires_at, updated_at, terms_hash, receipt FROM grants WHERE id = $2",
            c["id"],
            french[0][1]["id"],
        )

    release = await _release(insight_client, partner, _body(start, end))

    assert await _counted(pool, release["id"]) == {c["id"] for c, _ in french}
    assert abs(_value(release)["value"] - 3) <= 1


async def test_revoked_paused_expired_and_erased_customers_are_absent_from_the_next_release(
    insight_client, people, pool
):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    crowd = await _crowd(insight_client, people, partner, offer, ["FR"] * 6, start)
    before = await _release(insight_client, partner, _body(start, end))
    assert len(await _counted(pool, before["id"])) == 6

    (revoked, g1), (paused, g2), (expired, g3), (erased, _), *stay = crowd
    auth = {c["id"]: c["auth"] for c, _ in crowd}
    assert (
        await insight_client.post(f"/v1/me/grants/{g1['id']}/revoke", headers=auth[revoked["id"]])
    ).status_code == 200
    assert (
        await insight_client.post(f"/v1/me/grants/{g2['id']}/pause", headers=auth[paused["id"]])
    ).status_code == 200
    await backdate_grant(pool, g3["id"], 31)  # past its 30 days
    r = await insight_client.delete("/v1/me/data/location", headers=auth[erased["id"]])
    assert r.status_code == 200, r.text

    after = await _release(insight_client, partner, _body(start, end))

    counted = await _counted(pool, after["id"])
    assert counted == {c["id"] for c, _ in stay}
    assert not counted & {revoked["id"], paused["id"], expired["id"], erased["id"]}
    assert _value(after)["suppressed"]  # two people are under the threshold of 2.39


async def test_a_customer_whose_budget_is_spent_is_left_out_until_the_period_renews(
    insight_client, people, pool
):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    [(customer, _)] = await _crowd(insight_client, people, partner, offer, ["FR"], start)
    other = await people.partner()
    other_offer = await _offer(people, other)
    await people.accept(customer, other_offer)

    # 25 per period across all partners: 10 + 10 fit, a third release of 10 does not.
    first = await _release(insight_client, partner, _body(start, end))
    second = await _release(insight_client, other, _body(start, end))
    third = await _release(insight_client, partner, _body(start, end))

    assert customer["id"] in await _counted(pool, first["id"])
    assert customer["id"] in await _counted(pool, second["id"])
    assert customer["id"] not in await _counted(pool, third["id"])
    me = await insight_client.get("/v1/me/insights", headers=customer["auth"])
    assert me.status_code == 200, me.text
    view = me.json()
    assert view["releases"] == 2 and view["epsilon_spent"] == pytest.approx(20.0)
    assert view["epsilon_limit"] == 25.0
    assert {p["partner_id"]: p["releases"] for p in view["by_partner"]} == {
        partner["id"]: 1,
        other["id"]: 1,
    }
    # The next period starts with a full budget: move this period's spending into the past.
    await pool.execute(
        "UPDATE customer_privacy_spend SET period_start = period_start - 30 WHERE customer_id = $1",
        customer["id"],
    )
    fourth = await _release(insight_client, partner, _body(start, end))
    assert customer["id"] in await _counted(pool, fourth["id"])


async def test_the_partner_budget_refuses_a_release_and_spends_nothing(
    insight_client, people, pool
):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    [(customer, _)] = await _crowd(insight_client, people, partner, offer, ["FR"], start)
    for _ in range(2):  # the customer's budget (25) allows two releases of 10
        await _release(insight_client, partner, _body(start, end))
    await pool.execute(  # the partner has spent 95 of its 100
        "UPDATE partner_privacy_spend SET spent = 95 WHERE partner_id = $1", partner["id"]
    )
    spent = "SELECT spent FROM customer_privacy_spend WHERE customer_id = $1"
    before = await pool.fetchval(spent, customer["id"])

    r = await insight_client.post(
        "/v1/partner/insights", json=_body(start, end), headers=partner["auth"]
    )

    assert r.status_code == 409, r.text
    assert r.json()["code"] == "privacy_budget_exhausted" and r.json()["field"] == "epsilon"
    assert await pool.fetchval(spent, customer["id"]) == before
    releases = await pool.fetchval(
        "SELECT count(*) FROM insight_releases WHERE partner_id = $1", partner["id"]
    )
    assert releases == 2
    smaller = await _release(insight_client, partner, _body(start, end, epsilon=5))
    assert smaller["parameters"]["epsilon"] == pytest.approx(5.0)


async def test_every_release_is_in_the_audit_log_of_the_counted_jurisdictions(
    insight_client, people, pool
):
    partner = await people.partner(jurisdiction="NL")
    offer = await _offer(people, partner)
    start, end = _hour()
    await _crowd(insight_client, people, partner, offer, ["FR", "ES", "ES"], start)

    release = await _release(insight_client, partner, _body(start, end))

    row = await pool.fetchrow(
        "SELECT jurisdictions, entry FROM audit_entries WHERE kind = 'insight.released'"
        " AND entry::jsonb ->> 'release_id' = $1",
        release["id"],
    )
    assert sorted(row["jurisdictions"]) == ["ES", "FR"]
    import json

    entry = json.loads(row["entry"])
    assert entry["values_hash"] == release["values_hash"]
    assert entry["epsilon"] == pytest.approx(release["parameters"]["epsilon"])
    assert entry["cells"] == 2 and entry["suppressed_cells"] == 1
    import msgspec

    from offers.insights import ReleasedCell, values_hash

    cells = msgspec.convert(release["cells"], tuple[ReleasedCell, ...], strict=False)
    assert values_hash(cells) == entry["values_hash"]  # what a regulator recomputes


async def test_the_regulator_sees_releases_epsilon_and_suppressed_cells_per_jurisdiction(
    insight_client, people, pool, settings, token
):
    from marketplace.bootstrap import bootstrap
    from tests.conftest import bearer, seal_everything

    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    await _crowd(insight_client, people, partner, offer, ["FR", "FR", "FR", "ES"], start)
    await _release(insight_client, partner, _body(start, end))
    await seal_everything(bootstrap(settings, pool).audit, pool)

    today = datetime.now(UTC).date().isoformat()
    r = await insight_client.get(
        "/v1/audit/metrics",
        params={"from": today, "to": today},
        headers=bearer(token("regulator", "reg_es", jurisdictions=["ES"])),
    )
    assert r.status_code == 200, r.text
    [day] = [d for d in r.json()["days"] if d["date"] == today]
    [spain] = day["insights"]
    assert spain["jurisdiction"] == "ES" and spain["releases"] >= 1
    assert spain["epsilon"] >= 10 and spain["suppressed_cells"] >= 1  # the empty cell


async def test_an_age_breakdown_and_a_bounding_box(insight_client, people, pool):
    partner = await people.partner()
    offer = await _offer(people, partner)
    start, end = _hour()
    for born in ("1995-03-01", "1996-03-01", "1997-03-01", "1960-01-01"):
        c = await people.customer("FR", birth_date=born)
        await people.accept(c, offer)
        await _seen(insight_client, people, c, start)
    lat, lon = PARIS
    box = {"south": lat - 0.001, "west": lon - 0.001, "north": lat + 0.001, "east": lon + 0.001}

    release = await _release(
        insight_client,
        partner,
        _body(start, end, area={"bbox": box, "resolution": 8}, breakdown="age_band"),
    )

    young = _value(release, CELL, "25-34")
    assert not young["suppressed"] and abs(young["value"] - 3) <= 1
    assert _value(release, CELL, "65+")["suppressed"]  # one person: never published
    bands = {c["age_band"] for c in release["cells"]}
    assert bands == {"14-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"}


async def test_data_usage_sums_megabytes_per_cell_and_day_clipped_per_customer(
    insight_client, people, pool
):
    partner = await people.partner()
    offer = await people.offer(
        partner, categories=["location", "data_usage"], purposes=["aggregated_analytics"]
    )
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    counted = []
    # The last is clipped to 10. Five people, so the cell is published but for noise of -3 or
    # less on its count (half the epsilon: discrete Laplace of scale 0.2, probability ~3e-7);
    # with three it was suppressed once in ~150 runs (noise of -1, probability e^-5).
    for mb in (0, 0, 3, 4, 500):
        c = await people.customer("FR")
        await people.accept(c, offer)
        r = await insight_client.post(
            f"/v1/admin/customers/{c['id']}/records",
            json={
                "records": [
                    {
                        "category": "data_usage",
                        "recorded_at": (day + timedelta(hours=9)).isoformat(),
                        "source": "pgw-usage",
                        "payload": {"lat": PARIS[0], "lon": PARIS[1], "mb_down": mb, "mb_up": 0},
                    }
                ]
            },
            headers=people.operator,
        )
        assert r.status_code == 201, r.text
        counted.append(c["id"])

    release = await _release(
        insight_client,
        partner,
        _body(day, day + timedelta(days=1), metric="data_usage", bucket="day"),
    )

    assert release["unit"] == "megabytes"
    assert release["parameters"]["bounds"]["value_per_cell"] == 10
    # Half the epsilon for the sums: scale 10 / 5 = 2, so within 40 with probability 1 - 4e-9.
    assert abs(_value(release)["value"] - 17) <= 40
    assert await _counted(pool, release["id"]) == set(counted)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"area": {"cells": ["ffffffffffffffff"]}}, "area.cells[0]"),
        ({"area": {"cells": [CELL, h3.cell_to_parent(CELL, 7)]}}, "area.cells"),
        ({"area": {"cells": [h3.cell_to_children(CELL, 9)[0]]}}, "area.resolution"),
        (
            {"area": {"bbox": {"south": 1, "west": 1, "north": 0, "east": 2}, "resolution": 8}},
            "area.bbox",
        ),
        (
            {"area": {"bbox": {"south": 0, "west": 0, "north": 10, "east": 10}, "resolution": 8}},
            "area",
        ),
        ({"area": {}}, "area"),
        ({"epsilon": 11}, "epsilon"),
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": -1}, "epsilon"),
        ({"metric": "data_usage"}, "bucket"),
        ({"end": "2020-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z"}, "end"),
    ],
)
async def test_a_release_that_cannot_be_made_is_a_422_naming_its_field_and_spends_nothing(
    insight_client, people, pool, change, field
):
    partner = await people.partner()
    start, end = _hour()
    body = {**_body(start, end), **change}
    r = await insight_client.post("/v1/partner/insights", json=body, headers=partner["auth"])
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "insight_request_invalid"
    problem = r.json()
    assert field in (problem.get("field") or "") + " ".join(
        e.get("key", "") or "" for e in problem.get("errors", [])
    ) or field in problem.get("detail", ""), problem
    spent = await pool.fetchval(
        "SELECT count(*) FROM partner_privacy_spend WHERE partner_id = $1", partner["id"]
    )
    assert spent == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "heart_rate"}, "metric"),
        ({"area": {"cells": ["not-a-cell"]}}, "area.cells"),
        ({"area": {"cells": [CELL], "resolution": 99}}, "area.resolution"),
        ({"start": "0001-01-01T00:00:00Z"}, "start"),
        (
            {"area": {"bbox": {"south": -91, "west": 0, "north": 1, "east": 1}, "resolution": 8}},
            "area.bbox.south",
        ),
    ],
)
async def test_a_body_outside_the_schema_is_a_400_naming_its_field(
    insight_client, people, change, field
):
    partner = await people.partner()
    start, end = _hour()
    body = {**_body(start, end), **change}
    r = await insight_client.post("/v1/partner/insights", json=body, headers=partner["auth"])
    assert r.status_code == 400, r.text
    assert field in r.text


async def test_a_location_record_with_an_impossible_position_is_refused(insight_client, people):
    c = await people.customer("FR")
    r = await insight_client.post(
        f"/v1/admin/customers/{c['id']}/records",
        json={
            "records": [
                {
                    "category": "location",
                    "recorded_at": datetime.now(UTC).isoformat(),
                    "source": "network-cells",
                    "payload": {"lat": 91, "lon": 2},
                }
            ]
        },
        headers=people.operator,
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "records[0].payload.lat"
