"""Every string the pages show has a Spanish and a German translation in the catalogs, and the
language follows the switch, then Accept-Language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from marketplace.web.i18n import catalog, negotiate
from marketplace.web.reasons import REASON_SENTENCES
from policies import CATEGORIES, PURPOSES, load_bundle

WEB = Path(__file__).resolve().parents[2] / "marketplace" / "web"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def shown_strings() -> set[str]:
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            WEB, METHODS, OPTIONS, keywords={"_": None, "t": None, "gettext": None}
        )
        if isinstance(message, str) and message
    }
    found |= {c.code for c in CATEGORIES} | {p.code for p in PURPOSES}
    found |= set(REASON_SENTENCES.values())
    found |= {rule.description for rule in load_bundle().rules}
    return found


def test_every_shown_string_is_translated_to_spanish_and_german():
    strings = shown_strings()
    assert len(strings) > 150
    for language in ("es", "de"):
        missing = sorted(s for s in strings if s not in catalog(language))
        assert missing == [], f"{language}: {missing[:10]}"


def test_the_switch_wins_then_the_browser_then_english():
    assert negotiate("de", "es-ES,es;q=0.9") == "de"
    assert negotiate(None, "fr-FR;q=1, es;q=0.8, de;q=0.5") == "es"
    assert negotiate(None, "de-AT") == "de"
    assert negotiate("xx", "ja") == "en"
    assert negotiate(None, "q=bad;;,") == "en"
