"""The message catalog of customer notifications: every kind in English, Spanish and German.

Notifications are stored language-free (a kind and its parameters) and rendered here when read,
so a customer is told in their language, and a new language needs no data migration. The
vocabulary's labels are translated here too; the jurisdiction rules carry their own sentences
in each language (`policies/rules/*.toml`, `sentences`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

LANGUAGES = ("en", "es", "de")
DEFAULT_LANGUAGE = "en"
# A customer's language when they ask for none: that of their country, else English.
_JURISDICTION_LANGUAGE = {
    "ES": "es",
    "MX": "es",
    "AR": "es",
    "CO": "es",
    "CL": "es",
    "PE": "es",
    "DE": "de",
    "AT": "de",
    "CH": "de",
    "LI": "de",
}

_CATEGORY = {
    "location": {"en": "location", "es": "ubicación", "de": "Standort"},
    "call_records": {"en": "call records", "es": "registros de llamadas", "de": "Anrufdaten"},
    "data_usage": {"en": "data usage", "es": "uso de datos", "de": "Datennutzung"},
    "browsing": {"en": "browsing", "es": "navegación", "de": "Surfverhalten"},
    "device": {"en": "device", "es": "dispositivo", "de": "Gerät"},
    "demographics": {"en": "demographics", "es": "datos demográficos", "de": "Demografie"},
    "billing": {"en": "billing", "es": "facturación", "de": "Abrechnung"},
    "health": {"en": "health", "es": "salud", "de": "Gesundheit"},
}
_PURPOSE = {
    "advertising": {"en": "advertising", "es": "publicidad", "de": "Werbung"},
    "personalised_offers": {
        "en": "personalised offers",
        "es": "ofertas personalizadas",
        "de": "personalisierte Angebote",
    },
    "aggregated_analytics": {
        "en": "aggregated analytics",
        "es": "análisis agregados",
        "de": "aggregierte Analysen",
    },
    "research": {"en": "research", "es": "investigación", "de": "Forschung"},
    "service_improvement": {
        "en": "service improvement",
        "es": "mejora del servicio",
        "de": "Verbesserung des Dienstes",
    },
}
_METHOD = {
    "deleted": {"en": "deleted", "es": "eliminado", "de": "gelöscht"},
    "de_identified": {"en": "de-identified", "es": "anonimizado", "de": "de-identifiziert"},
}
_END_REASON = {
    "revoked": {
        "en": "you withdrew your consent",
        "es": "retiraste tu consentimiento",
        "de": "Sie Ihre Einwilligung widerrufen haben",
    },
    "expired": {
        "en": "it reached its end date",
        "es": "llegó a su fecha de fin",
        "de": "es sein Enddatum erreicht hat",
    },
    "data_erased": {
        "en": "you erased the data it covered",
        "es": "borraste los datos que cubría",
        "de": "Sie die betroffenen Daten gelöscht haben",
    },
}

# (title, body) per kind and language; bodies are str.format templates over the params.
_TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "grant.expiring": {
        "en": (
            "Your consent ends soon",
            "{partner} can use your data for {purposes} until {expires}. After that it ends"
            " unless you accept the offer again.",
        ),
        "es": (
            "Tu consentimiento termina pronto",
            "{partner} puede usar tus datos para {purposes} hasta el {expires}. Después"
            " termina, salvo que vuelvas a aceptar la oferta.",
        ),
        "de": (
            "Ihre Einwilligung endet bald",
            "{partner} darf Ihre Daten bis {expires} für {purposes} nutzen. Danach endet sie,"
            " wenn Sie das Angebot nicht erneut annehmen.",
        ),
    },
    "grant.reminder": {
        "en": (
            "Your consent is still active",
            "A reminder: {partner} can use your data for {purposes} until {expires}. You can"
            " withdraw your consent at any time.",
        ),
        "es": (
            "Tu consentimiento sigue activo",
            "Recordatorio: {partner} puede usar tus datos para {purposes} hasta el {expires}."
            " Puedes retirar tu consentimiento en cualquier momento.",
        ),
        "de": (
            "Ihre Einwilligung ist weiterhin aktiv",
            "Zur Erinnerung: {partner} darf Ihre Daten bis {expires} für {purposes} nutzen."
            " Sie können Ihre Einwilligung jederzeit widerrufen.",
        ),
    },
    "grant.ended": {
        "en": (
            "Your consent has ended",
            "{partner} can no longer use your data, because {reason}. {deletion}",
        ),
        "es": (
            "Tu consentimiento ha terminado",
            "{partner} ya no puede usar tus datos, porque {reason}. {deletion}",
        ),
        "de": (
            "Ihre Einwilligung ist beendet",
            "{partner} darf Ihre Daten nicht mehr nutzen, weil {reason}. {deletion}",
        ),
    },
    "grant.narrowed": {
        "en": (
            "Your consent was narrowed",
            "You erased your {categories} data, so {partner} no longer receives it; the rest"
            " of your consent continues. {deletion}",
        ),
        "es": (
            "Tu consentimiento se ha reducido",
            "Borraste tus datos de {categories}, así que {partner} ya no los recibe; el resto"
            " de tu consentimiento continúa. {deletion}",
        ),
        "de": (
            "Ihre Einwilligung wurde eingeschränkt",
            "Sie haben Ihre Daten zu {categories} gelöscht, daher erhält {partner} sie nicht"
            " mehr; der Rest Ihrer Einwilligung gilt weiter. {deletion}",
        ),
    },
    "deletion.confirmed": {
        "en": (
            "Your data was deleted",
            "{partner} confirmed that it {method} the {categories} data it received from you,"
            " on {completed}. You can download the signed confirmation.",
        ),
        "es": (
            "Tus datos han sido eliminados",
            "{partner} confirmó que ha {method} los datos de {categories} que recibió de ti,"
            " el {completed}. Puedes descargar la confirmación firmada.",
        ),
        "de": (
            "Ihre Daten wurden gelöscht",
            "{partner} hat bestätigt, die erhaltenen Daten zu {categories} am {completed}"
            " {method} zu haben. Sie können die signierte Bestätigung herunterladen.",
        ),
    },
    "deletion.overdue": {
        "en": (
            "A company is late deleting your data",
            "{partner} had to confirm by {due} that it deleted your {categories} data, and has"
            " not. If it does not confirm soon, it will be stopped from reading any data.",
        ),
        "es": (
            "Una empresa se retrasa en borrar tus datos",
            "{partner} debía confirmar antes del {due} que borró tus datos de {categories}, y"
            " no lo ha hecho. Si no lo confirma pronto, ya no podrá leer ningún dato.",
        ),
        "de": (
            "Ein Unternehmen löscht Ihre Daten verspätet",
            "{partner} hätte bis {due} bestätigen müssen, Ihre Daten zu {categories} gelöscht"
            " zu haben, und hat es nicht getan. Bestätigt es nicht bald, darf es keine Daten"
            " mehr lesen.",
        ),
    },
    "offer.changed": {
        "en": (
            "An offer you accepted changed",
            "{partner} changed the offer “{title}” (now version {version}). Your consent keeps"
            " the terms you accepted.",
        ),
        "es": (
            "Una oferta que aceptaste ha cambiado",
            "{partner} cambió la oferta «{title}» (ahora versión {version}). Tu consentimiento"
            " mantiene las condiciones que aceptaste.",
        ),
        "de": (
            "Ein angenommenes Angebot wurde geändert",
            "{partner} hat das Angebot „{title}“ geändert (jetzt Version {version}). Ihre"
            " Einwilligung behält die Bedingungen, denen Sie zugestimmt haben.",
        ),
    },
}
_DELETION_OWED = {
    "en": "It must delete what it received by {due}; we will tell you when it confirms.",
    "es": "Debe borrar lo que recibió antes del {due}; te avisaremos cuando lo confirme.",
    "de": "Es muss das Erhaltene bis {due} löschen; wir sagen Ihnen, wenn es das bestätigt.",
}
_NOTHING_RELEASED = {
    "en": "It never received any of your data under this consent, so there is nothing to delete.",
    "es": "Nunca recibió datos tuyos con este consentimiento, así que no hay nada que borrar.",
    "de": "Es hat unter dieser Einwilligung nie Daten von Ihnen erhalten; nichts ist zu löschen.",
}
KINDS = tuple(_TEXT)
_AND = {"en": "and", "es": "y", "de": "und"}


def language_for(jurisdiction: str) -> str:
    return _JURISDICTION_LANGUAGE.get(jurisdiction, DEFAULT_LANGUAGE)


def pick_language(accept_language: str | None, jurisdiction: str) -> str:
    """The first supported language the customer's Accept-Language names (by q-value), else
    their country's."""
    if accept_language:
        ranked = []
        for n, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            ranked.append((-q, n, tag.strip().lower().split("-")[0]))
        for q, _, lang in sorted(ranked):
            if q < 0 and lang in LANGUAGES:
                return lang
    return language_for(jurisdiction)


