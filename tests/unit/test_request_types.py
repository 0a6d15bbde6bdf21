"""Every field of every request body refuses what PostgreSQL cannot store, by its type.

A string without a NUL-refusing pattern reaches PostgreSQL, which cannot hold NUL (a 500); an
integer without bounds overflows bigint (a 500). This walks every body, nested ones included,
so a new field cannot forget either.
"""

from __future__ import annotations

import re

import msgspec
from msgspec import inspect

from marketplace.http import schemas

BIGINT = 2**63 - 1
# Free-form JSON, checked key by key and value by value where it is validated
# (offers.dataspace.validate_record; tests/api/test_data_space.py covers NUL there).
FREE_FORM = {("RecordIn", "payload")}


def _bodies() -> list[type[msgspec.Struct]]:
    seen, todo = [], [schemas.Strict]
    while todo:
        for sub in todo.pop().__subclasses__():
            seen.append(sub)
            todo.append(sub)
    return seen


def _problems(t: inspect.Type, where: str) -> list[str]:
    if isinstance(t, inspect.StrType):
        if t.pattern is None or re.search(t.pattern, "a\x00b"):
            return [f"{where}: a string that accepts NUL"]
        return []
    if isinstance(t, inspect.IntType):
        low = t.ge if t.ge is not None else t.gt
        high = t.le if t.le is not None else t.lt
        if low is None or high is None or low < -BIGINT - 1 or high > BIGINT:
            return [f"{where}: an integer not bounded to bigint"]
        return []
    if isinstance(t, inspect.UnionType):
        return [p for i, u in enumerate(t.types) for p in _problems(u, f"{where}|{i}")]
    if isinstance(t, (inspect.ListType, inspect.SetType, inspect.FrozenSetType)):
        return _problems(t.item_type, f"{where}[]")
    if isinstance(t, inspect.DictType):
        return _problems(t.key_type, f"{where}{{key}}") + _problems(t.value_type, f"{where}{{}}")
    if isinstance(t, inspect.StructType):
        return [
            p
            for f in t.fields
            if (t.cls.__name__, f.name) not in FREE_FORM
            for p in _problems(f.type, f"{t.cls.__name__}.{f.name}")
        ]
    return []


def test_every_body_string_refuses_nul_and_every_integer_fits_bigint():
    bodies = _bodies()
    assert {"EscrowAdjustment", "CreateFunding", "IngestRecords"} <= {b.__name__ for b in bodies}
    problems = [p for body in bodies for p in _problems(inspect.type_info(body), body.__name__)]
    assert problems == []


def test_the_walk_finds_a_field_that_would_accept_nul():
    class Loose(msgspec.Struct):
        note: str
        count: int

    assert _problems(inspect.type_info(Loose), "Loose") == [
        "Loose.note: a string that accepts NUL",
        "Loose.count: an integer not bounded to bigint",
    ]
