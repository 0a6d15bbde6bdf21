"""Table of decisions: one row per reason code and per shipped rule."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest
from policy_cases import NOW, OTHER_PARTNER, ask, grant, subject

from policies import (
    RuleBundle,
    Subject,
    decide,
    load_bundle,
    offer_eligibility,
    rule_descriptions,
)
from policies.vocabulary import PURPOSES

BUNDLE = load_bundle()

ROWS = [
    # (case id, subject, grants, request, allowed, reasons)
    ("fr-location-granted", subject("FR"), [grant()], ask(), True, ("granted",)),
    *[
        (
            f"de-location-forbidden-{p.code}",
            subject("DE"),
            [grant(purposes=tuple(q.code for q in PURPOSES))],
            ask("location", p.code),
            False,
            ("rule:de-location-trading",),
        )
        for p in PURPOSES
    ],
    ("de-billing-granted", subject("DE"), [grant()], ask("billing"), True, ("granted",)),
    (
        "art9-health-advertising",
        subject("IT"),
        [grant()],
        ask("health", "advertising"),
        False,
        ("rule:gdpr-art9-advertising",),
    ),
    (
        "art9-health-research",
        subject("IT"),
        [grant()],
        ask("health", "research"),
        True,
        ("granted",),
    ),
    ("art9-outside-eu", subject("US"), [grant()], ask("health", "advertising"), True, ("granted",)),
    (
        "age-de-15-denied",
        subject("DE", age=15),
        [grant()],
        ask("billing"),
        False,
        ("rule:gdpr-art8-age-de",),
    ),
    ("age-de-16-allowed", subject("DE", age=16), [grant()], ask("billing"), True, ("granted",)),
    ("age-fr-15-allowed", subject("FR", age=15), [grant()], ask(), True, ("granted",)),
    (
        "age-fr-14-denied",
        subject("FR", age=14),
        [grant()],
        ask(),
        False,
        ("rule:gdpr-art8-age-fr",),
    ),
    (
        "age-es-13-denied",
        subject("ES", age=13),
        [grant()],
        ask(),
        False,
        ("rule:gdpr-art8-age-es",),
    ),
    ("age-es-14-allowed", subject("ES", age=14), [grant()], ask(), True, ("granted",)),
    (
        "age-it-13-denied",
        subject("IT", age=13),
        [grant()],
        ask(),
        False,
        ("rule:gdpr-art8-age-it",),
    ),
    (
        "age-nl-15-denied",
        subject("NL", age=15),
        [grant()],
        ask(),
        False,
        ("rule:gdpr-art8-age-nl",),
    ),
    (
        "age-eu-default-be-15-denied",
        subject("BE", age=15),
        [grant()],
        ask(),
        False,
        ("rule:gdpr-art8-age-eu",),
    ),
    ("age-outside-eu-allowed", subject("US", age=12), [grant()], ask(), True, ("granted",)),
    (
        "age-unknown-birth-date-allowed",
        subject("DE"),
        [grant()],
        ask("billing"),
        True,
        ("granted",),
    ),
    (
        "forbid-beats-permit-all-reasons",
        subject("DE", age=15),
        [grant()],
        ask("location"),
        False,
        ("rule:de-location-trading", "rule:gdpr-art8-age-de"),
    ),
    ("no-grants-at-all", subject("FR"), [], ask(), False, ("no_grant",)),
    (
        "other-partners-grant",
        subject("FR"),
        [grant(partner_id=OTHER_PARTNER)],
        ask(),
        False,
        ("no_grant",),
    ),
    ("expired-by-time", subject("FR"), [grant(expires_at=NOW)], ask(), False, ("grant_expired",)),
    ("status-expired", subject("FR"), [grant(status="expired")], ask(), False, ("grant_expired",)),
    ("paused", subject("FR"), [grant(status="paused")], ask(), False, ("grant_paused",)),
    ("revoked", subject("FR"), [grant(status="revoked")], ask(), False, ("grant_revoked",)),
    (
        "not-yet-started",
        subject("FR"),
        [grant(granted_at=NOW + timedelta(seconds=1))],
        ask(),
        False,
        ("grant_not_started",),
    ),
    (
        "category-not-granted",
        subject("FR"),
        [grant()],
        ask("browsing"),
        False,
        ("category_not_granted",),
    ),
    (
        "purpose-not-granted",
        subject("FR"),
        [grant()],
        ask("location", "personalised_offers"),
        False,
        ("purpose_not_granted",),
    ),
    (
        "scope-reasons-across-grants",
        subject("FR"),
        [
            grant(grant_id="gnt_1", categories=("billing",)),
            grant(grant_id="gnt_2", purposes=("research",)),
        ],
        ask(),
        False,
        ("category_not_granted", "purpose_not_granted"),
    ),
    (
        "in-scope-grant-explains-first",
        subject("FR"),
        [
            grant(grant_id="gnt_1", status="revoked"),
            grant(grant_id="gnt_2", categories=("device",)),
        ],
        ask(),
        False,
        ("grant_revoked",),
    ),
    (
        "revoked-but-another-covers",
        subject("FR"),
        [grant(grant_id="gnt_1", status="revoked"), grant(grant_id="gnt_2")],
        ask(),
        True,
        ("granted",),
    ),
    (
        "outside-lookback",
        subject("FR"),
        [grant(lookback_days=7)],
        ask(since=NOW - timedelta(days=8)),
        False,
        ("outside_lookback",),
    ),
    (
        "inside-lookback-edge",
        subject("FR"),
        [grant(lookback_days=7)],
        ask(since=NOW - timedelta(days=7)),
        True,
        ("granted",),
    ),
    (
        "partner-suspended",
        subject("FR"),
        [grant()],
        ask(partner_suspended=True),
        False,
        ("partner_suspended",),
    ),
    (
        "partner-suspended-and-forbidden",
        subject("DE"),
        [grant(status="revoked")],
        ask(partner_suspended=True),
        False,
        ("partner_suspended", "rule:de-location-trading", "grant_revoked"),
    ),
    # Without any grant of this customer the partner learns nothing of the law that applies.
    ("stranger-to-a-german-customer", subject("DE"), [], ask(), False, ("no_grant",)),
    (
        "stranger-to-a-minor",
        subject("DE", age=12),
        [grant(partner_id=OTHER_PARTNER)],
        ask("billing"),
        False,
        ("no_grant",),
    ),
    (
        "stranger-while-suspended",
        subject("DE"),
        [],
        ask(partner_suspended=True),
        False,
        ("no_grant",),
    ),
]


@pytest.mark.parametrize(
    ("subj", "grants", "request_", "allowed", "reasons"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_decision(subj, grants, request_, allowed, reasons):
    decision = decide(request_, subj, grants, BUNDLE)
    assert decision.allowed is allowed
    assert decision.reasons == reasons
    assert decision.rules_version == BUNDLE.version
    forbids = tuple(r.removeprefix("rule:") for r in reasons if r.startswith("rule:"))
    assert decision.rule_ids == forbids


def test_allowed_decision_names_the_grant_and_window():
    decision = decide(ask(), subject("FR"), [grant(grant_id="gnt_9", lookback_days=10)], BUNDLE)
    assert decision.grant_id == "gnt_9"
    assert decision.window_start == NOW - timedelta(days=10)


def test_widest_lookback_of_covering_grants_is_used():
    grants = [
        grant(grant_id="gnt_short", lookback_days=5),
        grant(grant_id="gnt_long", lookback_days=60),
    ]
    decision = decide(ask(since=NOW - timedelta(days=30)), subject("FR"), grants, BUNDLE)
    assert decision.allowed and decision.grant_id == "gnt_long"


def test_forbidden_decision_still_records_the_covering_grant():
    decision = decide(ask(), subject("DE"), [grant(grant_id="gnt_7")], BUNDLE)
    assert not decision.allowed and decision.grant_id == "gnt_7"


def test_no_covering_grant_has_no_grant_id():
    decision = decide(ask(), subject("FR"), [grant(status="paused")], BUNDLE)
    assert decision.grant_id is None and decision.window_start is None


def test_age_counts_whole_years_on_the_decision_date():
    turns_16_today = Subject(
        customer_id="c", jurisdiction="DE", birth_date=date(NOW.year - 16, NOW.month, NOW.day)
    )
    turns_16_tomorrow = Subject(
        customer_id="c", jurisdiction="DE", birth_date=date(NOW.year - 16, NOW.month, NOW.day + 1)
    )
    assert decide(ask("billing"), turns_16_today, [grant()], BUNDLE).allowed
    assert not decide(ask("billing"), turns_16_tomorrow, [grant()], BUNDLE).allowed


def test_the_rules_in_play_at_every_age_are_those_whose_age_limit_is_above_it(tmp_path):
    """The bundle's index works rules out per whole age; each age, and a birth date after the
    decision instant (held to every age rule), gets exactly the rules a plain filter gives."""
    rules = [
        ("fr-billing-totals", None, "aggregate_only"),
        ("fr-billing-under-13", 13, "forbid"),
        ("fr-billing-under-16", 16, "aggregate_only"),
        ("fr-billing-under-18", 18, "forbid"),
    ]
    (tmp_path / "fr.toml").write_text(
        "".join(
            f'[[rules]]\nid = "{rid}"\njurisdictions = ["FR"]\ncategories = ["billing"]\n'
            f'effect = "{effect}"\nlegal_reference = "test"\ndescription = "d"\n'
            + (f"min_age = {age}\n" if age else "")
            for rid, age, effect in rules
        )
    )
    bundle = load_bundle(tmp_path)
    unborn = Subject(
        customer_id="c", jurisdiction="FR", birth_date=(NOW + timedelta(days=3)).date()
    )
    for who, age in [(subject("FR", age=a), a) for a in range(0, 21)] + [(unborn, -1)]:
        expected = [(rid, effect) for rid, limit, effect in rules if limit is None or age < limit]
        decision = decide(ask("billing"), who, [grant()], bundle)
        assert decision.rule_ids == tuple(rid for rid, _ in expected), age
        assert decision.obligations == tuple(
            dict.fromkeys(effect for _, effect in expected if effect != "forbid")
        ), age
        forbids = tuple("rule:" + rid for rid, effect in expected if effect == "forbid")
        assert decision.allowed == (age >= 18), age
        assert decision.reasons == (forbids or ("granted",)), age


def test_obligation_rule_allows_and_reports_obligation(tmp_path):
    (tmp_path / "fr.toml").write_text(
        '[[rules]]\nid = "fr-call-records-aggregate"\njurisdictions = ["FR"]\n'
        'categories = ["call_records"]\neffect = "aggregate_only"\n'
        'legal_reference = "test"\ndescription = "Only totals leave the operator."\n'
    )
    bundle = load_bundle(tmp_path)
    decision = decide(
        ask("call_records"), subject("FR"), [grant(categories=("call_records",))], bundle
    )
    assert decision.allowed
    assert decision.reasons == ("granted",)
    assert decision.obligations == ("aggregate_only",)
    assert decision.rule_ids == ("fr-call-records-aggregate",)


def test_offer_blocked_entirely_is_ineligible():
    result = offer_eligibility(
        subject("DE"), "ptn_a", ["location"], ["advertising", "research"], NOW, BUNDLE
    )
    assert not result.eligible
    assert result.rule_ids == ("de-location-trading",)
    assert result.reasons == ("rule:de-location-trading",)
    assert result.blocked == (("location", "advertising"), ("location", "research"))
    assert result.descriptions == (
        "In Germany, your location data cannot be shared with companies.",
    )


def test_offer_partly_blocked_stays_eligible_and_says_what_is_blocked():
    result = offer_eligibility(
        subject("DE"), "ptn_a", ["location", "billing"], ["advertising"], NOW, BUNDLE
    )
    assert result.eligible
    assert result.blocked == (("location", "advertising"),)
    assert result.rule_ids == ("de-location-trading",)


def test_offer_to_minor_is_ineligible():
    result = offer_eligibility(
        subject("ES", age=13), "ptn_a", ["billing"], ["research"], NOW, BUNDLE
    )
    assert not result.eligible and result.rule_ids == ("gdpr-art8-age-es",)


def test_offer_with_nothing_blocked():
    result = offer_eligibility(subject("FR"), "ptn_a", ["location"], ["advertising"], NOW, BUNDLE)
    assert result.eligible and result.blocked == () and result.rule_ids == ()


def test_rule_descriptions_names_known_rules_only():
    found = rule_descriptions(BUNDLE, ["de-location-trading", "nope"])
    assert found == {
        "de-location-trading": "In Germany, your location data cannot be shared with companies."
    }


def test_the_lawful_grant_drops_a_category_forbidden_for_every_purpose():
    result = offer_eligibility(
        subject("DE"),
        "ptn_a",
        ["location", "data_usage"],
        ["aggregated_analytics", "research"],
        NOW,
        BUNDLE,
    )
    assert result.eligible
    assert result.categories == ("data_usage",)
    assert result.purposes == ("aggregated_analytics", "research")
    assert [(e.category, e.purpose, e.rule_ids) for e in result.exclusions] == [
        ("location", "aggregated_analytics", ("de-location-trading",)),
        ("location", "research", ("de-location-trading",)),
    ]


def test_the_lawful_grant_drops_a_purpose_forbidden_for_every_category():
    result = offer_eligibility(
        subject("IT"), "ptn_a", ["health"], ["advertising", "research"], NOW, BUNDLE
    )
    assert result.categories == ("health",) and result.purposes == ("research",)
    assert result.blocked == (("health", "advertising"),)


def test_the_lawful_grant_keeps_a_pair_it_cannot_drop_as_an_exclusion():
    # Health may not serve advertising, but health (research) and advertising (billing) may.
    result = offer_eligibility(
        subject("IT"), "ptn_a", ["health", "billing"], ["advertising", "research"], NOW, BUNDLE
    )
    assert result.categories == ("health", "billing")
    assert result.purposes == ("advertising", "research")
    assert [(e.category, e.purpose) for e in result.exclusions] == [("health", "advertising")]


def test_a_pair_excluded_from_the_grant_is_denied_by_the_grant_itself():
    # No rule in force: only the grant's own exclusion denies (health, advertising).
    no_rules = RuleBundle(rules=(), version="sha256:none")
    g = grant(excluded=frozenset({("health", "advertising")}))
    denied = decide(ask("health", "advertising"), subject("IT"), [g], no_rules)
    assert not denied.allowed and denied.reasons == ("pair_excluded",)
    assert denied.grant_id is None
    for category, purpose in (("health", "research"), ("billing", "advertising")):
        assert decide(ask(category, purpose), subject("IT"), [g], no_rules).allowed
    # A paused grant does not turn an excluded pair into "paused": it never covered it.
    paused = msgspec.structs.replace(g, status="paused")
    assert decide(ask("health", "advertising"), subject("IT"), [paused], no_rules).reasons == (
        "pair_excluded",
    )
