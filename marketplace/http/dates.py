"""The one range every date and time a caller sends must fall in (DESIGN §3.11).

Year 1 reaches PostgreSQL as `-infinity` (asyncpg maps `datetime.min` so) and a range from
there is work without end; years past 2100 mean nothing here either. Bodies check the range at
decode (`schemas.Strict`), query parameters in the request contract (`contract.py`), and the
OpenAPI publishes it on every date and date-time input (`openapi.py`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)
RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()} (UTC)"
# JSON Schema (draft 2019-09 format-assertion vocabulary, as ajv spells it) per format.
FORMAT_BOUNDS = {
    "date": (EARLIEST.isoformat(), LATEST.isoformat()),
    "date-time": (f"{EARLIEST.isoformat()}T00:00:00Z", f"{LATEST.isoformat()}T23:59:59.999999Z"),
}


def in_range(value: date | datetime) -> bool:
    """Whether `value` (a date, or a time: naive ones are taken as UTC) is inside the range."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST - timedelta(days=1) <= day <= LATEST + timedelta(days=1):
        return False  # far outside: converting such a time to UTC could overflow
    if isinstance(value, datetime) and value.tzinfo is not None:
        day = value.astimezone(UTC).date()
    return EARLIEST <= day <= LATEST
