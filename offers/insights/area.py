"""Where and when a release counts: H3 cells of the area, time buckets and age bands.

Every limit is checked here, before any SQL runs; the queries bound the same ranges again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import h3

from .errors import InsightInvalid
from .models import Area, Bucket

MAX_AREA_CELLS = 2_000  # cells a partner names or a bounding box covers
MAX_QUERY_CELLS = 50_000  # the same area at the stored resolution
MAX_VALUES = 100_000  # cells x buckets x bands in one release
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=366)}
BUCKET = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

# Age bands of a breakdown, from birth_date on the day of the release (consent ages are 14-16,
# so the first band starts at 14). Customers with no birth date fall in "unknown".
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("14-24", 14, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 200),
)
UNKNOWN_BAND = "unknown"
BAND_LABELS: tuple[str, ...] = (*(label for label, _, _ in AGE_BANDS), UNKNOWN_BAND)


def age_band(birth: date | None, on: date) -> int:
    """The index in BAND_LABELS of a customer's band on `on`."""
    if birth is None:
        return len(AGE_BANDS)
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    for i, (_, low, high) in enumerate(AGE_BANDS):
        if low <= age <= high:
            return i
    return len(AGE_BANDS)  # younger than any band: never counted in practice (consent age)


def area_cells(area: Area, stored_resolution: int) -> tuple[int, list[str]]:
    """The area's cells (H3 strings, in a stable order) and their resolution."""
    if (area.cells is None) == (area.bbox is None):
        raise InsightInvalid("give either area.cells or area.bbox", field="area")
    if area.cells is not None:
        cells = list(dict.fromkeys(c.lower() for c in area.cells))
        if not cells:
            raise InsightInvalid("area.cells is empty", field="area.cells")
        if len(cells) > MAX_AREA_CELLS:
            raise InsightInvalid(f"at most {MAX_AREA_CELLS} cells", field="area.cells")
        for i, cell in enumerate(cells):
            if not h3.is_valid_cell(cell):
                raise InsightInvalid(f"{cell!r} is not an H3 cell", field=f"area.cells[{i}]")
        resolutions = {h3.get_resolution(c) for c in cells}
        if len(resolutions) != 1:
            raise InsightInvalid("all cells must have one resolution", field="area.cells")
        resolution = resolutions.pop()  # cells carry their own; area.resolution is the box's
    else:
        box = area.bbox
        assert box is not None
        if area.resolution is None:
            raise InsightInvalid("a bounding box needs area.resolution", field="area.resolution")
        resolution = area.resolution
        for name, value, limit in (
            ("south", box.south, 90),
            ("north", box.north, 90),
            ("west", box.west, 180),
            ("east", box.east, 180),
        ):
            if not -limit <= value <= limit:
                raise InsightInvalid(f"must be within ±{limit}", field=f"area.bbox.{name}")
        if box.south >= box.north:
            raise InsightInvalid("south must be below north", field="area.bbox")
        if box.west >= box.east:
            raise InsightInvalid("west must be left of east (no antimeridian)", field="area.bbox")
    if not isinstance(resolution, int) or not 0 <= resolution <= stored_resolution:
        raise InsightInvalid(
            f"resolution must be 0..{stored_resolution} (records are indexed at "
            f"{stored_resolution})",
            field="area.resolution",
        )
    if area.bbox is not None:
        box = area.bbox
        # Refuse a box that would cover too many cells before asking H3 to list them.
        if (
            h3.average_hexagon_area(resolution, "km^2") * MAX_AREA_CELLS
            < _box_km2(box.south, box.west, box.north, box.east) / 2
        ):
            raise InsightInvalid(f"the box covers more than {MAX_AREA_CELLS} cells", field="area")
        polygon = h3.LatLngPoly(
            [
                (box.south, box.west),
                (box.south, box.east),
                (box.north, box.east),
                (box.north, box.west),
            ]
        )
        cells = sorted(h3.h3shape_to_cells(polygon, resolution))
        if not cells:  # a box smaller than one cell: the cell at its centre
            cells = [
                h3.latlng_to_cell(
                    (box.south + box.north) / 2, (box.west + box.east) / 2, resolution
                )
            ]
        if len(cells) > MAX_AREA_CELLS:
            raise InsightInvalid(f"the box covers more than {MAX_AREA_CELLS} cells", field="area")
    fan_out = 7 ** (stored_resolution - resolution)
    if len(cells) * fan_out > MAX_QUERY_CELLS:
        raise InsightInvalid(
            f"the area is too large at resolution {resolution}: use fewer or finer cells",
            field="area",
        )
    return resolution, cells


def _box_km2(south: float, west: float, north: float, east: float) -> float:
    import math

    lat = math.radians((south + north) / 2)
    return (north - south) * 111.32 * (east - west) * 111.32 * max(math.cos(lat), 0.01)


def query_cells(cells: Sequence[str], stored_resolution: int) -> tuple[list[int], list[int]]:
    """(stored-resolution cell, area cell) pairs as integers: what the SQL joins records on."""
    children: list[int] = []
    parents: list[int] = []
    for cell in cells:
        parent = h3.str_to_int(cell)
        for child in h3.cell_to_children(cell, stored_resolution):
            children.append(h3.str_to_int(child))
            parents.append(parent)
    return children, parents


def buckets(start: datetime, end: datetime, bucket: Bucket) -> list[datetime]:
    """The bucket starts of [start, end), aligned on `start`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InsightInvalid("times need an offset", field="start")
    if end <= start:
        raise InsightInvalid("end must be after start", field="end")
    if end - start > MAX_SPAN[bucket]:
        raise InsightInvalid(
            f"at most {MAX_SPAN[bucket].days} days with bucket {bucket!r}", field="end"
        )
    step = BUCKET[bucket]
    out = []
    at = start
    while at < end:
        out.append(at)
        at += step
    return out
