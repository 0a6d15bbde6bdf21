"""A decision's reasons in plain words: a rule's own sentence, or what the grant lacked."""

from __future__ import annotations

from policies import RuleBundle, rule_descriptions

from .i18n import gettext

# The policy engine's reason codes (policies/engine.py), as a customer would say them.
REASON_SENTENCES = {
    "no_grant": "You have given this company no consent.",
    "grant_expired": "Your consent had ended.",
    "grant_revoked": "You had withdrawn your consent.",
    "grant_paused": "You had paused your consent.",
    "grant_not_started": "Your consent had not started yet.",
    "category_not_granted": "Your consent does not cover this data.",
    "purpose_not_granted": "Your consent does not cover this purpose.",
    "outside_lookback": "The data is older than your consent allows.",
    "partner_suspended": "The company is suspended.",
    "pair_excluded": "This data was left out of your consent for this purpose.",
}
RULE_PREFIX = "rule:"


def sentences(bundle: RuleBundle, codes: list[str]) -> list[str]:
    """Each reason as a sentence in the page's language (a rule's, through the catalog)."""
    rules = rule_descriptions(
        bundle, [c.removeprefix(RULE_PREFIX) for c in codes if c.startswith(RULE_PREFIX)]
    )
    out = []
    for code in codes:
        if code.startswith(RULE_PREFIX):
            out.append(gettext(rules.get(code.removeprefix(RULE_PREFIX), code)))
        else:
            out.append(gettext(REASON_SENTENCES.get(code, code)))
    return out
