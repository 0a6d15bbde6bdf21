"""The typed fast decoding of ingest lines accepts only what the careful path accepts, and
builds the very same record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from offers.dataspace import DataSpaceError, decode_record_line, validate_record

NOW = datetime(2026, 1, 1, tzinfo=UTC)

texts = st.text(max_size=12) | st.sampled_from(["", "a\x00b", "\ud800", "x" * 201, "é" * 64])
stamps = st.sampled_from(
    [
        "2025-03-01T10:00:00+00:00",
        "2025-03-01T10:00:00Z",
        "2025-03-01 10:00:00.123456+02:00",
        "2025-03-01T10:00:00",  # no offset
        "2027-01-01T00:00:00Z",  # in the future
        "yesterday",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=12)


def mostly(good, bad):
    """`good` three times in four, so that many generated lines are valid."""
    return st.one_of(good, good, good, bad)


fields = {
    "customer_id": mostly(names, texts | st.integers() | st.just("c" * 65)),
    "category": mostly(st.sampled_from(["location", "billing"]), st.just("nope") | st.integers()),
    "recorded_at": mostly(st.sampled_from(["2025-03-01T10:00:00Z"]), stamps | st.integers()),
    "source": mostly(names, texts),
    "payload": mostly(
        st.dictionaries(names, st.integers() | names | st.none(), max_size=3),
        st.dictionaries(texts, json_values, max_size=4) | json_values,
    ),
}
# Mostly whole lines (so that many are valid), some with a field missing or one too many.
lines = st.fixed_dictionaries(fields, optional={"extra": st.just(1)}) | st.fixed_dictionaries(
    {}, optional=fields
)


def careful(obj: dict):
    """What parse_lines' careful path makes of a decoded line: (customer id, record) or None."""
    obj = dict(obj)
    customer_id = obj.pop("customer_id", None)
    if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 64:
        return None
    try:
        return customer_id, validate_record(obj, "line 1", now=NOW)
    except DataSpaceError:
        return None


@settings(max_examples=300)
@given(lines, st.booleans())
def test_fast_decoding_agrees_with_the_careful_path(obj, ascii_only):
    line = json.dumps(obj, ensure_ascii=ascii_only)
    fast = decode_record_line(line, now=NOW)
    if fast is not None:
        assert fast == careful(obj)
        assert decode_record_line(line.encode(), now=NOW) == fast  # (as bytes too)


def test_a_clean_line_takes_the_fast_path():
    line = (
        '{"customer_id": "cus_1", "category": "location", "source": "probe",'
        ' "recorded_at": "2025-03-01T10:00:00Z", "payload": {"cell": "c-1", "mb": 3}}'
    )
    customer_id, record = decode_record_line(line, now=NOW)
    assert customer_id == "cus_1"
    assert record.payload == '{"cell":"c-1","mb":3}'
    assert record == careful(json.loads(line))[1]


def test_an_escaped_nul_is_left_to_the_careful_path():
    line = (
        '{"customer_id": "cus_1", "category": "location", "source": "probe",'
        ' "recorded_at": "2025-03-01T10:00:00Z", "payload": {"note": "a\\u0000b"}}'
    )
    assert decode_record_line(line, now=NOW) is None
    assert careful(json.loads(line)) is None
