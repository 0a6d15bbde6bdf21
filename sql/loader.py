"""Loads the named SQL blocks of `sql/queries/*.sql` (each `-- name: x` block, native $1
parameters), so every statement also runs in psql as it is."""

from __future__ import annotations

import re
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent / "queries"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def load_queries(file_name: str) -> dict[str, str]:
    """Split `sql/queries/<file_name>` into its `-- name: x` blocks."""
    text = (QUERIES_DIR / file_name).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
