"""The notification catalog: every kind renders in every language with nothing left unfilled,
and the language is the customer's choice, else their country's."""

from __future__ import annotations

import pytest

from offers.obligations import LANGUAGES, NOTIFICATION_KINDS, pick_language
from offers.obligations.messages import render

PARAMS = {
    "partner_name": "Acme",
    "purposes": ["research", "advertising"],
    "categories": ["location", "device"],
    "expires_at": "2027-01-31T10:00:00+00:00",
    "due_at": "2027-02-28T10:00:00+00:00",
    "completed_at": "2027-02-01T10:00:00+00:00",
    "method": "deleted",
    "reason": "revoked",
    "title": "Footfall",
    "version": 2,
    "obligation_state": "open",
}


@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_renders_in_every_language(kind, language):
    title, body = render(kind, PARAMS, language)
    assert title and body and "{" not in body and "}" not in body
    assert "Acme" in body


def test_the_three_languages_differ_and_name_the_vocabulary_in_each():
    bodies = {lang: render("grant.reminder", PARAMS, lang)[1] for lang in LANGUAGES}
    assert len(set(bodies.values())) == 3
    assert "research and advertising" in bodies["en"]
    assert "investigación y publicidad" in bodies["es"]
    assert "Forschung und Werbung" in bodies["de"]
    assert "2027-01-31" in bodies["de"]


def test_a_grant_that_released_nothing_says_there_is_nothing_to_delete():
    body = render("grant.ended", {**PARAMS, "obligation_state": "not_required"}, "en")[1]
    assert "nothing to delete" in body and "2027-02-28" not in body
    owed = render("grant.ended", PARAMS, "en")[1]
    assert "you withdrew your consent" in owed and "2027-02-28" in owed


@pytest.mark.parametrize(
    ("header", "jurisdiction", "language"),
    [
        (None, "ES", "es"),
        (None, "AT", "de"),
        (None, "FR", "en"),
        ("de-DE,de;q=0.9", "ES", "de"),
        ("fr;q=1, es;q=0.5", "DE", "es"),
        ("fr, it", "DE", "de"),
        ("en;q=0.1, es;q=0.8", "DE", "es"),
        ("es;q=0", "FR", "en"),
        ("*;q=abc,de", "FR", "de"),
    ],
)
def test_the_language_is_asked_for_else_the_countrys(header, jurisdiction, language):
    assert pick_language(header, jurisdiction) == language
