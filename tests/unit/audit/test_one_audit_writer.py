"""audit_entries has one writer: the SQL function `append_audit_entries` (migration 0008).
Statements and code call it; none inserts into the table itself."""

from __future__ import annotations

import re
from pathlib import Path

from sql import MIGRATIONS_DIR, QUERIES_DIR

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("marketplace", "offers", "policies", "ledger", "sql")
INSERT = re.compile(r"INSERT\s+INTO\s+(public\.)?audit_entries\b", re.IGNORECASE)


def _writers(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths if INSERT.search(p.read_text())]


def test_no_query_file_inserts_into_audit_entries():
    assert sorted(QUERIES_DIR.glob("*.sql")), "no query files found"
    assert _writers(sorted(QUERIES_DIR.glob("*.sql"))) == []


def test_no_module_of_the_packages_inserts_into_audit_entries():
    modules = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(modules) > 20
    assert _writers(modules) == []


def test_the_one_writer_is_the_migrations_function():
    writer = MIGRATIONS_DIR / "0008_audit_writer.sql"
    assert _writers([writer]) == ["sql/migrations/0008_audit_writer.sql"]
    for name in ("audit.sql", "offers.sql", "access.sql"):
        assert "append_audit_entries(" in (QUERIES_DIR / name).read_text(), name
    # The ledger's entries go through its own one writer, ledger_post, which calls it.
    assert "ledger_post(" in (QUERIES_DIR / "ledger.sql").read_text()
    ledger_post = (MIGRATIONS_DIR / "0081_ledger_post.sql").read_text()
    assert "PERFORM append_audit_entries(" in ledger_post and not INSERT.search(ledger_post)
