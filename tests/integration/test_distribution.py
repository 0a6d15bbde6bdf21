"""The schema stays distributable by customer (DESIGN §5, docs/scale.md), checked against the
migrated catalog since Citus itself cannot be installed here.

The rules are the ones Citus enforces when tables are distributed (sql/distribution.py says
where each table goes):
- every table has a declared place; a table naming customers is sharded by them unless its
  place says why not;
- a distributed table's every primary key, unique constraint and unique index includes its
  distribution column;
- a foreign key from a distributed table points to a reference table, or to a table of its
  colocation group joined on the distribution column; a reference table's foreign keys point to
  reference tables only; a local table's to local or reference tables;
- LAYOUT lists each table after the tables it references, so `citus_ddl` runs in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sql.distribution import CUSTOMER_KEY, LAYOUT, Distributed, Local, Reference, placement

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Catalog:
    columns: dict[str, set[str]] = field(default_factory=dict)
    # (table, key name, its plain columns) for every primary key, unique constraint and index
    unique_keys: list[tuple[str, str, list[str]]] = field(default_factory=list)
    # (table, name, columns, referenced table, referenced columns)
    foreign_keys: list[tuple[str, str, list[str], str, list[str]]] = field(default_factory=list)


async def read_catalog(conn) -> Catalog:
    """The public schema's tables (a partition counts as its parent), their columns, unique
    keys and foreign keys, from pg_catalog and information_schema."""
    catalog = Catalog()
    tables = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    )
    names = {r["relname"] for r in tables}
    for r in await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public'"
    ):
        if r["table_name"] in names:
            catalog.columns.setdefault(r["table_name"], set()).add(r["column_name"])
    for r in await conn.fetch(
        """SELECT t.relname AS table_name, i.relname AS key_name,
                  ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                        ORDER BY k.n) AS columns
           FROM pg_index x
           JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = 'public' AND x.indisunique"""
    ):
        if r["table_name"] in names:
            catalog.unique_keys.append((r["table_name"], r["key_name"], list(r["columns"])))
    for r in await conn.fetch(
        """SELECT t.relname AS table_name, c.conname,
                  ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                        ORDER BY k.n) AS columns,
                  f.relname AS referenced,
                  ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                        ORDER BY k.n) AS referenced_columns
           FROM pg_constraint c
           JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class f ON f.oid = c.confrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = 'public' AND c.contype = 'f' AND c.conparentid = 0"""
    ):
        if r["table_name"] in names:
            catalog.foreign_keys.append(
                (
                    r["table_name"],
                    r["conname"],
                    list(r["columns"]),
                    r["referenced"],
                    list(r["referenced_columns"]),
                )
            )
    return catalog


def violations(catalog: Catalog) -> list[str]:
    """Every way the catalog breaks a rule of the module docstring, one line each."""
    found = []
    for table, columns in sorted(catalog.columns.items()):
        p = placement(table)
        if p is None:
            found.append(f"{table}: no place in sql/distribution.py LAYOUT")
        elif isinstance(p, Distributed) and p.column not in columns:
            found.append(f"{table}: distributed by {p.column}, which it does not have")
        elif CUSTOMER_KEY in columns and not (
            isinstance(p, Distributed) or (isinstance(p, Local) and p.customer_ids)
        ):
            found.append(f"{table}: names customers but is neither sharded by them nor says why")
    found += [f"{t}: declared but not in the schema" for t in LAYOUT if t not in catalog.columns]
    for table, key, columns in catalog.unique_keys:
        p = placement(table)
        if isinstance(p, Distributed) and p.column not in columns:
            found.append(f"{table}: unique key {key} ({', '.join(columns)}) lacks {p.column}")
    order = list(LAYOUT)
    for table, name, columns, referenced, referenced_columns in catalog.foreign_keys:
        p, q = placement(table), placement(referenced)
        if p is None or q is None:
            continue  # reported above
        ok = _allowed(p, q, columns, referenced_columns)
        if not ok:
            found.append(
                f"{table}: foreign key {name} ({', '.join(columns)}) -> {referenced}"
                f" ({', '.join(referenced_columns)}) is not one Citus allows between a"
                f" {type(p).__name__.lower()} and a {type(q).__name__.lower()} table"
            )
        if (
            table in LAYOUT
            and referenced in LAYOUT
            and table != referenced
            and type(p) is type(q)
            and order.index(referenced) > order.index(table)
        ):
            found.append(f"{table}: listed before {referenced}, which its key {name} references")
    return found


def _allowed(p, q, columns: list[str], referenced_columns: list[str]) -> bool:
    """Whether Citus accepts a foreign key from a table placed `p` to one placed `q`."""
    if isinstance(q, Reference):
        return True  # every node has a copy to check against
    if isinstance(p, Local) and isinstance(q, Local):
        return True  # both on the coordinator
    if isinstance(p, Distributed) and isinstance(q, Distributed):
        # Within one shard group: the key must join the rows of one customer.
        return (
            p.colocated
            and q.colocated
            and (p.column, q.column) in zip(columns, referenced_columns, strict=True)
        )
    return False


async def test_the_migrated_schema_is_distributable_by_customer(pool):
    async with pool.acquire() as conn:
        catalog = await read_catalog(conn)
    assert violations(catalog) == []
    # The check saw what it is about: the customer-owned tables and their composite keys.
    assert ("grants", "grants_pkey", ["customer_id", "id"]) in catalog.unique_keys
    assert (
        "deletion_obligations",
        "deletion_obligations_grant_fkey",
        ["customer_id", "grant_id"],
        "grants",
        ["customer_id", "id"],
    ) in catalog.foreign_keys


def _catalog(**tables: set[str]) -> Catalog:
    return Catalog(columns=dict(tables))


@pytest.mark.parametrize(
    "catalog, message",
    [
        (
            _catalog(customers={"id"}, grants={"customer_id", "id"}, loose={"customer_id"}),
            "loose: no place",
        ),
        (
            Catalog(
                columns={"customers": {"id"}, "grants": {"customer_id", "id"}},
                unique_keys=[("grants", "grants_pkey", ["id"])],
            ),
            "grants: unique key grants_pkey (id) lacks customer_id",
        ),
        (
            Catalog(
                columns={"grants": {"customer_id", "id"}, "grant_receipts": {"grant_id"}},
                foreign_keys=[("grant_receipts", "fk", ["grant_id"], "grants", ["id"])],
            ),
            "grant_receipts: distributed by customer_id, which it does not have",
        ),
        (
            Catalog(
                columns={"grants": {"customer_id", "id"}, "grant_receipts": {"customer_id"}},
                foreign_keys=[("grant_receipts", "fk", ["grant_id"], "grants", ["id"])],
            ),
            "grant_receipts: foreign key fk (grant_id) -> grants (id) is not one Citus allows",
        ),
        (
            Catalog(
                columns={"payouts": {"customer_id"}, "customers": {"id"}},
                foreign_keys=[("payouts", "fk", ["customer_id"], "customers", ["id"])],
            ),
            "payouts: foreign key fk (customer_id) -> customers (id) is not one Citus allows",
        ),
        (
            Catalog(
                columns={"offers": {"id"}, "grants": {"customer_id", "id"}},
                foreign_keys=[("offers", "fk", ["id"], "grants", ["id"])],
            ),
            "offers: foreign key fk (id) -> grants (id) is not one Citus allows",
        ),
    ],
)
def test_each_rule_catches_what_it_is_for(catalog, message):
    assert any(v.startswith(message) for v in violations(catalog)), violations(catalog)


def test_docs_give_the_ddl_that_distributes_the_schema():
    from sql.distribution import citus_ddl

    assert citus_ddl() in (ROOT / "docs" / "scale.md").read_text()
