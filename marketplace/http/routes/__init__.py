"""HTTP handlers, one module per audience (plus the Stripe webhook and the bench baselines)."""

from litestar.types import ControllerRouterHandler

from . import bench, customer, metrics, operator, partner, public, regulator, stripe


def route_handlers(
    *, max_ingest_body_bytes: int, bench_endpoints: bool
) -> list[ControllerRouterHandler]:
    """Every route of the API; the bench baselines only when asked for (never in production)."""
    return [
        *public.ROUTES,
        *customer.ROUTES,
        *partner.ROUTES,
        *operator.routes(max_ingest_body_bytes),
        *regulator.ROUTES,
        *stripe.ROUTES,
        *metrics.ROUTES,
        *(bench.ROUTES if bench_endpoints else []),
    ]
