"""Policy evaluation throughput: our engine against Cedar (cedarpy) on the same scenario.

Scenario (DESIGN §8): permit on a matching active grant, forbid location for DE (the shipped
bundle, so the GDPR age and Art. 9 rules are in play too), at 1, 10 and 100 grants per customer.
Reports numbers only; it never passes or fails on a time. Run: `python bench/bench_policy.py`.
The engines take turns in rounds and each one's median round is kept (see `take_turns`).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import cedarpy

from bench import cedar_model
from policies import AccessRequest, GrantView, Subject, compile_grants, decide, load_bundle
from policies.vocabulary import CATEGORY_CODES, PURPOSE_CODES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = 50
PARTNERS = [f"ptn_{i:02d}" for i in range(20)]
CATS = sorted(CATEGORY_CODES)
PURPS = sorted(PURPOSE_CODES)
OURS_DECISIONS = 50_000
CEDAR_DECISIONS = 3_000


def scenario(grants_per_customer: int, rnd: random.Random):
    """Customers with their grants, and requests that mostly name a partner holding a grant."""
    customers = []
    for c in range(CUSTOMERS):
        subject = Subject(
            customer_id=f"cus_{c:04d}",
            jurisdiction=rnd.choice(["DE", "FR", "ES", "IT", "US"]),
            birth_date=rnd.choice([None, date(1990, 5, 17), date(2011, 3, 2)]),
        )
        grants = tuple(
            GrantView(
                grant_id=f"gnt_{c:04d}_{g:03d}",
                partner_id=rnd.choice(PARTNERS),
                status=rnd.choice(["active"] * 8 + ["paused", "revoked"]),
                categories=tuple(rnd.sample(CATS, 3)),
                purposes=tuple(rnd.sample(PURPS, 2)),
                granted_at=NOW - timedelta(days=rnd.randint(1, 200)),
                expires_at=NOW + timedelta(days=rnd.randint(-20, 200)),
                lookback_days=rnd.randint(1, 90),
            )
            for g in range(grants_per_customer)
        )
        customers.append((subject, grants))
    requests = []
    for _ in range(max(OURS_DECISIONS, CEDAR_DECISIONS)):
        subject, grants = rnd.choice(customers)
        target = rnd.choice(grants)
        request = AccessRequest(
            partner_id=target.partner_id if rnd.random() < 0.8 else rnd.choice(PARTNERS),
            category=rnd.choice(target.categories) if rnd.random() < 0.8 else rnd.choice(CATS),
            purpose=rnd.choice(target.purposes),
            at=NOW,
            since=NOW - timedelta(days=rnd.randint(0, 30)),
        )
        requests.append((request, subject, grants))
    return customers, requests


ROUNDS = 5  # the engines take turns, a slice each per round; the median round is kept


def rate(call, work) -> float:
    """Decisions per second over a tight loop."""
    start = time.perf_counter()
    for case in work:
        call(case)
    return len(work) / (time.perf_counter() - start)


def take_turns(engines, rounds=ROUNDS):
    """The median rate of each (call, cases) over `rounds` rounds in which they take turns on
    successive slices: a slow spell of the shared host lands on both, not on one."""
    rates: list[list[float]] = [[] for _ in engines]
    for r in range(rounds):
        for mine, (call, cases) in zip(rates, engines, strict=True):
            step = len(cases) // rounds
            mine.append(rate(call, cases[r * step : (r + 1) * step]))
    return [statistics.median(mine) for mine in rates]


def latencies(call, cases):
    """(p50 µs, p99 µs) of single decisions."""
    clock = time.perf_counter_ns
    taken = []
    for case in cases[:5000]:
        t0 = clock()
        call(case)
        taken.append((clock() - t0) / 1000)
    q = statistics.quantiles(taken, n=100)
    return q[49], q[98]


def run(grants_per_customer: int, bundle, rnd: random.Random) -> dict:
    customers, cases = scenario(grants_per_customer, rnd)

    def ours_plain(case):
        request, subject, grants = case
        return decide(request, subject, grants, bundle).allowed

    # Ours compiled: each customer's grants compiled once (compile_grants), as Cedar's policy
    # sets and entities are parsed once per customer below.
    compiled = {subject.customer_id: compile_grants(grants) for subject, grants in customers}
    compiled_cases = [
        (request, subject, compiled[subject.customer_id]) for request, subject, _ in cases
    ]

    def ours(case):
        request, subject, grants = case
        return decide(request, subject, grants, bundle).allowed

    # Cedar gets every advantage we can give it: policy sets and entity graphs parsed once per
    # customer (as a Cedar deployment would cache them) and request dicts built in advance.
    partners = dict.fromkeys(PARTNERS, False)
    prepared = {}
    for subject, grants in customers:
        prepared[subject.customer_id] = (
            cedarpy.PolicySet.from_str(
                cedar_model.policy_text(bundle, subject.customer_id, grants)
            ),
            cedarpy.Entities.from_json_str(
                json.dumps(cedar_model.entities(subject, grants, partners))
            ),
        )
    cedar_cases = [
        (cedar_model.request(request, subject), *prepared[subject.customer_id])
        for request, subject, _ in cases[:CEDAR_DECISIONS]
    ]

    def cedar(case):
        cedar_request, policy_set, entities = case
        return cedarpy.is_authorized(cedar_request, policy_set, entities).allowed

    ours_results = [ours(case) for case in compiled_cases[:OURS_DECISIONS]]
    # both paths decide alike (correctness, not timing)
    assert [ours_plain(case) for case in cases[:OURS_DECISIONS]] == ours_results
    cedar_results = [cedar(case) for case in cedar_cases]
    ours_rate, plain_rate, cedar_rate = take_turns(
        [
            (ours, compiled_cases[:OURS_DECISIONS]),
            (ours_plain, cases[:OURS_DECISIONS]),
            (cedar, cedar_cases),
        ]
    )
    ours_p50, ours_p99 = latencies(ours, compiled_cases)
    cedar_p50, cedar_p99 = latencies(cedar, cedar_cases)
    disagreements = sum(a != b for a, b in zip(ours_results, cedar_results, strict=False))
    return {
        "grants": grants_per_customer,
        "ours": (ours_rate, ours_p50, ours_p99),
        "cedar": (cedar_rate, cedar_p50, cedar_p99),
        "plain": plain_rate,
        "allowed": sum(ours_results[:CEDAR_DECISIONS]) / CEDAR_DECISIONS,
        "disagreements": disagreements,
    }


def main() -> None:
    bundle = load_bundle()
    rnd = random.Random(1)
    print(
        f"rules {bundle.version[:19]}…, {CUSTOMERS} customers, {len(PARTNERS)} partners, "
        f"python {sys.version.split()[0]}, cedarpy {version('cedarpy')}"
    )
    header = (
        f"{'grants':>6} | {'ours dec/s':>11} {'p50 µs':>7} {'p99 µs':>7} | "
        f"{'cedar dec/s':>11} {'p50 µs':>7} {'p99 µs':>7} | {'ours/cedar':>10} | "
        f"{'uncompiled/cedar':>16} | "
        f"{'allowed':>7} {'disagree':>8}"
    )
    print(header)
    print("-" * len(header))
    for n in (1, 10, 100):
        row = run(n, bundle, rnd)
        (o_rate, o50, o99), (c_rate, c50, c99) = row["ours"], row["cedar"]
        print(
            f"{n:>6} | {o_rate:>11,.0f} {o50:>7.1f} {o99:>7.1f} | "
            f"{c_rate:>11,.0f} {c50:>7.1f} {c99:>7.1f} | {o_rate / c_rate:>9.1f}× | "
            f"{row['plain'] / c_rate:>15.1f}× | "
            f"{row['allowed']:>7.0%} {row['disagreements']:>8}"
        )


if __name__ == "__main__":
    main()
