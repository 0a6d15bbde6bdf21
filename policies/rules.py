"""Load and validate the jurisdiction rule bundle (`policies/rules/*.toml`) with its version."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from policies.errors import RuleBundleInvalid
from policies.models import Rule, RuleBundle
from policies.vocabulary import (
    CATEGORY_CODES,
    JURISDICTION_GROUPS,
    JURISDICTIONS,
    OBLIGATIONS,
    PURPOSE_CODES,
)

RULES_DIR = Path(__file__).parent / "rules"

_EFFECTS = ("forbid", *OBLIGATIONS)
_RULE_KEYS = frozenset(
    {
        "id",
        "jurisdictions",
        "categories",
        "purposes",
        "effect",
        "min_age",
        "legal_reference",
        "description",
        "sentences",
        "replaces",
    }
)
# `description` is the sentence in English; `sentences` holds it in every other language the
# customer may read (the notification feed and the offer listing speak ES, DE and EN); a
# language missing falls back to English, and a unit test holds every shipped rule complete.
SENTENCE_LANGUAGES = ("es", "de")
_REQUIRED = ("id", "jurisdictions", "effect", "legal_reference", "description")
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def load_bundle(path: str | Path | None = None) -> RuleBundle:
    """Load every `*.toml` under `path` (default: the shipped rules) into a validated bundle.

    A rule may say `replaces = "<rule id>"`: the replaced rule then no longer applies in the
    replacing rule's jurisdictions (a national age of consent replacing the EU default).
    """
    directory = Path(path) if path is not None else RULES_DIR
    files = sorted(directory.glob("*.toml"), key=lambda f: f.name)
    if not files:
        raise RuleBundleInvalid(_display(directory), "", "no rule files (*.toml)")
    digest = hashlib.sha256()
    raw: list[tuple[Rule, str | None, str]] = []  # (rule, replaces, field path for errors)
    for file in files:
        content = file.read_bytes()
        # Name and length prefix every file so that no two bundles hash alike.
        name = file.name.encode()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
        raw.extend(_parse_file(file, content))
    rules = _apply_replacements(raw)
    return RuleBundle(rules=rules, version="sha256:" + digest.hexdigest())


def _display(file: Path) -> str:
    """The file as named in errors: relative to the package parent when shipped, else as given."""
    try:
        return file.resolve().relative_to(RULES_DIR.parent.parent).as_posix()
    except ValueError:
        return str(file)


def _parse_file(file: Path, content: bytes) -> list[tuple[Rule, str | None, str]]:
    where = _display(file)
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RuleBundleInvalid(where, "", f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"rules"})
    if unknown:
        raise RuleBundleInvalid(where, unknown[0], "unknown key (a file holds only [[rules]])")
    entries = data.get("rules", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RuleBundleInvalid(where, "rules", "must be an array of tables ([[rules]])")
    return [_parse_rule(where, f"rules[{i}]", entry) for i, entry in enumerate(entries)]


def _parse_rule(where: str, at: str, entry: dict[str, Any]) -> tuple[Rule, str | None, str]:
    def fail(key: str, problem: str) -> RuleBundleInvalid:
        return RuleBundleInvalid(where, f"{at}.{key}", problem)

    for key in sorted(entry):
        if key not in _RULE_KEYS:
            raise fail(key, "unknown key")
    for key in _REQUIRED:
        if key not in entry:
            raise fail(key, "missing")
    for key in ("id", "effect", "legal_reference", "description", "replaces"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise fail(key, "must be a non-empty string")
    if not _RULE_ID.fullmatch(entry["id"]):
        raise fail("id", f"{entry['id']!r} is not a rule id (lowercase letters, digits, '-')")
    if entry["effect"] not in _EFFECTS:
        raise fail("effect", f"unknown effect {entry['effect']!r} (one of {', '.join(_EFFECTS)})")

    def codes(key: str, known: frozenset[str], noun: str, required: bool) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be an array of strings")
        if required and not value:
            raise fail(key, "must not be empty")
        for item in value:
            if item not in known:
                raise fail(key, f"unknown {noun} {item!r}")
        if len(set(value)) != len(value):
            raise fail(key, "lists a value twice")
        return tuple(value)

    listed = codes("jurisdictions", JURISDICTIONS | set(JURISDICTION_GROUPS), "jurisdiction", True)
    expanded: set[str] = set()
    for code in listed:
        expanded |= JURISDICTION_GROUPS.get(code, {code})
    sentences = entry.get("sentences", {})
    if not isinstance(sentences, dict):
        raise fail("sentences", "must be a table of language = sentence")
    for lang in sorted(sentences):
        if lang not in SENTENCE_LANGUAGES:
            raise fail(f"sentences.{lang}", f"unknown language (one of {SENTENCE_LANGUAGES})")
        if not isinstance(sentences[lang], str) or not sentences[lang].strip():
            raise fail(f"sentences.{lang}", "must be a non-empty string")
    min_age = entry.get("min_age")
    if min_age is not None and (type(min_age) is not int or not 1 <= min_age <= 120):
        raise fail("min_age", "must be a whole number of years between 1 and 120")
    rule = Rule(
        id=entry["id"],
        jurisdictions=tuple(sorted(expanded)),
        categories=codes("categories", CATEGORY_CODES, "category", False),
        purposes=codes("purposes", PURPOSE_CODES, "purpose", False),
        effect=entry["effect"],
        min_age=min_age,
        legal_reference=entry["legal_reference"].strip(),
        description=entry["description"].strip(),
        sentences=tuple(
            (lang, sentences[lang].strip()) for lang in SENTENCE_LANGUAGES if lang in sentences
        ),
        source_file=where,
    )
    return rule, entry.get("replaces"), at


def _apply_replacements(raw: list[tuple[Rule, str | None, str]]) -> tuple[Rule, ...]:
    by_id: dict[str, Rule] = {}
    for rule, _, at in raw:
        if rule.id in by_id:
            first = by_id[rule.id].source_file
            raise RuleBundleInvalid(
                rule.source_file, f"{at}.id", f"duplicate rule id {rule.id!r} (also in {first})"
            )
        by_id[rule.id] = rule
    removed: dict[str, set[str]] = {}
    for rule, replaces, at in raw:
        if replaces is None:
            continue
        if replaces not in by_id or replaces == rule.id:
            raise RuleBundleInvalid(
                rule.source_file, f"{at}.replaces", f"no other rule has id {replaces!r}"
            )
        removed.setdefault(replaces, set()).update(rule.jurisdictions)
    rules = []
    for rule, _, _ in raw:
        if rule.id in removed:
            remaining = tuple(j for j in rule.jurisdictions if j not in removed[rule.id])
            rule = msgspec.structs.replace(rule, jurisdictions=remaining)
        rules.append(rule)
    return tuple(rules)
