"""Differential test: our decisions agree with Cedar (cedarpy) on the same policies and data."""

from __future__ import annotations

import random
from datetime import date, timedelta

import cedarpy
from policy_cases import NOW

from bench import cedar_model
from policies import AccessRequest, GrantView, Subject, compile_grants, decide, load_bundle
from policies.vocabulary import CATEGORY_CODES, PURPOSE_CODES

BUNDLE = load_bundle()
CATS = sorted(CATEGORY_CODES)
PURPS = sorted(PURPOSE_CODES)
PARTNERS = ["ptn_a", "ptn_b", "ptn_c"]
JURISDICTIONS = ["DE", "FR", "ES", "IT", "NL", "AT", "US", "GB"]
CASES = 3000


def random_case(rnd: random.Random):
    at = NOW + timedelta(seconds=rnd.randint(-86400 * 10, 86400 * 10))
    grants = []
    for i in range(rnd.choice([0, 1, 1, 2, 3, 5])):
        # Boundaries on purpose: grants starting or ending exactly at the decision instant.
        past = at - timedelta(seconds=rnd.randint(0, 86400 * 60))
        granted_at = rnd.choice([at, at + timedelta(seconds=1), past, past, past])
        later = granted_at + timedelta(seconds=rnd.randint(1, 86400 * 90))
        expires_at = rnd.choice([at, later, later, later])
        grants.append(
            GrantView(
                grant_id=f"gnt_{i}",
                partner_id=rnd.choice(PARTNERS[:2]),
                status=rnd.choice(["active", "active", "active", "paused", "revoked", "expired"]),
                categories=tuple(rnd.sample(CATS, rnd.randint(1, len(CATS)))),
                purposes=tuple(rnd.sample(PURPS, rnd.randint(1, len(PURPS)))),
                granted_at=granted_at,
                expires_at=expires_at,
                lookback_days=rnd.randint(0, 90),
            )
        )
    birth = rnd.choice(
        [
            None,
            date(at.year - rnd.randint(10, 30), rnd.randint(1, 12), rnd.randint(1, 28)),
            date(at.year - rnd.choice([13, 14, 15, 16]), at.month, at.day),  # birthday today
            date(2008, 2, 29),
        ]
    )
    subject = Subject(customer_id="cus_1", jurisdiction=rnd.choice(JURISDICTIONS), birth_date=birth)
    since = rnd.choice([None, at - timedelta(days=rnd.randint(0, 100))])
    if grants and rnd.random() < 0.2:  # exactly at a grant's window start
        since = at - timedelta(days=grants[0].lookback_days)
    partner, category, purpose = rnd.choice(PARTNERS), rnd.choice(CATS), rnd.choice(PURPS)
    if grants and rnd.random() < 0.6:  # mostly ask for what some grant names, so allows occur
        target = rnd.choice(grants)
        partner = target.partner_id
        category, purpose = rnd.choice(target.categories), rnd.choice(target.purposes)
    request = AccessRequest(
        partner_id=partner,
        category=category,
        purpose=purpose,
        at=at,
        since=since,
        partner_suspended=rnd.random() < 0.1,
    )
    return request, subject, grants


def cedar_allows(request, subject, grants) -> bool:
    result = cedarpy.is_authorized(
        cedar_model.request(request, subject),
        cedar_model.policy_text(BUNDLE, subject.customer_id, grants),
        cedar_model.entities(subject, grants, {p: request.partner_suspended for p in PARTNERS}),
    )
    assert not result.diagnostics.errors, result.diagnostics.errors
    return result.allowed


def test_engine_agrees_with_cedar_on_random_cases():
    rnd = random.Random(20250601)
    outcomes = {True: 0, False: 0}
    for _ in range(CASES):
        request, subject, grants = random_case(rnd)
        ours = decide(request, subject, grants, BUNDLE)
        assert ours.allowed == cedar_allows(request, subject, grants), (request, subject, grants)
        outcomes[ours.allowed] += 1
    # The comparison means something only if both outcomes occur often.
    assert outcomes[True] > CASES // 15 and outcomes[False] > CASES // 5


def test_cedar_forbid_policies_carry_the_rule_ids():
    request = AccessRequest(partner_id="ptn_a", category="location", purpose="research", at=NOW)
    subject = Subject(customer_id="cus_1", jurisdiction="DE")
    grants = [
        GrantView(
            grant_id="gnt_1",
            partner_id="ptn_a",
            status="active",
            categories=("location",),
            purposes=("research",),
            granted_at=NOW - timedelta(days=1),
            expires_at=NOW + timedelta(days=1),
            lookback_days=1,
        )
    ]
    policies = cedar_model.policy_text(BUNDLE, "cus_1", grants)
    result = cedarpy.is_authorized(
        cedar_model.request(request, subject),
        policies,
        cedar_model.entities(subject, grants, {"ptn_a": False}),
    )
    assert not result.allowed
    ids = set(result.diagnostics.id_annotations_by_reason.values())
    assert ids == {"rule:de-location-trading"}
    assert decide(request, subject, grants, BUNDLE).reasons == ("rule:de-location-trading",)


def test_compiled_grants_decide_exactly_as_the_grants_given():
    rnd = random.Random(7)
    for _ in range(CASES):
        request, subject, grants = random_case(rnd)
        plain = decide(request, subject, grants, BUNDLE)
        assert decide(request, subject, compile_grants(grants), BUNDLE) == plain, request
        assert plain.allowed == cedar_allows(request, subject, grants)
