"""The fast canonical encoder writes exactly the reference RFC 8785 bytes."""

from __future__ import annotations

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.audit import canonical_json

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
