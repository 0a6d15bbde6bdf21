"""The decision function: may this partner read this category of this customer's data, and why.

Pure: the outcome depends only on the arguments. Deny by default; a forbid rule beats any grant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from policies.models import (
    NO_RULES,
    AccessRequest,
    Decision,
    Eligibility,
    Exclusion,
    GrantView,
    Rule,
    RuleBucket,
    RuleBundle,
    RulesInPlay,
    Subject,
)

GRANTED = "granted"
NO_GRANT = "no_grant"
GRANT_EXPIRED = "grant_expired"
GRANT_REVOKED = "grant_revoked"
GRANT_PAUSED = "grant_paused"
GRANT_NOT_STARTED = "grant_not_started"
CATEGORY_NOT_GRANTED = "category_not_granted"
PURPOSE_NOT_GRANTED = "purpose_not_granted"
OUTSIDE_LOOKBACK = "outside_lookback"
PARTNER_SUSPENDED = "partner_suspended"
# The pair is inside the grant's categories x purposes but was left out of it at acceptance.
PAIR_EXCLUDED = "pair_excluded"

_GRANTED = (GRANTED,)
_NO_GRANT = (NO_GRANT,)
_EMPTY_BUCKET: RuleBucket = (NO_RULES, (), 0)
# Lookback windows are whole days up to a year or so; reuse their timedeltas on the hot path.
_DAYS = tuple(timedelta(days=n) for n in range(400))


def rules_in_play(
    bundle: RuleBundle, subject: Subject, category: str, purpose: str, at: datetime
) -> RulesInPlay:
    """The rules of `bundle` that apply to `subject` reading `category` for `purpose` at `at`,
    in bundle order, as the bundle's index holds them. The one matching function: `decide` and
    `offer_eligibility` both use it."""
    always, by_age, oldest = bundle.index.get(
        (subject.jurisdiction, category, purpose), _EMPTY_BUCKET
    )
    birth = subject.birth_date
    # Unknown birth date matches no age rule (see Rule.min_age); and whoever is older than the
    # highest age in play by calendar years alone needs no exact count.
    if not oldest or birth is None or at.year - birth.year > oldest:
        return always
    # Age in whole years on the calendar date of `at` as given; born 29 February, one ages on
    # 1 March in common years. Born after `at` counts as age 0 (every min_age is at least 1).
    age = at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))
    return by_age[age if age > 0 else 0] if age < oldest else always


Pair = tuple[str, str]
# A partner's grants, the covering candidates of each pair, the memo of uncovered reason bits.
_PartnerGrants = tuple[
    tuple[GrantView, ...], dict[Pair, tuple[GrantView, ...]], dict[Pair, tuple[int, int]]
]


class CustomerGrants:
    """A customer's grants compiled once for the hot path of `decide`.

    Per partner: its grants (for the reasons a request is not covered), and for each
    (category, purpose) pair the active grants covering it, ordered so that the first one in
    force at the decision instant is the one that decides (widest lookback, then lowest id).
    Per partner too, a memo of the time-independent part of the reasons a pair is not covered,
    filled on first use: a decision's outcome still depends only on the arguments.
    Built from the grants alone, so it is as pure as they are; `compile_grants` builds it.
    """

    __slots__ = ("by_partner",)

    def __init__(self, by_partner: dict[str, _PartnerGrants]):
        self.by_partner = by_partner


def _precedence(grant: GrantView) -> tuple[int, str]:
    return (-grant.lookback_days, grant.grant_id)


def compile_grants(grants: Iterable[GrantView]) -> CustomerGrants:
    """Compile a customer's grants (any partner, any status) for repeated `decide` calls."""
    mine: dict[str, list[GrantView]] = {}
    for grant in grants:
        mine.setdefault(grant.partner_id, []).append(grant)
    by_partner: dict[str, _PartnerGrants] = {}
    for partner_id, held in mine.items():
        pairs: dict[tuple[str, str], list[GrantView]] = {}
        for grant in sorted(held, key=_precedence):
            if grant.status != "active":
                continue
            for category in grant.categories:
                for purpose in grant.purposes:
                    if (category, purpose) not in grant.excluded:
                        pairs.setdefault((category, purpose), []).append(grant)
        by_partner[partner_id] = (tuple(held), {k: tuple(v) for k, v in pairs.items()}, {})
    return CustomerGrants(by_partner)


