"""Dates, figures and money in the page's language (Babel's CLDR data)."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from .i18n import current_language, gettext


def day(value: date | None) -> str:
    return format_date(value, "medium", locale=current_language.get()) if value else "—"


def moment(value: datetime | None) -> str:
    return format_datetime(value, "medium", locale=current_language.get()) if value else "—"


def number(value: float) -> str:
    """A figure such as an epsilon, to two decimals at most."""
    return format_decimal(value, "#,##0.##", locale=current_language.get())


def cents(amount: int, currency: str) -> str:
    return format_currency(amount / 100, currency, locale=current_language.get())


def money(compensation) -> str:
    return cents(compensation.amount, compensation.currency)


FILTERS = {
    "day": day,
    "moment": moment,
    "number": number,
    "cents": cents,
    "money": money,
    "gettext": gettext,
}
