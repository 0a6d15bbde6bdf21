"""Loads the named SQL blocks of `sql/queries/*.sql` (each `-- name: x` block, native $1
parameters). The lowest package holds it so every repository can use the one loader."""

from __future__ import annotations

import re
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[1] / "sql" / "queries"


def load_queries(file_name: str) -> dict[str, str]:
    """Split `sql/queries/<file_name>` into its `-- name: x` blocks."""
    text = (QUERIES_DIR / file_name).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
