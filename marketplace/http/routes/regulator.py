"""Regulator endpoints (`/v1/audit`): regulators read their jurisdictions' entries and verify
the whole tree; the checkpoint verifier key is public. Hashes in JSON are lowercase hex."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream
from litestar.types import ControllerRouterHandler

from ledger.audit import (
    AuditPage,
    AuditQueryInvalid,
    AuditService,
    DayMetrics,
    SealedEntry,
)
from offers.obligations import ObligationService

from ..auth import requires
from .params import Limit

TEXT = "text/plain; charset=utf-8"
JSON_LINES = "application/jsonl"

LeafIndex = Annotated[int | None, Parameter(ge=-1, description="the last leaf index seen")]
Text = Annotated[str | None, Parameter(max_length=100)]
From = Annotated[datetime | None, Parameter(query="from", description="at or after (RFC 3339)")]
To = Annotated[datetime | None, Parameter(query="to", description="before (RFC 3339)")]

_encoder = msgspec.json.Encoder()


def _filters(start, end, kind, partner_id, category, outcome, subject, rule, **extra) -> dict:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise AuditQueryInvalid(f"{name} needs a UTC offset", field=name)
    f = {
        "from": start,
        "to": end,
        "kind": kind,
        "partner_id": partner_id,
        "category": category,
        "outcome": outcome,
        "subject": subject,
        "rule": rule,
        **extra,
    }
    return {k: v for k, v in f.items() if v is not None}


def _hex_list(hashes) -> list[str | None]:
    return [h.hex() if h is not None else None for h in hashes]


class AuditController(Controller):
    path = "/v1/audit"
    guards = [requires("regulator")]
    tags = ["regulator"]

    @get("/entries", operation_id="listAuditEntries")
    async def entries(
        self,
        request: Request,
        audit: AuditService,
        start: From = None,
        end: To = None,
        kind: Text = None,
        partner_id: Text = None,
        category: Text = None,
        outcome: Text = None,
        subject: Text = None,
        rule: Text = None,
        starting_after: LeafIndex = None,
        limit: Limit = 20,
    ) -> AuditPage[SealedEntry]:
        """Sealed entries of the token's jurisdictions, ascending by `leaf_index`.

        `entry` is the exact canonical JSON text the leaf hashes: SHA-256(0x00 ‖ UTF-8 bytes).
        `rule` keeps the decisions one rule of the bundle took part in (its id in `rule_ids`).
        """
        f = _filters(start, end, kind, partner_id, category, outcome, subject, rule)
        if starting_after is not None:
            f["starting_after"] = starting_after
        return await audit.entries(list(request.user.jurisdictions), f, limit=limit)

    @get("/export", operation_id="exportAuditEntries", media_type=JSON_LINES)
    async def export(
        self,
        request: Request,
        audit: AuditService,
        start: From = None,
        end: To = None,
        kind: Text = None,
        partner_id: Text = None,
        category: Text = None,
        outcome: Text = None,
        subject: Text = None,
        rule: Text = None,
        starting_after: LeafIndex = None,
        tree_size: Annotated[int | None, Parameter(ge=0)] = None,
    ) -> Stream:
        """Every matching sealed entry as JSON Lines (same shape as /entries), streamed.

        `tree_size` limits the export to the leaves of that checkpoint.
        """
        f = _filters(start, end, kind, partner_id, category, outcome, subject, rule)
        if starting_after is not None:
            f["starting_after"] = starting_after
        if tree_size is not None:
            f["before"] = tree_size

        async def lines() -> AsyncIterator[bytes]:
            async for entry in audit.export(list(request.user.jurisdictions), f):
                yield _encoder.encode(entry) + b"\n"

        return Stream(lines(), media_type=JSON_LINES)

    @get("/checkpoint", operation_id="getCheckpoint", media_type=TEXT)
    async def checkpoint(self, audit: AuditService) -> Response[str]:
        """The latest signed checkpoint (C2SP signed note), verifiable with /v1/audit/key."""
        latest = await audit.latest_checkpoint()
        return Response(latest.note, media_type=TEXT)

    @get("/leaves", operation_id="getLeafHashes")
    async def leaves(
        self,
        audit: AuditService,
        start: Annotated[int, Parameter(ge=0)] = 0,
        end: Annotated[int | None, Parameter(ge=0)] = None,
    ) -> dict:
        """Stored leaf hashes of [start, end) of the whole tree (at most 65,536 per call).

        Hashes reveal nothing of other jurisdictions' entries but let a regulator recompute
        the root. `null` marks a missing leaf; `missing_entries` lists leaves whose entry is
        gone. `end` in the response may be smaller than asked: continue from there.
        """
        r = await audit.leaves(start, end)
        return {
            "start": r.start,
            "end": r.end,
            "encoding": "hex",
            "hashes": _hex_list(r.hashes),
            "missing_entries": r.missing_entries,
        }

    @get("/proofs/inclusion", operation_id="getInclusionProof")
    async def inclusion(
        self,
        audit: AuditService,
        index: Annotated[int, Parameter(ge=0)],
        tree_size: Annotated[int, Parameter(ge=1)],
    ) -> dict:
        """RFC 9162 inclusion proof of leaf `index` in the tree of `tree_size` (hex hashes)."""
        p = await audit.inclusion_proof(index, tree_size)
        return {
            **p,
            "leaf_hash": p["leaf_hash"].hex(),
            "root_hash": p["root_hash"].hex(),
            "proof": _hex_list(p["proof"]),
            "encoding": "hex",
        }

    @get("/proofs/consistency", operation_id="getConsistencyProof")
    async def consistency(
        self,
        audit: AuditService,
        first: Annotated[int, Parameter(ge=0)],
        second: Annotated[int, Parameter(ge=0)],
    ) -> dict:
        """RFC 9162 consistency proof from tree size `first` to `second` (hex hashes)."""
        p = await audit.consistency_proof(first, second)
        return {
            **p,
            "first_root": p["first_root"].hex(),
            "second_root": p["second_root"].hex(),
            "proof": _hex_list(p["proof"]),
            "encoding": "hex",
        }

    @get("/metrics", operation_id="getAuditMetrics")
    async def metrics(
        self,
        request: Request,
        audit: AuditService,
        start: Annotated[date, Parameter(query="from", description="first UTC day")],
        end: Annotated[date, Parameter(query="to", description="last UTC day, inclusive")],
    ) -> dict:
        """Per UTC day: grants active (at day end), new, revoked, expired; decisions by outcome
        and reason — for the token's jurisdictions, from sealed entries."""
        days: list[DayMetrics] = await audit.metrics(
            list(request.user.jurisdictions),
            datetime.combine(start, time(), UTC),
            datetime.combine(end, time(), UTC) + timedelta(days=1),
        )
        return {"jurisdictions": list(request.user.jurisdictions), "days": days}


