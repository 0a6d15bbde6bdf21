"""The closed vocabulary: data categories and purposes (with W3C DPV IRIs) and jurisdiction codes.

Codes are part of the public contract (`/v1/vocabulary`, grants, rules): never rename one.
"""

from __future__ import annotations

import msgspec

_PD = "https://w3id.org/dpv/pd#"
_DPV = "https://w3id.org/dpv#"


class Term(msgspec.Struct, frozen=True, kw_only=True):
    """One vocabulary entry: a stable code, its DPV concept and customer-readable text."""

    code: str
    iri: str
    label: str
    description: str
    # GDPR Art. 9 special category: rules for special categories must cover every such term.
    special: bool = False


CATEGORIES: tuple[Term, ...] = (
    Term(
        code="location",
        iri=_PD + "Location",
        label="Location",
        description="Where your phone has been, from the cells and Wi-Fi it connected to.",
    ),
    Term(
        code="call_records",
        iri=_PD + "CallLog",
        label="Call records",
        description="Whom you called or texted, when, and for how long.",
    ),
    Term(
        code="data_usage",
        iri=_PD + "UsageHistory",
        label="Data usage",
        description="How much mobile data you used, and when.",
    ),
    Term(
        code="browsing",
        iri=_PD + "BrowsingBehaviour",
        label="Browsing",
        description="Which websites and apps your connection reached.",
    ),
    Term(
        code="device",
        iri=_PD + "DeviceBased",
        label="Device",
        description="The make, model and software of your phone.",
    ),
    Term(
        code="demographics",
        iri=_PD + "Demographic",
        label="Demographics",
        description="Your age group, gender and region as held in your contract.",
    ),
    Term(
        code="billing",
        iri=_PD + "Transactional",
        label="Billing",
        description="Your plan, bills and payments.",
    ),
    Term(
        code="health",
        iri=_PD + "Health",
        label="Health",
        special=True,
        description="Health information, such as from health apps or services on your bill.",
    ),
)

PURPOSES: tuple[Term, ...] = (
    Term(
        code="advertising",
        iri=_DPV + "Advertising",
        label="Advertising",
        description="Showing you advertisements.",
    ),
    Term(
        code="personalised_offers",
        iri=_DPV + "PersonalisedAdvertising",
        label="Personalised offers",
        description="Choosing offers and advertisements for you based on your data.",
    ),
    Term(
        code="aggregated_analytics",
        iri=_DPV + "CommercialResearch",
        label="Aggregated analytics",
        description="Statistics over many customers, such as footfall in a shopping street.",
    ),
    Term(
        code="research",
        iri=_DPV + "AcademicResearch",
        label="Research",
        description="Academic research.",
    ),
    Term(
        code="service_improvement",
        iri=_DPV + "ServiceOptimisation",
        label="Service improvement",
        description="Improving the partner's products and services.",
    ),
)

CATEGORY_CODES: frozenset[str] = frozenset(t.code for t in CATEGORIES)
PURPOSE_CODES: frozenset[str] = frozenset(t.code for t in PURPOSES)
SPECIAL_CATEGORIES: frozenset[str] = frozenset(t.code for t in CATEGORIES if t.special)

# Rule effects other than "forbid": obligations the data path must honour when it allows access.
OBLIGATIONS: tuple[str, ...] = ("aggregate_only",)


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


EU_MEMBER_STATES: frozenset[str] = _codes(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE HU"
)
# GDPR applies in the EEA: the EU plus Iceland, Liechtenstein and Norway.
EEA_STATES: frozenset[str] = EU_MEMBER_STATES | {"IS", "LI", "NO"}

# ISO 3166-1 alpha-2, officially assigned codes.
JURISDICTIONS: frozenset[str] = _codes("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""")

# Group names a rule file may use in `jurisdictions`; expanded when the bundle is loaded.
JURISDICTION_GROUPS: dict[str, frozenset[str]] = {"EU": EU_MEMBER_STATES, "EEA": EEA_STATES}


def is_category(code: object) -> bool:
    """True if `code` is a data category of the vocabulary."""
    return code in CATEGORY_CODES


def is_purpose(code: object) -> bool:
    """True if `code` is a purpose of the vocabulary."""
    return code in PURPOSE_CODES


def is_jurisdiction(code: object) -> bool:
    """True if `code` is an assigned ISO 3166-1 alpha-2 country code."""
    return code in JURISDICTIONS