def _list(items: Sequence[str], labels: dict[str, dict[str, str]], language: str) -> str:
    names = [labels.get(i, {}).get(language, i) for i in items]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {_AND[language]} {names[-1]}"


def _day(value: Any) -> str:
    return datetime.fromisoformat(value).date().isoformat() if value else ""


def render(kind: str, params: dict[str, Any], language: str) -> tuple[str, str]:
    """The notification's title and body in `language`."""
    title, body = _TEXT[kind][language]
    values = {
        "partner": params.get("partner_name", ""),
        "purposes": _list(params.get("purposes", ()), _PURPOSE, language),
        "categories": _list(params.get("categories", ()), _CATEGORY, language),
        "expires": _day(params.get("expires_at")),
        "due": _day(params.get("due_at")),
        "completed": _day(params.get("completed_at")),
        "method": _METHOD.get(params.get("method", ""), {}).get(language, ""),
        "reason": _END_REASON.get(params.get("reason", ""), {}).get(language, ""),
        "title": params.get("title", ""),
        "version": params.get("version", ""),
        "deletion": "",
    }
    if kind in ("grant.ended", "grant.narrowed"):
        if params.get("obligation_state") == "open":
            values["deletion"] = _DELETION_OWED[language].format(**values)
        else:
            values["deletion"] = _NOTHING_RELEASED[language]
    return title, body.format(**values).strip()
