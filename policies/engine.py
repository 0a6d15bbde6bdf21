"""The decision function: may this partner read this category of this customer's data, and why.

Pure: the outcome depends only on the arguments. Deny by default; a forbid rule beats any grant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from policies.models import (
    AccessRequest,
    Decision,
    Eligibility,
    GrantView,
    Rule,
    RuleBundle,
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

# Deny reasons about grants, in the order they are reported.
_GRANT_REASON_ORDER = (
    NO_GRANT, GRANT_REVOKED, GRANT_PAUSED, GRANT_EXPIRED, GRANT_NOT_STARTED,
    CATEGORY_NOT_GRANTED, PURPOSE_NOT_GRANTED, OUTSIDE_LOOKBACK,
)
_STATUS_REASON = {"revoked": GRANT_REVOKED, "paused": GRANT_PAUSED, "expired": GRANT_EXPIRED}
_GRANTED = (GRANTED,)
_NO_RULES: tuple[Rule, ...] = ()


def matching_rules(
    bundle: RuleBundle, subject: Subject, category: str, purpose: str, at: datetime
) -> tuple[Rule, ...]:
    """The rules of `bundle` that apply to `subject` reading `category` for `purpose` at `at`.

    The one matching function: `decide` and `offer_eligibility` both use it.
    """
    candidates = bundle.index.get((subject.jurisdiction, category, purpose), _NO_RULES)
    if not candidates:
        return _NO_RULES
    return tuple(
        rule for rule in candidates
        if rule.min_age is None or _younger_than(subject.birth_date, rule.min_age, at)
    )


def _younger_than(birth_date: date | None, years: int, at: datetime) -> bool:
    # Unknown birth date does not match an age rule (see Rule.min_age). Age is counted on the
    # calendar date of `at` as given; someone born on 29 February ages on 1 March.
    if birth_date is None:
        return False
    today = at.date()
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    return age < years


def _covers(grant: GrantView, request: AccessRequest) -> bool:
    return (
        grant.status == "active"
        and grant.granted_at <= request.at < grant.expires_at
        and request.category in grant.categories
        and request.purpose in grant.purposes
    )


def decide(
    request: AccessRequest,
    subject: Subject,
    grants: Sequence[GrantView],
    bundle: RuleBundle,
) -> Decision:
    """Decide one access request against the customer's grants and the rules in force.

    `grants` are the customer's grants (any partner, any status); `request.at` must be tz-aware.
    """
    rules = matching_rules(bundle, subject, request.category, request.purpose, request.at)
    covering: GrantView | None = None
    partner_has_grant = False
    for grant in grants:
        if grant.partner_id != request.partner_id:
            continue
        partner_has_grant = True
        # Of several covering grants, the one reaching furthest back decides the window; the
        # grant id breaks ties so that the order grants come in never changes the decision.
        if _covers(grant, request) and (
            covering is None
            or grant.lookback_days > covering.lookback_days
            or (grant.lookback_days == covering.lookback_days
                and grant.grant_id < covering.grant_id)
        ):
            covering = grant

    window_start = None
    lookback_ok = True
    if covering is not None:
        window_start = request.at - timedelta(days=covering.lookback_days)
        lookback_ok = request.since is None or request.since >= window_start

    if not rules and covering is not None and lookback_ok and not request.partner_suspended:
        return Decision(  # the hot path: allowed with no rule in play
            allowed=True, reasons=_GRANTED, grant_id=covering.grant_id, rule_ids=(),
            rules_version=bundle.version, window_start=window_start,
        )

    reasons: list[str] = []
    if request.partner_suspended:
        reasons.append(PARTNER_SUSPENDED)
    obligations: list[str] = []
    for rule in rules:
        if rule.effect == "forbid":
            reasons.append("rule:" + rule.id)
        elif rule.effect not in obligations:
            obligations.append(rule.effect)
    if covering is None:
        reasons.extend(_why_not_covered(request, grants) if partner_has_grant else (NO_GRANT,))
    elif not lookback_ok:
        reasons.append(OUTSIDE_LOOKBACK)
    allowed = not reasons
    return Decision(
        allowed=allowed,
        reasons=_GRANTED if allowed else tuple(reasons),
        grant_id=covering.grant_id if covering is not None else None,
        rule_ids=tuple(rule.id for rule in rules),
        rules_version=bundle.version,
        obligations=tuple(obligations),
        window_start=window_start,
    )


def _why_not_covered(request: AccessRequest, grants: Iterable[GrantView]) -> list[str]:
    """The most specific reasons the partner's grants do not cover the request.

    Grants whose scope includes the category and purpose explain themselves by their status or
    time; only when no grant has that scope is the scope itself the reason.
    """
    in_scope: set[str] = set()
    out_of_scope: set[str] = set()
    for grant in grants:
        if grant.partner_id != request.partner_id:
            continue
        category_ok = request.category in grant.categories
        purpose_ok = request.purpose in grant.purposes
        if category_ok and purpose_ok:
            if grant.status != "active":
                in_scope.add(_STATUS_REASON[grant.status])
            elif request.at >= grant.expires_at:
                in_scope.add(GRANT_EXPIRED)
            else:
                in_scope.add(GRANT_NOT_STARTED)
        else:
            if not category_ok:
                out_of_scope.add(CATEGORY_NOT_GRANTED)
            if not purpose_ok:
                out_of_scope.add(PURPOSE_NOT_GRANTED)
    found = in_scope or out_of_scope
    return [code for code in _GRANT_REASON_ORDER if code in found]


def offer_eligibility(
    subject: Subject,
    partner_id: str,
    categories: Sequence[str],
    purposes: Sequence[str],
    at: datetime,
    bundle: RuleBundle,
) -> Eligibility:
    """Whether a grant of this offer would let the partner read anything of this subject.

    Ineligible when every (category, purpose) pair of the offer is forbidden by a rule.
    `partner_id` is accepted so that partner-scoped rules can join without an API change.
    """
    del partner_id  # no rule is partner-scoped yet
    blocking: dict[str, Rule] = {}
    blocked: list[tuple[str, str]] = []
    pairs = 0
    for category in categories:
        for purpose in purposes:
            pairs += 1
            forbids = [
                r for r in matching_rules(bundle, subject, category, purpose, at)
                if r.effect == "forbid"
            ]
            if forbids:
                blocked.append((category, purpose))
                for rule in forbids:
                    blocking.setdefault(rule.id, rule)
    ordered = [rule for rule in bundle.rules if rule.id in blocking]
    return Eligibility(
        eligible=pairs > len(blocked),
        reasons=tuple("rule:" + rule.id for rule in ordered),
        rule_ids=tuple(rule.id for rule in ordered),
        descriptions=tuple(rule.description for rule in ordered),
        blocked=tuple(blocked),
    )


def rule_descriptions(bundle: RuleBundle, rule_ids: Iterable[str]) -> dict[str, str]:
    """The customer-readable sentence of each named rule (ids not in the bundle are skipped)."""
    wanted = set(rule_ids)
    return {rule.id: rule.description for rule in bundle.rules if rule.id in wanted}