def decide(
    request: AccessRequest,
    subject: Subject,
    grants: Sequence[GrantView] | CustomerGrants,
    bundle: RuleBundle,
) -> Decision:
    """Decide one access request against the customer's grants and the rules in force.

    `grants` are the customer's grants (any partner, any status), as given or compiled once
    by `compile_grants` for many decisions; `request.at` must be tz-aware.
    A partner holding no grant of this customer, in any state, learns `no_grant` and nothing
    else: not which rules would apply (they would tell the customer's country or age), exactly
    what an unknown customer id gets.
    """
    partner_id = request.partner_id
    at = request.at
    category = request.category
    purpose = request.purpose
    covering: GrantView | None = None
    mine: Sequence[GrantView]
    held: _PartnerGrants | None = None
    if type(grants) is CustomerGrants:
        held = grants.by_partner.get(partner_id)
        if held is None:
            return Decision(
                allowed=False,
                reasons=_NO_GRANT,
                grant_id=None,
                rule_ids=(),
                rules_version=bundle.version,
            )
        mine = held[0]
        for grant in held[1].get((category, purpose), ()):
            if grant.granted_at <= at < grant.expires_at:
                covering = grant  # the first in force: candidates are in precedence order
                break
    else:
        mine = [grant for grant in grants if grant.partner_id == partner_id]  # type: ignore[union-attr]
        if not mine:
            return Decision(
                allowed=False,
                reasons=_NO_GRANT,
                grant_id=None,
                rule_ids=(),
                rules_version=bundle.version,
            )
        for grant in mine:
            if (
                grant.status == "active"
                and category in grant.categories
                and purpose in grant.purposes
                and (not grant.excluded or (category, purpose) not in grant.excluded)
                and grant.granted_at <= at < grant.expires_at
                # Of several covering grants, the one reaching furthest back decides the
                # window; the grant id breaks ties so the order grants come in never matters.
                and (
                    covering is None
                    or grant.lookback_days > covering.lookback_days
                    or (
                        grant.lookback_days == covering.lookback_days
                        and grant.grant_id < covering.grant_id
                    )
                )
            ):
                covering = grant
    in_play = rules_in_play(bundle, subject, category, purpose, at)
    rules = in_play.rules

    window_start = None
    lookback_ok = True
    if covering is not None:
        days = covering.lookback_days
        window_start = at - (_DAYS[days] if 0 <= days < 400 else timedelta(days=days))
        since = request.since
        lookback_ok = since is None or since >= window_start
        if not rules and lookback_ok and not request.partner_suspended:
            return Decision(  # the hot path: allowed with no rule in play
                allowed=True,
                reasons=_GRANTED,
                grant_id=covering.grant_id,
                rule_ids=(),
                rules_version=bundle.version,
                window_start=window_start,
            )
    elif not rules and not request.partner_suspended:
        return Decision(  # denied by the grants alone
            allowed=False,
            reasons=_uncovered(request, mine, held),
            grant_id=None,
            rule_ids=(),
            rules_version=bundle.version,
        )

    reasons: list[str] = []
    if request.partner_suspended:
        reasons.append(PARTNER_SUSPENDED)
    reasons.extend(in_play.forbids)
    if covering is None:
        reasons.extend(_uncovered(request, mine, held))
    elif not lookback_ok:
        reasons.append(OUTSIDE_LOOKBACK)
    allowed = not reasons
    return Decision(
        allowed=allowed,
        reasons=_GRANTED if allowed else tuple(reasons),
        grant_id=covering.grant_id if covering is not None else None,
        rule_ids=in_play.rule_ids,
        rules_version=bundle.version,
        obligations=in_play.obligations,
        window_start=window_start,
    )


_REVOKED, _PAUSED, _EXPIRED, _NOT_STARTED, _NO_CATEGORY, _NO_PURPOSE = 1, 2, 4, 8, 16, 32
_EXCLUDED = 64
_STATUS_BIT = {"revoked": _REVOKED, "paused": _PAUSED, "expired": _EXPIRED}
_BIT_REASON = (
    (_REVOKED, GRANT_REVOKED),
    (_PAUSED, GRANT_PAUSED),
    (_EXPIRED, GRANT_EXPIRED),
    (_NOT_STARTED, GRANT_NOT_STARTED),
    (_NO_CATEGORY, CATEGORY_NOT_GRANTED),
    (_NO_PURPOSE, PURPOSE_NOT_GRANTED),
    (_EXCLUDED, PAIR_EXCLUDED),
)
# Every combination of grant failures, spelled out once in the reporting order.
_REASONS_BY_BITS = tuple(
    tuple(reason for bit, reason in _BIT_REASON if bits & bit) for bits in range(128)
)


