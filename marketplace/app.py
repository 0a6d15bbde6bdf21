"""The one place where the application is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from offers.obligations import Clock, system_clock
from policies import load_bundle

from .bootstrap import bootstrap, create_replica_pool, database_url, load_keys
from .config import Settings
from .db import create_pool, migrate
from .http import (
    EXCEPTION_HANDLERS,
    Admission,
    BearerAuthMiddleware,
    Contract,
    OfflineSwaggerPlugin,
    RateLimits,
    TokenVerifier,
    admission_middleware,
    contract_middleware,
    docs_router,
    fix_document,
    idempotency_middleware,
    inbound_middleware,
    rate_limit_middleware,
    retry_middleware,
    route_body_limit,
    route_handlers,
    strict_body,
)
from .keys import KeyLifecycleError
from .logs import configure_logging, request_log_middleware
from .metrics import metrics_middleware
from .web import (
    UNAUTHENTICATED_PATHS,
    root,
    static_router,
    template_config,
    web_router,
    web_stores,
)

API_DESCRIPTION = """Consent-gated personal-data marketplace.

Customers see, delete, take along and earn from the data their phones generate; partners get
scoped, time-limited, revocable access through grants; every error is RFC 9457 problem+json
with a stable `code`. Authenticate with `Authorization: Bearer <JWT>` (EdDSA or ES256)."""


log = logging.getLogger("marketplace.app")
# Services injected by name into the handlers that ask for them (`money` is the ledger's).
SERVICE_NAMES = (
    "consent",
    "audit",
    "access",
    "money",
    "dataspace",
    "webhooks",
    "obligations",
    "insights",
)
STATE_TO_SERVICE = {"money": "ledger"}


def create_app(settings: Settings, *, clock: Clock = system_clock) -> Litestar:
    """The app; `clock` is the services' time for obligations, expiry and notifications
    (tests pass one they move forward)."""
    configure_logging(json=settings.log_json)
    keys = load_keys(settings)
    rules = load_bundle()  # validated now: a bad rule file stops the start with a clear error

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = database_url(settings)
        await migrate(url)
        pool = await create_pool(
            url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        replica_pool = await create_replica_pool(
            settings,
            max_size=settings.db_pool_max,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        services = bootstrap(
            settings,
            pool,
            replica_pool=replica_pool,
            keys=keys,
            rules=rules,
            metrics=True,
            clock=clock,
        )

        async def close_pools() -> None:
            if replica_pool is not None:
                await replica_pool.close()
            await pool.close()

        try:
            await services.key_lifecycle.settle()
        except KeyLifecycleError as e:  # one clear line, not only uvicorn's traceback
            log.error("signing_key_refused", extra={"detail": str(e)})
            await close_pools()
            raise
        app.state.pool = pool
        app.state.services = services
        for name in SERVICE_NAMES:
            app.state[name] = getattr(services, STATE_TO_SERVICE.get(name, name))
        if settings.bench_endpoints:
            app.state.bench_unaudited = bootstrap(
                settings, pool, keys=keys, rules=rules, audit_decisions=False
            ).access
        try:
            yield
        finally:
            await close_pools()

    app = Litestar(
        route_handlers=[
            *route_handlers(
                max_ingest_body_bytes=settings.max_ingest_body_bytes,
                bench_endpoints=settings.bench_endpoints,
            ),
            # The pages: the customer's Personal Data Space and the regulator's view.
            root,
            web_router(settings),
            static_router(),
        ],
        template_config=template_config(),
        stores=web_stores(settings),
        lifespan=[lifespan],
        # Services built in the lifespan, injected by name into the handlers that ask for them.
        dependencies={name: _from_state(name) for name in SERVICE_NAMES},
        middleware=[
            contract_middleware,
            DefineMiddleware(BearerAuthMiddleware, exclude=["^/schema", *UNAUTHENTICATED_PATHS]),
            rate_limit_middleware(
                RateLimits(
                    settings.rate_limit_reads_per_second,
                    settings.rate_limit_writes_per_second,
                    settings.api_processes,
                )
            ),
            idempotency_middleware,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_body,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Consent marketplace API",
            version="1.0.0",
            description=API_DESCRIPTION,
            openapi_router=docs_router(),
            render_plugins=[OfflineSwaggerPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=False,
        # Our own configure_logging (above) renders every library's records as JSON lines;
        # Litestar's default would put its plain-text formatter back on the root logger.
        logging_config=None,
    )
    app.state.settings = settings
    app.state.keyring = keys
    app.state.verifier = TokenVerifier(
        keys, settings.jwt_issuers, settings.jwt_audience, settings.token_max_lifetime_seconds
    )
    app.state.rules = rules
    fix_document(app)
    app.state.contract = Contract(app)
    # A read whose connection broke is run once more, inside its place in line.
    app.asgi_handler = retry_middleware(app.asgi_handler)
    # Inside the log line's timer, so a request's logged duration includes its wait in line.
    app.asgi_handler = admission_middleware(app.asgi_handler, Admission.of(settings))
    # Around everything that reads a body: size and depth hold while it is read, and a
    # request whose client went away (even while waiting in line) is cancelled.
    app.asgi_handler = inbound_middleware(
        app.asgi_handler, route_body_limit(settings.max_body_bytes)
    )
    # Around Litestar's own error handling, so errors are counted and logged with their status.
    app.asgi_handler = metrics_middleware(app.asgi_handler)
    app.asgi_handler = request_log_middleware(app.asgi_handler)
    return app


def _from_state(name: str) -> Provide:
    def provide(state: State):
        return state[name]

    return Provide(provide, sync_to_thread=False)


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` (several workers each build their own app)."""
    return create_app(Settings.from_env())
