"""The release logic over a fake unit of work: who is counted (the engine), budgets, every
cell listed, suppression, and that a refused release leaves nothing behind."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import h3
import pytest

from ledger.audit import AuditLog
from offers.insights import (
    Area,
    InsightPartnerSuspended,
    InsightRequest,
    InsightService,
    InsightSettings,
    PrivacyBudgetExhausted,
    budget_period,
)
from offers.insights.repository import CandidateRow, CellCount, InsightRepository, PartnerRow
from policies import load_bundle
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
CELL = h3.latlng_to_cell(48.8566, 2.3522, 8)
EMPTY = h3.latlng_to_cell(40.4168, -3.7038, 8)


class FakeInsights:
    """In-memory InsightRepository: grants as candidate rows, where each customer was seen."""

    def __init__(self, status: str = "active"):
        self.status = status
        self.rows: list[dict] = []
        self.seen: dict[str, str] = {}  # customer id -> the cell they were in
        self.partner_spent: dict[tuple, float] = {}
        self.customer_spent: dict[tuple, float] = {}
        self.releases: list[dict] = []
        self.contributions: list[tuple] = []

    def snapshot(self):
        return (
            dict(self.partner_spent),
            dict(self.customer_spent),
            list(self.releases),
            list(self.contributions),
        )

    def restore(self, state) -> None:
        self.partner_spent, self.customer_spent, self.releases, self.contributions = state

    def customer(
        self,
        cid,
        jurisdiction="FR",
        born=date(1990, 1, 1),
        categories=("location",),
        status="active",
        cell=CELL,
    ):
        self.rows.append(
            {
                "customer_id": cid,
                "jurisdiction": jurisdiction,
                "birth_date": born,
                "grant_id": f"gnt_{cid}",
                "status": status,
                "categories": list(categories),
                "purposes": ["aggregated_analytics"],
                "granted_at": NOW - timedelta(days=1),
                "expires_at": NOW + timedelta(days=29),
                "exclusions": None,
                "lookback_days": 30,
            }
        )
        self.seen[cid] = cell

    async def partner(self, partner_id):
        return PartnerRow(at=NOW, status=self.status, jurisdiction="NL")

    async def spend_partner(self, partner_id, period, epsilon, limit):
        key = (partner_id, period)
        if self.partner_spent.get(key, 0) + epsilon > limit:
            return False
        self.partner_spent[key] = self.partner_spent.get(key, 0) + epsilon
        return True

    async def candidates(self, partner_id, categories):
        return [CandidateRow(**r) for r in self.rows if r["status"] == "active"]

    async def spend_customers(self, ids, period, epsilon, limit):
        out = set()
        for cid in ids:
            key = (cid, period)
            if self.customer_spent.get(key, 0) + epsilon <= limit:
                self.customer_spent[key] = self.customer_spent.get(key, 0) + epsilon
                out.add(cid)
        return out

    async def true_values(self, metric, *, start, counted, **_):
        ids, bands, _since = counted
        people = Counter((self.seen[c], b) for c, b in zip(ids, bands) if c in self.seen)
        return [
            CellCount(area_cell=h3.str_to_int(cell), bucket=start, band=band, people=n, total=0)
            for (cell, band), n in people.items()
        ]

    async def insert_release(self, **release):
        self.releases.append(release)
        return f"ins_{len(self.releases)}"

    async def insert_contributions(self, ids, release_id, partner_id, epsilon, at):
        self.contributions.extend((c, release_id) for c in ids)


class FakeAudit:
    def __init__(self):
        self.entries: list[tuple[str, dict]] = []

    def snapshot(self):
        return list(self.entries)

    def restore(self, state):
        self.entries = state

    async def append(self, kind, **fields):
        self.entries.append((kind, fields))


EXACT = InsightSettings(
    k=3,
    delta=0.01,
    epsilon_default=10,
    epsilon_max=10,
    customer_budget=25,
    partner_budget=30,
    buckets_per_release=1,
)


def service(repo, settings=EXACT, rules=None):
    audit = FakeAudit()
    uow = FakeUnitOfWorkFactory({InsightRepository: repo, AuditLog: audit})
    return InsightService(uow, rules or load_bundle(), settings), audit, uow


def ask(**over) -> InsightRequest:
    fields = dict(
        metric="footfall",
        area=Area(cells=(CELL, EMPTY)),
        start=NOW - timedelta(hours=3),
        end=NOW - timedelta(hours=2),
        bucket="hour",
    )
    fields.update(over)
    return InsightRequest(**fields)


def counted(repo, release_id="ins_1") -> set[str]:
    return {c for c, r in repo.contributions if r == release_id}


async def test_the_engine_decides_who_is_counted_and_every_asked_cell_is_listed():
    repo = FakeInsights()
    for i in range(5):
        repo.customer(f"fr{i}")
    repo.customer("de0", jurisdiction="DE")  # location is never traded in Germany
    repo.customer("kid", born=date(2015, 1, 1))  # under the age of consent
    repo.customer("usage", categories=("data_usage",))  # no location in the grant
    insights, audit, uow = service(repo)

    release = await insights.release("ptn_1", ask())

    assert counted(repo) == {f"fr{i}" for i in range(5)}
    assert [(c.cell, c.suppressed) for c in release.cells] == [(CELL, False), (EMPTY, True)]
    assert abs(release.cells[0].value - 5) <= 1
    assert uow.last.committed
    [(kind, entry)] = audit.entries
    assert kind == "insight.released" and entry["jurisdictions"] == ["FR"]
    assert entry["values_hash"] == release.values_hash and entry["suppressed_cells"] == 1


async def test_an_aggregate_only_rule_allows_counting_what_it_denies_to_raw_reads(tmp_path):
    (tmp_path / "fr.toml").write_text(
        '[[rules]]\nid = "fr-location-aggregate"\njurisdictions = ["FR"]\n'
        'categories = ["location"]\neffect = "aggregate_only"\n'
        'legal_reference = "test bundle"\ndescription = "Only totals of your location leave."\n'
    )
    repo = FakeInsights()
    for i in range(4):
        repo.customer(f"fr{i}")
    insights, _, _ = service(repo, rules=load_bundle(tmp_path))

    await insights.release("ptn_1", ask())

    assert counted(repo) == {f"fr{i}" for i in range(4)}


async def test_a_suspended_partner_gets_no_release_and_spends_nothing():
    repo = FakeInsights(status="suspended")
    repo.customer("fr0")
    insights, audit, uow = service(repo)
    with pytest.raises(InsightPartnerSuspended):
        await insights.release("ptn_1", ask())
    assert not repo.partner_spent and not repo.releases and not audit.entries


async def test_an_exhausted_partner_budget_refuses_and_rolls_every_spend_back():
    repo = FakeInsights()
    repo.customer("fr0")
    insights, audit, uow = service(repo)
    for _ in range(3):  # 30 per period: three releases of 10
        await insights.release("ptn_1", ask())
    with pytest.raises(PrivacyBudgetExhausted) as refused:
        await insights.release("ptn_1", ask())
    assert refused.value.field == "epsilon"
    assert uow.last.rolled_back
    assert len(repo.releases) == 3 and len(audit.entries) == 3
    period, _ = budget_period(NOW.date(), 30)
    assert repo.partner_spent[("ptn_1", period)] == 30


async def test_a_customer_out_of_budget_is_left_out_but_others_are_counted():
    repo = FakeInsights()
    repo.customer("fresh")
    repo.customer("spent")
    period, _ = budget_period(NOW.date(), 30)
    repo.customer_spent[("spent", period)] = 20  # 20 of 25: no room for 10 more
    insights, _, _ = service(repo)

    await insights.release("ptn_1", ask())

    assert counted(repo) == {"fresh"}


async def test_below_k_is_suppressed_at_or_above_the_threshold_is_published():
    repo = FakeInsights()
    for i in range(3):  # threshold = 3 + 0.1 ln 50 = 3.39: three people stay hidden
        repo.customer(f"a{i}")
    insights, _, _ = service(repo)
    hidden = await insights.release("ptn_1", ask())
    assert hidden.cells[0].suppressed and hidden.cells[0].value is None
    assert hidden.parameters.threshold == pytest.approx(3 + 0.1 * 3.912, abs=1e-3)

    repo.customer("a3")
    shown = await insights.release("ptn_2", ask())
    assert not shown.cells[0].suppressed


def test_budget_periods_are_fixed_windows_from_the_epoch():
    start, end = budget_period(date(2026, 6, 10), 30)
    assert (end - start).days == 30 and start <= date(2026, 6, 10) < end
    assert budget_period(end, 30)[0] == end
    assert budget_period(end - timedelta(days=1), 30) == (start, end)
