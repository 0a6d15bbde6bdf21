"""Partner data access (every read through the policy engine) and operator ingestion."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State

from offers.dataspace import AccessDecision, DataAccessService, IngestResult, RecordsPage

from ..auth import requires
from ..schemas import Category, DecisionQuery, IngestRecords, Purpose
from .params import Limit, StartingAfter


class PartnerDataController(Controller):
    path = "/v1/partner"
    guards = [requires("partner")]
    tags = ["partner"]

    @get("/customers/{customer_id:str}/records")
    async def read_records(
        self,
        request: Request,
        customer_id: str,
        access: DataAccessService,
        category: Category,
        purpose: Purpose,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> RecordsPage:
        """Records of one category inside the grant's lookback window, newest first.

        Denied (no grant, ended or paused consent, a jurisdiction rule, …): 403 `access_denied`
        whose `decision` carries the reasons. Every decision is recorded before the response.
        """
        return await access.read_records(
            request.user.sub, customer_id, category, purpose,
            starting_after=starting_after, limit=limit,
        )  # fmt: skip

    @post("/decisions", status_code=200)
    async def decide(
        self, request: Request, data: DecisionQuery, access: DataAccessService
    ) -> AccessDecision:
        """Dry run: the decision a read would get now, with its reasons (recorded), no data."""
        return await access.dry_run(request.user.sub, data.customer_id, data.category, data.purpose)


def records_controller(max_body_bytes: int) -> type[Controller]:
    """The ingestion route, which may take a larger body than the rest of the API."""

    class AdminRecordsController(Controller):
        path = "/v1/admin/customers"
        guards = [requires("operator")]
        tags = ["operator"]

        @post(
            "/{customer_id:str}/records", status_code=201, request_max_body_size=max_body_bytes
        )
        async def ingest_records(
            self, customer_id: str, data: IngestRecords, access: DataAccessService
        ) -> IngestResult:
            """Ingest a batch of records for one customer (all or nothing, ≤ 10,000)."""
            return await access.ingest(
                customer_id, [msgspec.structs.asdict(r) for r in data.records]
            )

    return AdminRecordsController


# Baselines for bench/bench_access.py, mounted only when BENCH_ENDPOINTS=1: the same app,
# middleware and authentication as the partner read, minus the decision.
@get("/bench/json", guards=[requires("partner")], include_in_schema=False)
async def bench_json() -> dict:
    return {"ok": True}


@get("/bench/select/{customer_id:str}", guards=[requires("partner")], include_in_schema=False)
async def bench_select(customer_id: str, access: DataAccessService, category: str) -> dict:
    return {"data": await access.baseline_read(customer_id, category)}


@get("/bench/read-without-audit/{customer_id:str}", guards=[requires("partner")],
     include_in_schema=False)  # fmt: skip
async def bench_read_without_audit(
    request: Request, customer_id: str, state: State, category: str, purpose: str
) -> RecordsPage:
    """The partner read exactly, but its decisions skip the audit entry: the audit-off
    baseline that shows what the audit log costs (`make bench`)."""
    return await state.bench_unaudited.read_records(request.user.sub, customer_id, category, purpose)


BENCH_ROUTES = [bench_json, bench_select, bench_read_without_audit]
