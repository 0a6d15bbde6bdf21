"""Baselines for bench/bench_access.py, mounted only when BENCH_ENDPOINTS=1: the same app,
middleware and authentication as the partner read, minus the decision."""

from __future__ import annotations

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import Provide

from offers.dataspace import DataAccessService, RecordsPage

from ..auth import requires
from ..schemas import Category, Purpose
from .params import Limit, StartingAfter


@get("/bench/json", guards=[requires("partner")], include_in_schema=False)
async def bench_json() -> dict:
    return {"ok": True}


@get("/bench/select/{customer_id:str}", guards=[requires("partner")], include_in_schema=False)
async def bench_select(customer_id: str, access: DataAccessService, category: str) -> dict:
    return {"data": await access.baseline_read(customer_id, category)}


def _unaudited(state: State) -> DataAccessService:
    return state.bench_unaudited


@get(
    "/bench/read-without-audit/{customer_id:str}",
    guards=[requires("partner")],
    include_in_schema=False,
    dependencies={"access": Provide(_unaudited, sync_to_thread=False)},
)
async def bench_read_without_audit(
    request: Request,
    customer_id: str,
    access: DataAccessService,
    category: Category,
    purpose: Purpose,
    limit: Limit = 20,
    starting_after: StartingAfter = None,
) -> RecordsPage:
    """The partner read exactly (the same parameters, their validation and the injected
    service), but its decision is stored as a plain decisions row instead of its audit entry:
    the audit-off baseline that shows what the audit log costs (`make bench`)."""
    return await access.read_records(
        request.user.sub,
        customer_id,
        category,
        purpose,
        starting_after=starting_after,
        limit=limit,
    )


ROUTES = [bench_json, bench_select, bench_read_without_audit]
