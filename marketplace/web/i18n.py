"""The pages' languages: Babel message catalogs (English is the source), chosen by the
person's switch, else their browser's Accept-Language."""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

LANGUAGES = ("en", "es", "de")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "de": "Deutsch"}
LOCALES = Path(__file__).parent / "locales"
current_language: ContextVar[str] = ContextVar("current_language", default="en")


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid -> translation, read once from the language's .po catalog (none for English)."""
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return {}
    with path.open("rb") as f:
        po = read_po(f, locale=language)
    return {
        m.id: m.string
        for m in po
        if isinstance(m.id, str) and isinstance(m.string, str) and m.string
    }


def gettext(message: str) -> str:
    return catalog(current_language.get()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def negotiate(chosen: str | None, accept_language: str) -> str:
    """The person's switch if it names a language we have, else the best of their browser's."""
    if chosen in LANGUAGES:
        return chosen
    preferred = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag:
            preferred.append((weight, tag.strip().replace("-", "_")))
    tags = [t for _, t in sorted(preferred, key=lambda p: -p[0])]
    try:
        best = Locale.negotiate(tags, list(LANGUAGES), sep="_") if tags else None
    except (UnknownLocaleError, ValueError):
        best = None
    return best.language if best else "en"
