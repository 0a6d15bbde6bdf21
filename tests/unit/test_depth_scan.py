"""The JSON depth scan of the inbound layer agrees with a parser, however the text is cut."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from marketplace.http.inbound import DepthScan

# Strings full of what could fool a scan: brackets, quotes, backslashes.
tricky = st.text(alphabet='[]{}"\\ab\n', max_size=8)
values = st.recursive(
    st.none() | st.integers() | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=40,
)


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(values, st.integers(0, 12), st.lists(st.integers(1, 9), min_size=1, max_size=20))
def test_depth_past_the_limit_is_found_across_any_chunking(value, limit, cuts):
    text = json.dumps(value, ensure_ascii=False).encode()
    scan, at, i = DepthScan(limit), 0, 0
    while at < len(text):
        size = cuts[i % len(cuts)]
        scan.feed(text[at : at + size])
        at, i = at + size, i + 1
    assert scan.too_deep == (_depth(value) > limit)
    assert scan.depth == 0 and not scan.in_string


def test_a_deep_document_is_found_in_one_chunk():
    assert DepthScan(64).feed(b"[" * 65)
    assert not DepthScan(64).feed(b"[" * 64 + b"]" * 64)
    assert not DepthScan(64).feed(b'["' + b"[" * 1000 + b'"]')