class DeletionMetricsController(Controller):
    path = "/v1/audit"
    guards = [requires("regulator")]
    tags = ["regulator"]

    @get("/deletion-metrics", operation_id="getDeletionMetrics")
    async def deletion_metrics(self, request: Request, obligations: ObligationService) -> dict:
        """Per partner, over deletion obligations of customers in the token's jurisdictions:
        opened, confirmed in time, confirmed late, open past the deadline, and the median
        seconds from opening to confirmation (obligations that owed nothing are left out)."""
        jurisdictions = list(request.user.jurisdictions)
        return {
            "jurisdictions": jurisdictions,
            "partners": await obligations.metrics(jurisdictions),
        }


@get(
    "/v1/audit/key",
    operation_id="getAuditKey",
    opt={"exclude_from_auth": True},
    tags=["public"],
    media_type=TEXT,
)
async def audit_key(state: State) -> Response[str]:
    """The checkpoint verifier key, "<name>+<key ID>+<base64 Ed25519 key>" (Go note format),
    of the key that signs checkpoints now; /v1/audit/keys lists retired ones too."""
    return Response(state.audit.verifier_key() + "\n", media_type=TEXT)


@get(
    "/v1/audit/keys", operation_id="listAuditKeys", opt={"exclude_from_auth": True}, tags=["public"]
)
async def audit_keys(state: State) -> dict:
    """Every checkpoint verifier key the log was ever signed with, the active one first: a
    checkpoint signed before a key rotation verifies with its retired key."""
    return {"keys": await state.services.key_lifecycle.verifier_keys()}


ROUTES: list[ControllerRouterHandler] = [
    AuditController,
    DeletionMetricsController,
    audit_key,
    audit_keys,
]
