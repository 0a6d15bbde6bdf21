"""A rule's `aggregate_only` obligation on real PostgreSQL, with a rule bundle of the tests'
own (the shipped rules have no such law): raw reads of the category are denied, while the
same customers are counted in aggregates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import h3
import pytest

from marketplace.bootstrap import bootstrap
from offers import Compensation, OfferTerms
from offers.dataspace import AccessDenied
from offers.insights import Area, InsightRequest, InsightSettings
from policies import load_bundle

PARIS = (48.8566, 2.3522)


@pytest.fixture
def aggregate_only_rules(tmp_path):
    (tmp_path / "fr.toml").write_text(
        '[[rules]]\nid = "fr-location-aggregate-only"\njurisdictions = ["FR"]\n'
        'categories = ["location"]\neffect = "aggregate_only"\n'
        'legal_reference = "a test bundle, not a law"\n'
        'description = "Only totals of your location may leave the operator."\n'
    )
    return load_bundle(tmp_path)


async def footfall_offer(consent, partner_name: str):
    """A French partner's published offer of counts over location records, and the partner."""
    partner = await consent.create_partner(partner_name, "FR")
    offer = await consent.create_offer(
        partner.id,
        OfferTerms(
            title="Footfall",
            description="Counts per area.",
            categories=("location",),
            purposes=("aggregated_analytics",),
            duration_days=30,
            lookback_days=30,
            compensation=Compensation(kind="discount", amount=0, currency="EUR"),
            jurisdictions=("FR",),
        ),
        1000,
    )
    return partner, await consent.change_offer_status(partner.id, offer.id, "publish")


async def test_aggregate_only_denies_raw_reads_and_allows_counting(
    settings, big_pool, aggregate_only_rules
):
    services = bootstrap(
        replace(
            settings,
            insights=InsightSettings(
                k=2,
                delta=0.01,
                epsilon_default=10,
                epsilon_max=10,
                customer_budget=100,
                buckets_per_release=1,
            ),
        ),
        big_pool,
        rules=aggregate_only_rules,
    )
    consent, access, insights = services.consent, services.access, services.insights
    partner, offer = await footfall_offer(consent, "Aggregates Only")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    customers = []
    for _ in range(4):
        customer, _ = await consent.create_customer(f"agg-{uuid.uuid4().hex}", "FR", None)
        await consent.accept_offer(customer.id, offer.id)
        await access.ingest(
            customer.id,
            [
                {
                    "category": "location",
                    "recorded_at": (start + timedelta(minutes=10)).isoformat(),
                    "source": "network-cells",
                    "payload": {"lat": PARIS[0], "lon": PARIS[1]},
                }
            ],
        )
        customers.append(customer.id)

    with pytest.raises(AccessDenied) as denied:
        await access.read_records(partner.id, customers[0], "location", "aggregated_analytics")
    assert denied.value.decision.reasons == ("obligation:aggregate_only",)

    release = await insights.release(
        partner.id,
        InsightRequest(
            metric="footfall",
            area=Area(cells=(h3.latlng_to_cell(*PARIS, 8),)),
            start=start,
            end=start + timedelta(hours=1),
            bucket="hour",
        ),
    )
    rows = await big_pool.fetch(
        "SELECT customer_id FROM insight_contributions WHERE release_id = $1", release.id
    )
    assert {r["customer_id"] for r in rows} == set(customers)
    assert abs(release.cells[0].value - 4) <= 1


async def test_contribution_bounds_hold_in_sql_before_anything_is_counted(settings, big_pool):
    """One customer seen in 5 cells in each of 6 hours counts in at most 1 cell per hour and
    at most 4 hours: the sensitivity the noise is calibrated on."""
    from offers.insights.area import query_cells
    from offers.insights.repository import InsightRepository

    services = bootstrap(settings, big_pool)
    customer, _ = await services.consent.create_customer(f"bounds-{uuid.uuid4().hex}", "FR", None)
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    centre = h3.latlng_to_cell(*PARIS, 8)
    cells = sorted(h3.grid_disk(centre, 1))[:5]
    records = []
    for hour in range(6):
        for cell in cells:
            lat, lon = h3.cell_to_latlng(cell)
            records.append(
                {
                    "category": "location",
                    "recorded_at": (start + timedelta(hours=hour, minutes=10)).isoformat(),
                    "source": "network-cells",
                    "payload": {"lat": lat, "lon": lon},
                }
            )
    await services.access.ingest(customer.id, records)
    async with big_pool.acquire() as conn:
        for seed in (1, 2, 3):
            rows = await InsightRepository(conn).true_values(
                "footfall",
                start=start,
                end=start + timedelta(hours=6),
                step=timedelta(hours=1),
                cells=query_cells(cells, 8),
                counted=([customer.id], [0], [start - timedelta(days=1)]),
                cells_per_bucket=1,
                buckets_per_release=4,
                seed=seed,
                clip=1,
            )
            per_bucket: dict = {}
            for r in rows:
                per_bucket[r.bucket] = per_bucket.get(r.bucket, 0) + r.people
            assert len(per_bucket) == 4 and set(per_bucket.values()) == {1}
            assert sum(r.people for r in rows) == 4


async def test_the_count_is_planned_for_each_release_however_many_a_connection_made(
    settings, database_url
):
    """A pooled connection keeps its prepared statements, and after five calls PostgreSQL may
    switch one to a generic plan, costed for 10 rows of each parameter array. For the count
    of a release that guess is wrong by orders of magnitude (thousands of counted customers):
    it made a million-record release 3-4x slower from the sixth on. Every release's count is
    planned for its own values."""
    from marketplace.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=1)  # every release, one session
    try:
        services = bootstrap(
            replace(
                settings,
                insights=InsightSettings(partner_budget=1000, customer_budget=1000),
            ),
            pool,
        )
        consent = services.consent
        partner, offer = await footfall_offer(consent, "Planned Counts")
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        cells = sorted(h3.grid_disk(h3.latlng_to_cell(*PARIS, 8), 2))
        for i in range(40):
            customer, _ = await consent.create_customer(f"plan-{uuid.uuid4().hex}", "FR", None)
            await consent.accept_offer(customer.id, offer.id)
            lat, lon = h3.cell_to_latlng(cells[i % len(cells)])
            await services.access.ingest(
                customer.id,
                [
                    {
                        "category": "location",
                        "recorded_at": (start + timedelta(minutes=10 + hour * 60)).isoformat(),
                        "source": "network-cells",
                        "payload": {"lat": lat, "lon": lon},
                    }
                    for hour in range(2)
                ],
            )
        request = InsightRequest(
            metric="footfall",
            area=Area(cells=tuple(cells)),
            start=start,
            end=start + timedelta(hours=2),
            bucket="hour",
        )
        for _ in range(8):
            await services.insights.release(partner.id, request)
        # The count's statement (the pattern is split so that this query does not match it).
        plans = await pool.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%' || 'hashtext' || 'extended%'"
        )
        assert [(p["generic_plans"], p["custom_plans"]) for p in plans] == [(0, 8)]
    finally:
        await pool.close()
