"""Consent policy engine: pure decisions over grants and jurisdiction rules (no I/O)."""

from policies.engine import (
    CustomerGrants,
    compile_grants,
    decide,
    offer_eligibility,
    rule_descriptions,
    rules_in_play,
)
from policies.errors import PolicyError, RuleBundleInvalid
from policies.models import (
    AccessRequest,
    Decision,
    Eligibility,
    Exclusion,
    GrantView,
    Rule,
    RuleBundle,
    Subject,
)
from policies.rules import load_bundle
from policies.vocabulary import (
    CATEGORIES,
    JURISDICTIONS,
    PURPOSES,
    Term,
    is_category,
    is_purpose,
)

__all__ = [
    "CATEGORIES",
    "JURISDICTIONS",
    "PURPOSES",
    "AccessRequest",
    "CustomerGrants",
    "Decision",
    "Eligibility",
    "Exclusion",
    "GrantView",
    "PolicyError",
    "Rule",
    "RuleBundle",
    "RuleBundleInvalid",
    "Subject",
    "Term",
    "compile_grants",
    "decide",
    "is_category",
    "is_purpose",
    "load_bundle",
    "rules_in_play",
    "offer_eligibility",
    "rule_descriptions",
]
