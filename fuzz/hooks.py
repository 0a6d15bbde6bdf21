"""Schemathesis hooks for the hostile run (`make fuzz`): loaded through SCHEMATHESIS_HOOKS.

Dates and times carry their published range as formatMinimum/formatMaximum, which the
generator does not read: valid examples come from inside that range, as in the suite's
contract test (outside it is a 400, which the negative phase still sends). JSON Lines answers
(exports, the audit export) are read line by line, so that they are checked too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import schemathesis
from hypothesis import strategies as st

from marketplace.http.dates import EARLIEST, LATEST

_first = datetime.combine(EARLIEST + timedelta(days=1), datetime.min.time())
_last = datetime.combine(LATEST - timedelta(days=1), datetime.min.time())
schemathesis.openapi.format("date", st.dates(EARLIEST, LATEST).map(str))
schemathesis.openapi.format(
    "date-time",
    st.datetimes(_first, _last).map(lambda d: d.replace(tzinfo=UTC).isoformat()),
)


@schemathesis.deserializer("application/jsonl")
def json_lines(ctx, response):
    """Exports and the audit export stream JSON Lines: every line must be one JSON value."""
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]
