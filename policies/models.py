"""Values the policy engine reads and returns: grants, subjects, requests, rules, decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from policies.vocabulary import CATEGORY_CODES, PURPOSE_CODES

GrantStatus = Literal["active", "paused", "revoked", "expired"]


class GrantView(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine needs to know of one grant (a customer's consent to one partner)."""

    grant_id: str
    partner_id: str
    status: GrantStatus
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    granted_at: datetime  # tz-aware
    expires_at: datetime  # tz-aware; the grant covers [granted_at, expires_at)
    lookback_days: int  # how far back before the decision instant the partner may read
    # (category, purpose) pairs of categories x purposes that the grant does not cover: a rule
    # forbade them at acceptance (offer_eligibility's `exclusions`), so the grant never did.
    excluded: frozenset[tuple[str, str]] = frozenset()


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """The customer whose data is asked for."""

    customer_id: str
    jurisdiction: str  # ISO 3166-1 alpha-2
    # Unknown birth date: age rules do not match (see Rule.min_age).
    birth_date: date | None = None


class AccessRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A partner's request to read one category of a customer's data for one purpose."""

    partner_id: str
    category: str
    purpose: str
    at: datetime  # tz-aware: the instant of the decision
    since: datetime | None = None  # earliest recorded_at the partner asks for
    partner_suspended: bool = False


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one access request, with the reasons that explain it.

    `grant_id` and `window_start` are set whenever a grant covers the request, even if a rule
    or the lookback window denies it, so the audit entry shows which consent was weighed.
    """

    allowed: bool
    reasons: tuple[str, ...]
    grant_id: str | None
    rule_ids: tuple[str, ...]
    rules_version: str
    obligations: tuple[str, ...] = ()
    window_start: datetime | None = None  # earliest recorded_at the partner may read


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    """One (category, purpose) pair a rule forbids for a subject, and the rules that do."""

    category: str
    purpose: str
    rule_ids: tuple[str, ...]  # in bundle order


class Eligibility(msgspec.Struct, frozen=True, kw_only=True):
    """Whether accepting an offer could give the partner anything, and what the law blocks.

    The lawful grant is `categories` x `purposes` less the pairs of `exclusions` still inside
    it: a category is dropped when the law forbids it for every purpose asked, a purpose when
    forbidden for every category; what the law forbids otherwise stays an excluded pair.
    """

    eligible: bool  # False when every (category, purpose) pair of the offer is forbidden
    reasons: tuple[str, ...]  # "rule:<id>" for every rule that blocks some pair
    rule_ids: tuple[str, ...]
    descriptions: tuple[str, ...]  # customer-readable sentence of each rule in rule_ids
    blocked: tuple[tuple[str, str], ...]  # the forbidden (category, purpose) pairs
    exclusions: tuple[Exclusion, ...] = ()  # the same pairs, each with its rules
    categories: tuple[str, ...] = ()  # the lawful grant's categories (in the order asked)
    purposes: tuple[str, ...] = ()  # the lawful grant's purposes (in the order asked)


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """One jurisdiction rule, as loaded and validated from `policies/rules/*.toml`."""

    id: str
    jurisdictions: tuple[str, ...]  # expanded ISO codes (groups like "EU" resolved at load)
    categories: tuple[str, ...] = ()  # empty: any category
    purposes: tuple[str, ...] = ()  # empty: any purpose
    effect: str  # "forbid" or an obligation from vocabulary.OBLIGATIONS
    # When set, the rule matches only subjects younger than min_age (whole years) at the
    # decision instant. A subject with no recorded birth date does not match: the operator
    # records the birth date of every line held by a minor at onboarding.
    min_age: int | None = None
    legal_reference: str
    description: str  # a sentence a customer can read (English)
    # The same sentence in the other languages customers read: (language, sentence).
    sentences: tuple[tuple[str, str], ...] = ()
    source_file: str = ""

    def sentence(self, language: str) -> str:
        """The customer's sentence in `language` (English when it has none)."""
        return dict(self.sentences).get(language, self.description)


class RuleBundle(msgspec.Struct, frozen=True, kw_only=True):
    """All rules in force and the content hash that versions them.

    `index` is derived from `rules` on construction: (jurisdiction, category, purpose) → a
    RuleBucket, so a decision is one dict lookup and, for most subjects, no filtering at all.
    """

    rules: tuple[Rule, ...]
    version: str  # "sha256:<hex>" of the rule files
    index: dict[tuple[str, str, str], RuleBucket] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "index", _build_index(self.rules))


class RulesInPlay(msgspec.Struct, frozen=True):
    """The rules that apply to one subject reading one (category, purpose), with what `decide`
    reads of them worked out once, when the bundle is indexed."""

    rules: tuple[Rule, ...]  # in bundle order
    forbidding: tuple[Rule, ...]  # the forbid rules among them
    forbids: tuple[str, ...]  # "rule:<id>" of each forbid rule: decide's reasons
    obligations: tuple[str, ...]  # each obligation once, in order of first appearance
    rule_ids: tuple[str, ...]

    @classmethod
    def of(cls, rules: tuple[Rule, ...]) -> RulesInPlay:
        forbidding = tuple(r for r in rules if r.effect == "forbid")
        return cls(
            rules,
            forbidding,
            tuple("rule:" + r.id for r in forbidding),
            tuple(dict.fromkeys(r.effect for r in rules if r.effect != "forbid")),
            tuple(r.id for r in rules),
        )


NO_RULES = RulesInPlay.of(())

# For one (jurisdiction, category, purpose): the rules in play without min_age; those in play at
# each whole age below the highest min_age (index = age, in bundle order, those without min_age
# included); and that highest min_age (0 if none), so that most adults skip the age arithmetic.
RuleBucket = tuple[RulesInPlay, tuple[RulesInPlay, ...], int]


def _build_index(rules: tuple[Rule, ...]) -> dict[tuple[str, str, str], RuleBucket]:
    buckets: dict[tuple[str, str, str], list[Rule]] = {}
    for rule in rules:
        categories = rule.categories or sorted(CATEGORY_CODES)
        purposes = rule.purposes or sorted(PURPOSE_CODES)
        for jurisdiction in rule.jurisdictions:
            for category in categories:
                for purpose in purposes:
                    buckets.setdefault((jurisdiction, category, purpose), []).append(rule)
    index: dict[tuple[str, str, str], RuleBucket] = {}
    for key, found in buckets.items():
        oldest = max((r.min_age for r in found if r.min_age is not None), default=0)
        by_age = tuple(
            RulesInPlay.of(tuple(r for r in found if r.min_age is None or age < r.min_age))
            for age in range(oldest)
        )
        always = RulesInPlay.of(tuple(r for r in found if r.min_age is None))
        index[key] = (always, by_age, oldest)
    return index
