"""`GET /metrics`: the Prometheus exposition, for the operator role only (like /v1/admin).

On the API's own port behind the same bearer authentication, not on a separate port: one
listener to secure, and any API process answers for all of them (see marketplace/metrics.py).
Left out of the OpenAPI document: it is for a scraper, not a partner's client."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from ...metrics import CONTENT_TYPE_LATEST, read_database, render
from ..auth import requires


@get("/metrics", guards=[requires("operator")], include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Every series, the database's read now."""
    settings = state.settings
    database = await read_database(
        state.pool,
        timeout=settings.db_acquire_timeout_seconds,
        replica=state.services.replica,
        max_lag=settings.replica_max_lag_seconds,
    )
    return Response(render(database), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
