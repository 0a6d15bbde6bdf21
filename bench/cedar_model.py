"""The policy engine's semantics written as a Cedar policy set, for the differential test and bench.

Each grant is a Cedar entity plus one permit policy naming it; each forbid rule of the bundle
becomes a forbid policy. cedarpy is a test/bench dependency only: `policies` never imports this.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from policies import AccessRequest, GrantView, RuleBundle, Subject

_SUSPENDED = (
    '@id("partner_suspended")\n'
    'forbid(principal, action == Action::"read", resource) when { principal.suspended };\n'
)


def _s(value: str) -> str:
    return json.dumps(value)  # a Cedar string literal is JSON-compatible for our ids


def _set(values: Sequence[str]) -> str:
    return "[" + ", ".join(_s(v) for v in values) + "]"


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _ymd(day: date) -> int:
    # As YYYYMMDD, age in whole years is (today - birth) // 10000, so an age check is arithmetic.
    return day.year * 10000 + day.month * 100 + day.day


def rule_policies(bundle: RuleBundle) -> str:
    """Cedar forbid policies for the bundle's forbid rules (obligations do not deny)."""
    out = [_SUSPENDED]
    for rule in bundle.rules:
        if rule.effect != "forbid":
            continue
        conditions = [f"{_set(rule.jurisdictions)}.contains(resource.jurisdiction)"]
        if rule.categories:
            conditions.append(f"{_set(rule.categories)}.contains(context.category)")
        if rule.purposes:
            conditions.append(f"{_set(rule.purposes)}.contains(context.purpose)")
        if rule.min_age is not None:
            conditions.append("resource has birth_ymd")
            conditions.append(f"context.today_ymd - resource.birth_ymd < {rule.min_age * 10000}")
        out.append(
            f"@id({_s('rule:' + rule.id)})\n"
            f'forbid(principal, action == Action::"read", resource) when {{ '
            + " && ".join(conditions)
            + " };\n"
        )
    return "".join(out)


def grant_policies(customer_id: str, grants: Sequence[GrantView]) -> str:
    """One permit policy per grant: it allows when that grant covers the request."""
    out = []
    for grant in grants:
        g = f"Grant::{_s(grant.grant_id)}"
        out.append(
            f"@id({_s(grant.grant_id)})\n"
            f'permit(principal == Partner::{_s(grant.partner_id)}, action == Action::"read", '
            f"resource == Customer::{_s(customer_id)}) when {{ "
            f'{g}.status == "active" && {g}.granted_at <= context.now && '
            f"context.now < {g}.expires_at && {g}.categories.contains(context.category) && "
            f"{g}.purposes.contains(context.purpose) && "
            f"(!(context has since) || context.since >= context.now - {g}.lookback) }};\n"
        )
    return "".join(out)


def policy_text(bundle: RuleBundle, customer_id: str, grants: Sequence[GrantView]) -> str:
    """The whole policy set for one customer: the bundle's forbids and the customer's grants."""
    return rule_policies(bundle) + grant_policies(customer_id, grants)


def entities(
    subject: Subject, grants: Sequence[GrantView], partners: dict[str, bool]
) -> list[dict]:
    """Cedar entities: the customer, each partner (with its suspension) and each grant."""
    customer_attrs: dict = {"jurisdiction": subject.jurisdiction}
    if subject.birth_date is not None:
        customer_attrs["birth_ymd"] = _ymd(subject.birth_date)
    out = [
        {
            "uid": {"type": "Customer", "id": subject.customer_id},
            "attrs": customer_attrs,
            "parents": [],
        }
    ]
    for partner_id, suspended in sorted(partners.items()):
        out.append(
            {
                "uid": {"type": "Partner", "id": partner_id},
                "attrs": {"suspended": suspended},
                "parents": [],
            }
        )
    for grant in grants:
        out.append(
            {
                "uid": {"type": "Grant", "id": grant.grant_id},
                "attrs": {
                    "status": grant.status,
                    "granted_at": _epoch(grant.granted_at),
                    "expires_at": _epoch(grant.expires_at),
                    "categories": list(grant.categories),
                    "purposes": list(grant.purposes),
                    "lookback": grant.lookback_days * 86400,
                },
                "parents": [],
            }
        )
    return out


def request(req: AccessRequest, subject: Subject) -> dict:
    """The Cedar request for one access request (times in whole epoch seconds)."""
    context: dict = {
        "category": req.category,
        "purpose": req.purpose,
        "now": _epoch(req.at),
        "today_ymd": _ymd(req.at.date()),
    }
    if req.since is not None:
        context["since"] = _epoch(req.since)
    return {
        "principal": f"Partner::{_s(req.partner_id)}",
        "action": 'Action::"read"',
        "resource": f"Customer::{_s(subject.customer_id)}",
        "context": context,
    }
