"""Properties of `decide` over random grants, subjects and requests (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_cases import NOW, OTHER_PARTNER, PARTNER

from policies import (
    AccessRequest,
    GrantView,
    Rule,
    RuleBundle,
    Subject,
    compile_grants,
    decide,
    load_bundle,
)
from policies.vocabulary import CATEGORY_CODES, PURPOSE_CODES

BUNDLE = load_bundle()
CATS = sorted(CATEGORY_CODES)
PURPS = sorted(PURPOSE_CODES)
JURISDICTIONS = ["DE", "FR", "ES", "IT", "NL", "BE", "US", "GB"]

partners = st.sampled_from([PARTNER, PARTNER, OTHER_PARTNER])
days = st.integers(min_value=-90, max_value=2).map(lambda d: NOW + timedelta(days=d))


@st.composite
def grants(draw, grant_id=None):
    granted_at = draw(days)
    return GrantView(
        grant_id=grant_id or draw(st.sampled_from(["gnt_1", "gnt_2", "gnt_3"])),
        partner_id=draw(partners),
        status=draw(st.sampled_from(["active", "active", "paused", "revoked", "expired"])),
        categories=tuple(
            draw(st.lists(st.sampled_from(CATS), min_size=2, max_size=8, unique=True))
        ),
        purposes=tuple(draw(st.lists(st.sampled_from(PURPS), min_size=1, max_size=5, unique=True))),
        granted_at=granted_at,
        expires_at=granted_at + timedelta(days=draw(st.integers(1, 200))),
        lookback_days=draw(st.integers(0, 60)),
    )


grant_lists = st.lists(st.integers(0, 10**6), max_size=6, unique=True).flatmap(
    lambda ids: st.tuples(*[grants(grant_id=f"gnt_{i}") for i in ids])
)
subjects = st.builds(
    Subject,
    customer_id=st.just("cus_1"),
    jurisdiction=st.sampled_from(JURISDICTIONS),
    birth_date=st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2015, 12, 31)),
)


@st.composite
def requests(draw):
    at = NOW + timedelta(hours=draw(st.integers(-24 * 30, 24 * 5)))
    since = draw(st.none() | st.integers(0, 90).map(lambda d: at - timedelta(days=d)))
    return AccessRequest(
        partner_id=draw(partners),
        category=draw(st.sampled_from(CATS)),
        purpose=draw(st.sampled_from(PURPS)),
        at=at,
        since=since,
        partner_suspended=draw(st.sampled_from([False] * 9 + [True])),
    )


forbid_rules = st.builds(
    Rule,
    id=st.just("extra-forbid"),
    jurisdictions=st.lists(st.sampled_from(JURISDICTIONS), min_size=1, unique=True).map(tuple),
    categories=st.lists(st.sampled_from(CATS), unique=True, max_size=3).map(tuple),
    purposes=st.lists(st.sampled_from(PURPS), unique=True, max_size=2).map(tuple),
    effect=st.just("forbid"),
    min_age=st.none() | st.integers(10, 20),
    legal_reference=st.just("test"),
    description=st.just("A test rule."),
)


def younger_than(birth: date | None, years: int, on: date) -> bool:
    """Independent age check: has the `years`-th birthday not yet come by `on`?"""
    if birth is None:
        return False
    try:
        birthday = birth.replace(year=birth.year + years)
    except ValueError:  # 29 February in a common year: the birthday counts from 1 March
        birthday = date(birth.year + years, 3, 1)
    return on < birthday


def forbidden(bundle: RuleBundle, subject: Subject, req: AccessRequest) -> bool:
    """Naive scan of every rule, without the bundle's index."""
    return any(
        rule.effect == "forbid"
        and subject.jurisdiction in rule.jurisdictions
        and (not rule.categories or req.category in rule.categories)
        and (not rule.purposes or req.purpose in rule.purposes)
        and (rule.min_age is None or younger_than(subject.birth_date, rule.min_age, req.at.date()))
        for rule in bundle.rules
    )


def covering(grants_, req):
    return [
        g
        for g in grants_
        if g.partner_id == req.partner_id
        and g.status == "active"
        and g.granted_at <= req.at < g.expires_at
        and req.category in g.categories
        and req.purpose in g.purposes
    ]


