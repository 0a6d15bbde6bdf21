"""What aggregation needs from a record, taken once at ingestion: where the phone was (as an
H3 cell) and the quantity a category measures. Aggregates then never parse payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h3

from .errors import InvalidInput

# Categories whose records may say where the phone was (payload `lat` and `lon`, WGS 84).
POSITIONED = frozenset({"location", "data_usage"})


def position_of(
    category: str, payload: Mapping[str, Any], where: str, *, strict: bool = True
) -> tuple[float, float] | None:
    """(lat, lon) of a positioned record, None when it carries none. `strict`: a position that
    is there but not a valid one is refused, naming `where.payload.lat` or `.lon`."""
    if category not in POSITIONED or ("lat" not in payload and "lon" not in payload):
        return None
    position = []
    for name, limit in (("lat", 90), ("lon", 180)):
        value = payload.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or abs(value) > limit:
            if not strict:
                return None
            raise InvalidInput(
                f"{name} must be a number within ±{limit} (with lat and lon both given)",
                field=f"{where}.payload.{name}",
            )
        position.append(float(value))
    return position[0], position[1]


def measure_of(
    category: str, payload: Mapping[str, Any], where: str, *, strict: bool = True
) -> int | None:
    """The megabytes (up + down) of a data-usage record; None for other categories or none."""
    if category != "data_usage" or ("mb_down" not in payload and "mb_up" not in payload):
        return None
    total = 0.0
    for name in ("mb_down", "mb_up"):
        value = payload.get(name, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1e9:
            if not strict:
                return None
            raise InvalidInput(
                f"{name} must be a number of megabytes, 0 to 10^9", field=f"{where}.payload.{name}"
            )
        total += value
    return round(total)


def cell_of(position: tuple[float, float] | None, resolution: int) -> int | None:
    """The H3 cell of a position at `resolution`, as its 64-bit integer."""
    if position is None:
        return None
    return h3.str_to_int(h3.latlng_to_cell(position[0], position[1], resolution))
