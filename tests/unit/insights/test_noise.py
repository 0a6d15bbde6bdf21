"""The noise is what the release declares: its distribution matches the discrete Laplace
mechanism of the published scale, and a differencing attacker does no better than epsilon
allows.

OpenDP draws from the operating system's CSPRNG and cannot be seeded (on purpose: seeded noise
can be replayed and removed). So these tests are statistical with fixed bounds, each set so
that an honest mechanism fails it with probability below about 1e-9, while a mechanism whose
scale is off by a quarter fails it almost surely.
"""

from __future__ import annotations

import math
from datetime import timedelta

from ledger.audit import AuditLog
from offers.insights import Area, InsightRequest, InsightService, InsightSettings
from offers.insights.models import Bounds
from offers.insights.privacy import measure, threshold
from offers.insights.repository import InsightRepository
from policies import load_bundle
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.unit.insights.test_release_logic import CELL, NOW, FakeAudit, FakeInsights

ONE = Bounds(cells_per_bucket=1, buckets_per_release=1, value_per_cell=1)


def _cdf(k: int, scale: float) -> float:
    """P(X <= k) for discrete Laplace noise: P(X = x) = (1-p)/(1+p) p^|x|, p = exp(-1/scale)."""
    p = math.exp(-1 / scale)
    if k < 0:
        return p ** (-k) / (1 + p)
    return 1 - p ** (k + 1) / (1 + p)


def test_a_cells_noise_follows_the_declared_discrete_laplace_distribution():
    n, truth, epsilon = 50_000, 100, 0.5
    noised = measure([truth] * n, ONE, epsilon)
    assert noised.scale == 2.0 and noised.epsilon == epsilon  # OpenDP's privacy map says so
    noise = sorted(v - truth for v in noised.values)

    # Kolmogorov-Smirnov: sup |F_n - F| under sqrt(ln(2/1e-9) / 2n) = 0.0146.
    worst, i = 0.0, 0
    for k in range(noise[0], noise[-1] + 1):
        while i < n and noise[i] <= k:
            i += 1
        worst = max(worst, abs(i / n - _cdf(k, noised.scale)))
    assert worst < 0.0146
    mean = sum(noise) / n
    p = math.exp(-1 / noised.scale)
    variance = 2 * p / (1 - p) ** 2
    assert abs(mean) < 6 * math.sqrt(variance / n)
    observed = sum(x * x for x in noise) / n - mean * mean
    assert abs(observed - variance) < 0.1 * variance  # six standard errors of the variance


def test_the_scale_grows_with_the_contribution_bounds():
    bounds = Bounds(cells_per_bucket=2, buckets_per_release=12, value_per_cell=1)
    assert measure([0], bounds, 1.0).scale == 24
    assert measure([0], bounds, 1.0).epsilon == 1.0
    sums = Bounds(cells_per_bucket=1, buckets_per_release=1, value_per_cell=5_000)
    assert measure([0], sums, 0.5).scale == 10_000


def test_the_threshold_lets_a_cell_under_k_through_at_most_delta_of_the_time():
    k, delta, scale = 3, 0.01, 1.0
    cut = threshold(k, scale, delta)
    assert cut == k + math.log(50)
    trials = 100_000
    values = measure([k - 1] * trials, ONE, 1 / scale).values
    leaked = sum(v >= cut for v in values) / trials
    assert leaked <= delta  # two people pass only with noise >= 5: p^5 / (1+p) = 0.005


def _attack(epsilon: float, trials: int, present_in: int = 1) -> float:
    """How often an attacker who sees one release tells whether the target was in it."""
    bounds = Bounds(cells_per_bucket=1, buckets_per_release=present_in, value_per_cell=1)
    base = [100] * present_in
    wins = 0
    for trial in range(trials):
        present = trial % 2 == 1  # the attacker's prior: even odds
        truth = [b + 1 for b in base] if present else base
        seen = measure(truth, bounds, epsilon).values
        # The optimal test for symmetric, log-concave noise: more than half a person per cell.
        guess = sum(seen) - sum(base) > present_in / 2
        wins += guess == present
    return wins / trials


def test_a_differencing_attacker_does_no_better_than_epsilon_allows():
    epsilon, trials = 1.0, 4_000
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))  # 0.731 for pure epsilon-DP
    slack = 6 * math.sqrt(bound * (1 - bound) / trials)
    assert _attack(epsilon, trials) <= bound + slack
    assert _attack(epsilon, trials, present_in=4) <= bound + slack  # the bounds share epsilon


def test_the_attacker_is_a_real_one_when_the_noise_is_small():
    # Not a vacuous test: at epsilon 6 the same attacker almost always wins.
    assert _attack(6.0, 1_000) > 0.95


async def test_releases_differing_by_one_customer_leak_no_more_than_epsilon_end_to_end():
    """The whole service (engine, budgets, noise, suppression), over a fake store."""
    settings = InsightSettings(
        k=3,
        delta=0.01,
        epsilon_default=1.0,
        epsilon_max=1.0,
        customer_budget=1e6,
        partner_budget=1e9,
        buckets_per_release=1,
    )
    request = InsightRequest(
        metric="footfall",
        area=Area(cells=(CELL,)),
        start=NOW - timedelta(hours=3),
        end=NOW - timedelta(hours=2),
        bucket="hour",
    )
    worlds = []
    for with_target in (False, True):
        repo = FakeInsights()
        for i in range(60):
            repo.customer(f"c{i}")
        if with_target:
            repo.customer("target")
        uow = FakeUnitOfWorkFactory({InsightRepository: repo, AuditLog: FakeAudit()})
        worlds.append(InsightService(uow, load_bundle(), settings))
    trials, wins = 1_500, 0
    for trial in range(trials):
        present = trial % 2 == 1
        release = await worlds[present].release("ptn_1", request)
        for world in worlds:  # keep the fake store small: only the answer matters here
            repo = world.uow.fakes[InsightRepository]
            repo.releases.clear()
            repo.contributions.clear()
        wins += ((release.cells[0].value or 0) > 60.5) == present
    bound = math.exp(1.0) / (1 + math.exp(1.0))
    assert wins / trials <= bound + 6 * math.sqrt(bound * (1 - bound) / trials)
