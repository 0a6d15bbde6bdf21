"""The fast canonical encoder writes exactly the reference RFC 8785 bytes."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.audit import canonical_json, entry_bytes

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=127))
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_same_bytes_as_the_reference_encoder(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_an_access_decision_entry():
    entry = {
        "kind": "access.decision",
        "at": "2026-01-01T00:00:00Z",
        "jurisdictions": ["DE"],
        "partner_id": "ptn_1",
        "subject": "psn_ab",
        "category": "location",
        "outcome": "denied",
        "reasons": ["no_grant"],
        "rule_ids": [],
        "returned": 0,
        "decision_id": "dec_1",
        "rules_version": "2026-01",
    }
    assert canonical_json(entry) == rfc8785.dumps(entry)


# Entries shaped as the log holds them: string fields, an index, lists of reasons and rule ids,
# optional nulls, now and then a non-ASCII name or a float (integers beyond 2^53 the reference
# refuses, and so does entry_bytes: see below).
names = st.text(max_size=30) | st.text(alphabet=st.characters(max_codepoint=127), max_size=30)
entries = st.fixed_dictionaries(
    {
        "index": st.integers(0, 2**53 - 1),
        "kind": st.sampled_from(["access.decision", "grant.accepted", "grant.revoked"]),
        "at": names,
        "partner_id": names | st.none(),
        "reasons": st.lists(names, max_size=4),
        "returned": st.integers(-SAFE, SAFE) | st.floats(-SAFE, SAFE),
    },
    optional={
        "jurisdictions": st.lists(st.sampled_from(["DE", "FR", "Åland"]), max_size=3),
        "snapshot": st.dictionaries(names, st.none() | st.booleans() | names, max_size=4),
        "flag": st.booleans(),
    },
)


@given(entries)
def test_entries_canonicalise_as_the_reference_encoder(entry):
    assert entry_bytes(entry) == rfc8785.dumps(entry)
    assert entry_bytes(json.loads(rfc8785.dumps(entry))) == rfc8785.dumps(entry)


def test_subclasses_and_tuples_take_the_reference_path_or_agree():
    class Name(str):
        pass

    for value in ({"a": Name("x")}, {"a": (1, "b")}, {"a": True, "b": 1.0}, [-(2**53) + 1]):
        assert canonical_json(value) == rfc8785.dumps(value)


def test_an_integer_beyond_the_double_range_is_refused_as_the_reference_refuses_it():
    with pytest.raises(rfc8785.IntegerDomainError):
        entry_bytes({"index": 2**53})