def _why_not_covered(request: AccessRequest, grants: Iterable[GrantView]) -> tuple[str, ...]:
    """The most specific reasons the partner's grants (`grants`) do not cover the request.

    Grants whose scope includes the category and purpose explain themselves by their status or
    time; only when no grant has that scope is the scope itself the reason.
    """
    in_scope = out_of_scope = 0
    for grant in grants:
        category_ok = request.category in grant.categories
        purpose_ok = request.purpose in grant.purposes
        if category_ok and purpose_ok and (request.category, request.purpose) in grant.excluded:
            out_of_scope |= _EXCLUDED  # the grant never covered this pair, whatever its status
        elif category_ok and purpose_ok:
            if grant.status != "active":
                in_scope |= _STATUS_BIT[grant.status]
            elif request.at >= grant.expires_at:
                in_scope |= _EXPIRED
            else:
                in_scope |= _NOT_STARTED
        else:
            out_of_scope |= (0 if category_ok else _NO_CATEGORY) | (
                0 if purpose_ok else _NO_PURPOSE
            )
    return _REASONS_BY_BITS[in_scope or out_of_scope]


def _uncovered(
    request: AccessRequest, mine: Sequence[GrantView], held: _PartnerGrants | None
) -> tuple[str, ...]:
    """`_why_not_covered`, from the compiled grants when there are: the bits that do not depend
    on the instant are worked out once per pair; only the in-scope active grants (all out of
    their time, since none covers) are looked at again."""
    if held is None:
        return _why_not_covered(request, mine)
    pair = (request.category, request.purpose)
    memo = held[2]
    bits = memo.get(pair)
    if bits is None:
        bits = memo[pair] = _static_bits(pair, held[0])
    in_scope, out_of_scope = bits
    at = request.at
    for grant in held[1].get(pair, ()):
        in_scope |= _EXPIRED if at >= grant.expires_at else _NOT_STARTED
    return _REASONS_BY_BITS[in_scope or out_of_scope]


def _static_bits(pair: Pair, grants: Iterable[GrantView]) -> tuple[int, int]:
    """(in-scope, out-of-scope) bits of `_why_not_covered` that do not depend on the instant:
    all but those of the active in-scope grants (the pair's covering candidates)."""
    category, purpose = pair
    in_scope = out_of_scope = 0
    for grant in grants:
        category_ok = category in grant.categories
        purpose_ok = purpose in grant.purposes
        if category_ok and purpose_ok and pair in grant.excluded:
            out_of_scope |= _EXCLUDED
        elif category_ok and purpose_ok:
            if grant.status != "active":
                in_scope |= _STATUS_BIT[grant.status]
        else:
            out_of_scope |= (0 if category_ok else _NO_CATEGORY) | (
                0 if purpose_ok else _NO_PURPOSE
            )
    return in_scope, out_of_scope


def offer_eligibility(
    subject: Subject,
    partner_id: str,
    categories: Sequence[str],
    purposes: Sequence[str],
    at: datetime,
    bundle: RuleBundle,
) -> Eligibility:
    """Whether a grant of this offer would let the partner read anything of this subject, and
    the lawful grant it would be (see Eligibility).

    Ineligible when every (category, purpose) pair of the offer is forbidden by a rule.
    `partner_id` is accepted so that partner-scoped rules can join without an API change.
    """
    del partner_id  # no rule is partner-scoped yet
    blocking: dict[str, Rule] = {}
    exclusions: list[Exclusion] = []
    pairs = 0
    for category in categories:
        for purpose in purposes:
            pairs += 1
            forbids = rules_in_play(bundle, subject, category, purpose, at).forbidding
            if forbids:
                exclusions.append(
                    Exclusion(
                        category=category, purpose=purpose, rule_ids=tuple(r.id for r in forbids)
                    )
                )
                for rule in forbids:
                    blocking.setdefault(rule.id, rule)
    ordered = [rule for rule in bundle.rules if rule.id in blocking]
    blocked = {(e.category, e.purpose) for e in exclusions}
    kept_categories = tuple(c for c in categories if any((c, p) not in blocked for p in purposes))
    kept_purposes = tuple(
        p for p in purposes if any((c, p) not in blocked for c in kept_categories)
    )
    return Eligibility(
        eligible=pairs > len(blocked),
        reasons=tuple("rule:" + rule.id for rule in ordered),
        rule_ids=tuple(rule.id for rule in ordered),
        descriptions=tuple(rule.description for rule in ordered),
        blocked=tuple((e.category, e.purpose) for e in exclusions),
        exclusions=tuple(exclusions),
        categories=kept_categories,
        purposes=kept_purposes,
    )


def rule_descriptions(
    bundle: RuleBundle, rule_ids: Iterable[str], language: str = "en"
) -> dict[str, str]:
    """The customer-readable sentence of each named rule in `language` (English when the
    rule has none in it; ids not in the bundle are skipped)."""
    wanted = set(rule_ids)
    return {rule.id: rule.sentence(language) for rule in bundle.rules if rule.id in wanted}