SETTINGS = settings(max_examples=400, deadline=None)


@SETTINGS
@given(requests(), subjects, grant_lists)
def test_allowed_exactly_when_covered_in_window_and_not_forbidden(req, subject, grants_):
    decision = decide(req, subject, grants_, BUNDLE)
    cover = covering(grants_, req)
    in_window = any(
        req.since is None or req.since >= req.at - timedelta(days=g.lookback_days) for g in cover
    )
    expected = (
        bool(cover)
        and in_window
        and not req.partner_suspended
        and not forbidden(BUNDLE, subject, req)
    )
    assert decision.allowed is expected
    assert (decision.reasons == ("granted",)) is decision.allowed
    assert decision.reasons and "granted" not in decision.reasons[1:]
    if decision.allowed:
        assert decision.grant_id in {g.grant_id for g in cover}


@SETTINGS
@given(requests(), subjects, grant_lists, forbid_rules)
def test_adding_a_forbid_rule_never_allows_more(req, subject, grants_, rule):
    wider = RuleBundle(rules=(*BUNDLE.rules, rule), version="test")
    after = decide(req, subject, grants_, wider)
    if after.allowed:
        assert decide(req, subject, grants_, BUNDLE).allowed
    if forbidden(RuleBundle(rules=(rule,), version="x"), subject, req):
        assert not after.allowed
        if any(g.partner_id == req.partner_id for g in grants_):
            assert "rule:extra-forbid" in after.reasons


@SETTINGS
@given(requests(), subjects, grant_lists)
def test_a_partner_without_a_grant_learns_only_no_grant(req, subject, grants_):
    """Whatever the customer's country, age or the rules, a stranger gets one answer."""
    others = [g for g in grants_ if g.partner_id != req.partner_id]
    decision = decide(req, subject, others, BUNDLE)
    assert decision.reasons == ("no_grant",) and decision.rule_ids == ()
    assert decision.obligations == () and decision.grant_id is None


@SETTINGS
@given(requests(), subjects, grant_lists, st.integers(0, 5))
def test_removing_a_grant_never_allows_more(req, subject, grants_, index):
    if not grants_:
        return
    fewer = grants_[: index % len(grants_)] + grants_[index % len(grants_) + 1 :]
    if decide(req, subject, fewer, BUNDLE).allowed:
        assert decide(req, subject, grants_, BUNDLE).allowed


@SETTINGS
@given(requests(), subjects, grant_lists, st.randoms(use_true_random=False))
def test_decision_is_deterministic_and_ignores_grant_order(req, subject, grants_, rnd):
    first = decide(req, subject, grants_, BUNDLE)
    shuffled = list(grants_)
    rnd.shuffle(shuffled)
    assert decide(req, subject, shuffled, BUNDLE) == first
    assert msgspec.json.encode(decide(req, subject, grants_, BUNDLE)) == msgspec.json.encode(first)


@SETTINGS
@given(requests(), subjects, grant_lists)
def test_revoking_any_grant_never_allows_more(req, subject, grants_):
    for i, g in enumerate(grants_):
        revoked = (*grants_[:i], msgspec.structs.replace(g, status="revoked"), *grants_[i + 1 :])
        if decide(req, subject, revoked, BUNDLE).allowed:
            assert decide(req, subject, grants_, BUNDLE).allowed
        after = decide(req, subject, revoked, BUNDLE)
        assert after.grant_id != g.grant_id


@SETTINGS
@given(requests(), subjects, grant_lists, st.randoms(use_true_random=False))
def test_compiled_grants_decide_as_the_grants_themselves(req, subject, grants_, rnd):
    # Some grants leave a pair out (as acceptance does where a rule forbids it).
    grants_ = tuple(
        msgspec.structs.replace(
            g, excluded=frozenset({(rnd.choice(g.categories), rnd.choice(g.purposes))})
        )
        if rnd.random() < 0.4
        else g
        for g in grants_
    )
    assert decide(req, subject, compile_grants(grants_), BUNDLE) == decide(
        req, subject, grants_, BUNDLE
    )
