"""Shared builders for the policy tests: a fixed instant, grants, subjects and requests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from policies import AccessRequest, GrantView, Subject

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PARTNER = "ptn_a"
OTHER_PARTNER = "ptn_b"


def grant(**changes) -> GrantView:
    """An active grant of PARTNER (location, billing, health; advertising, research) at NOW."""
    fields = {
        "grant_id": "gnt_1",
        "partner_id": PARTNER,
        "status": "active",
        "categories": ("location", "billing", "health"),
        "purposes": ("advertising", "research"),
        "granted_at": NOW - timedelta(days=30),
        "expires_at": NOW + timedelta(days=30),
        "lookback_days": 90,
    }
    return GrantView(**{**fields, **changes})


def subject(jurisdiction: str = "FR", age: int | None = None) -> Subject:
    """A customer of `jurisdiction`, `age` years old at NOW (birthday yesterday) if given."""
    born = None
    if age is not None:
        born = date(NOW.year - age, NOW.month, NOW.day) - timedelta(days=1)
    return Subject(customer_id="cus_1", jurisdiction=jurisdiction, birth_date=born)


def ask(category: str = "location", purpose: str = "advertising", **changes) -> AccessRequest:
    """PARTNER asks for `category` for `purpose` at NOW."""
    fields = {"partner_id": PARTNER, "category": category, "purpose": purpose, "at": NOW}
    return AccessRequest(**{**fields, **changes})
