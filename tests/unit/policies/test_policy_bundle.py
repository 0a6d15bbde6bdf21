"""Loading the rule bundle: validation errors name file and field; the version is a content hash."""

from __future__ import annotations

import shutil

import pytest

from policies import RuleBundleInvalid, load_bundle
from policies.rules import RULES_DIR
from policies.vocabulary import (
    CATEGORIES,
    EU_MEMBER_STATES,
    PURPOSES,
    SPECIAL_CATEGORIES,
    is_category,
    is_purpose,
)

GOOD = """\
[[rules]]
id = "de-location-trading"
jurisdictions = ["DE"]
categories = ["location"]
effect = "forbid"
legal_reference = "TTDSG § 13"
description = "In Germany, your location data cannot be shared with companies."
"""


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


BAD = [
    # (case id, text, field, words in the problem)
    (
        "unknown-category",
        GOOD.replace('"location"', '"lokation"'),
        "rules[0].categories",
        "unknown category 'lokation'",
    ),
    (
        "unknown-purpose",
        GOOD + 'purposes = ["adverts"]\n',
        "rules[0].purposes",
        "unknown purpose 'adverts'",
    ),
    ("unknown-key", GOOD + 'severity = "high"\n', "rules[0].severity", "unknown key"),
    ("unknown-top-level-key", "version = 2\n" + GOOD, "version", "unknown key"),
    ("unknown-effect", GOOD.replace('"forbid"', '"deny"'), "rules[0].effect", "unknown effect"),
    (
        "bad-jurisdiction",
        GOOD.replace('["DE"]', '["GER"]'),
        "rules[0].jurisdictions",
        "unknown jurisdiction 'GER'",
    ),
    (
        "lowercase-jurisdiction",
        GOOD.replace('["DE"]', '["de"]'),
        "rules[0].jurisdictions",
        "unknown jurisdiction 'de'",
    ),
    ("empty-jurisdictions", GOOD.replace('["DE"]', "[]"), "rules[0].jurisdictions", "empty"),
    (
        "missing-legal-reference",
        GOOD.replace('legal_reference = "TTDSG § 13"\n', ""),
        "rules[0].legal_reference",
        "missing",
    ),
    (
        "missing-description",
        GOOD.replace(
            'description = "In Germany, your location data cannot be shared with companies."\n', ""
        ),
        "rules[0].description",
        "missing",
    ),
    (
        "blank-description",
        GOOD.replace('"In Germany, your location data cannot be shared with companies."', '"  "'),
        "rules[0].description",
        "non-empty",
    ),
    (
        "categories-not-a-list",
        GOOD.replace('["location"]', '"location"'),
        "rules[0].categories",
        "array of strings",
    ),
    ("bad-min-age", GOOD + "min_age = -3\n", "rules[0].min_age", "whole number"),
    ("min-age-not-int", GOOD + "min_age = 16.5\n", "rules[0].min_age", "whole number"),
    (
        "bad-rule-id",
        GOOD.replace('"de-location-trading"', '"DE Location"'),
        "rules[0].id",
        "not a rule id",
    ),
    (
        "replaces-unknown",
        GOOD + 'replaces = "nothing-here"\n',
        "rules[0].replaces",
        "no other rule",
    ),
    (
        "second-rule-named",
        GOOD + GOOD.replace('"de-location-trading"', '"x"').replace('"forbid"', '"bogus"'),
        "rules[1].effect",
        "unknown effect",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_invalid_rule_file_names_file_and_field(tmp_path, text, field, problem):
    write(tmp_path, "de.toml", text)
    with pytest.raises(RuleBundleInvalid) as caught:
        load_bundle(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'de.toml'}: {field}: ")
    assert problem in message
    assert caught.value.code == "rule_bundle_invalid"
    assert caught.value.field == field


def test_not_toml_names_the_file(tmp_path):
    write(tmp_path, "fr.toml", "[[rules]\nid = ")
    with pytest.raises(RuleBundleInvalid, match=r"fr\.toml: not valid TOML"):
        load_bundle(tmp_path)


def test_duplicate_rule_id_across_files(tmp_path):
    write(tmp_path, "de.toml", GOOD)
    write(tmp_path, "eu.toml", GOOD)
    with pytest.raises(RuleBundleInvalid) as caught:
        load_bundle(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'eu.toml'}: rules[0].id: duplicate")
    assert "de.toml" in str(caught.value)


def test_empty_directory_is_invalid(tmp_path):
    with pytest.raises(RuleBundleInvalid, match="no rule files"):
        load_bundle(tmp_path)


def test_shipped_file_errors_name_the_package_path(tmp_path, monkeypatch):
    import policies.rules as rules_module

    rules_dir = tmp_path / "policies" / "rules"
    rules_dir.mkdir(parents=True)
    write(rules_dir, "de.toml", GOOD.replace('"location"', '"lokation"'))
    monkeypatch.setattr(rules_module, "RULES_DIR", rules_dir)
    with pytest.raises(RuleBundleInvalid) as caught:
        load_bundle()
    assert str(caught.value) == (
        "policies/rules/de.toml: rules[0].categories: unknown category 'lokation'"
    )


def test_version_is_stable_and_follows_content(tmp_path):
    write(tmp_path, "de.toml", GOOD)
    first = load_bundle(tmp_path).version
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert load_bundle(tmp_path).version == first
    write(tmp_path, "de.toml", GOOD.replace("§ 13", "§ 14"))
    assert load_bundle(tmp_path).version != first
    write(tmp_path, "de.toml", GOOD)
    assert load_bundle(tmp_path).version == first


def test_version_depends_on_file_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a, "de.toml", GOOD)
    write(b, "at.toml", GOOD)
    assert load_bundle(a).version != load_bundle(b).version


def test_shipped_bundle_loads_and_copies_hash_alike(tmp_path):
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    assert load_bundle(tmp_path / "rules").version == load_bundle().version


def test_eu_group_expands_and_replacement_removes_national_states():
    rules = {rule.id: rule for rule in load_bundle().rules}
    assert set(rules["gdpr-art9-advertising"].jurisdictions) == EU_MEMBER_STATES
    default_age = set(rules["gdpr-art8-age-eu"].jurisdictions)
    assert default_age == EU_MEMBER_STATES - {"DE", "FR", "ES", "IT", "NL"}
    assert [rules[f"gdpr-art8-age-{c}"].min_age for c in ("de", "fr", "es", "it", "nl")] == [
        16,
        15,
        14,
        14,
        16,
    ]


def test_art9_rule_covers_every_special_category():
    rule = next(r for r in load_bundle().rules if r.id == "gdpr-art9-advertising")
    assert SPECIAL_CATEGORIES and SPECIAL_CATEGORIES <= set(rule.categories)


def test_every_shipped_rule_is_explained_and_sourced():
    for rule in load_bundle().rules:
        assert rule.legal_reference and rule.description.endswith(".")
        assert rule.source_file.startswith("policies/rules/")


def test_vocabulary_is_closed_and_mapped_to_dpv():
    assert [t.code for t in CATEGORIES][:7] == [
        "location",
        "call_records",
        "data_usage",
        "browsing",
        "device",
        "demographics",
        "billing",
    ]
    assert [t.code for t in PURPOSES] == [
        "advertising",
        "personalised_offers",
        "aggregated_analytics",
        "research",
        "service_improvement",
    ]
    for term in (*CATEGORIES, *PURPOSES):
        assert term.iri.startswith("https://w3id.org/dpv")
        assert term.description.endswith(".")
    assert is_category("location") and not is_category("advertising")
    assert is_purpose("research") and not is_purpose("location")
    assert not is_category(None)


def test_every_shipped_rule_speaks_spanish_german_and_english():
    from policies import load_bundle
    from policies.rules import SENTENCE_LANGUAGES

    for rule in load_bundle().rules:
        assert rule.description, rule.id
        assert {lang for lang, text in rule.sentences if text} == set(SENTENCE_LANGUAGES), rule.id
        assert rule.sentence("de") != rule.description != rule.sentence("es")
