"""CLI helpers over the data-access service: bulk ingestion from JSON lines, and `rules explain`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from offers.dataspace import DataSpaceError, NewRecord, decode_record_line, validate_record

from .bootstrap import open_services
from .config import Settings

MAX_REPORTED = 50


def parse_lines(lines, now: datetime) -> tuple[list[tuple[str, NewRecord, int]], list[str]]:
    """Validated (customer_id, record, line number) and the errors, each naming its line."""
    rows: list[tuple[str, NewRecord, int]] = []
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fast = decode_record_line(line, now=now)
        if fast is not None:  # the common clean line: decoded and typed in one pass
            rows.append((fast[0], fast[1], number))
            continue
        where = f"line {number}"
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError as e:
            errors.append(f"{where}: not JSON ({e})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        customer_id = obj.pop("customer_id", None)
        if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 64:
            errors.append(f"{where}: customer_id: required, a customer id")
            continue
        try:
            rows.append((customer_id, validate_record(obj, where, now=now), number))
        except DataSpaceError as e:
            errors.append(f"{e.field}: {e.detail}")
    return rows, errors


async def ingest_file(settings: Settings, file: str) -> int:
    """Validates every line first; loads nothing unless all are good. Returns the exit code."""
    lines = Path(file).read_text(encoding="utf-8").splitlines()
    rows, errors = parse_lines(lines, datetime.now(UTC))
    async with open_services(settings, max_size=2) as services:
        access = services.access
        if not errors:
            missing = await access.missing_customers([cid for cid, _, _ in rows])
            errors += [
                f"line {n}: customer_id: no customer {cid}" for cid, _, n in rows if cid in missing
            ]
        if errors:
            for message in errors[:MAX_REPORTED]:
                print(message, file=sys.stderr)
            more = len(errors) - MAX_REPORTED
            print(
                f"{len(errors)} bad line(s){f' ({more} not shown)' if more > 0 else ''}; "
                "nothing was loaded",
                file=sys.stderr,
            )
            return 1
        result = await access.ingest_rows([(cid, r) for cid, r, _ in rows])
    print(
        f"ingested {result.ingested} record(s) for {result.customers} customer(s): "
        + ", ".join(f"{k} {v}" for k, v in result.by_category.items())
    )
    return 0


async def explain(
    settings: Settings, customer: str, partner: str, category: str, purpose: str
) -> int:
    """Prints the decision a partner's read would get now, and why (not recorded)."""
    async with open_services(settings, max_size=1) as services:
        bundle = services.rules
        try:
            d = await services.access.explain(partner, customer, category, purpose)
        except DataSpaceError as e:
            print(f"error: {e.field + ': ' if e.field else ''}{e.detail}", file=sys.stderr)
            return 2
    descriptions = {r.id: r for r in bundle.rules if r.id in d.rule_ids}
    print(
        f"{'ALLOWED' if d.allowed else 'DENIED'}: partner {partner} reading {category} of "
        f"customer {customer} for {purpose}"
    )
    print(f"  at             {d.at.isoformat()}")
    print(f"  reasons        {', '.join(d.reasons)}")
    print(f"  grant          {d.grant_id or '-'}")
    if d.window_start is not None:
        print(f"  window_start   {d.window_start.isoformat()}")
    if d.obligations:
        print(f"  obligations    {', '.join(d.obligations)}")
    for rule_id in d.rule_ids:
        rule = descriptions[rule_id]
        print(f"  rule {rule_id} ({rule.effect}): {rule.description} [{rule.legal_reference}]")
    print(f"  rules_version  {d.rules_version}")
    return 0
