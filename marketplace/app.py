"""The one place where the application is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from ledger import LedgerService
from ledger.audit_models import CheckpointSigner
from ledger.audit_service import AuditService
from offers import (
    ConsentService,
    DataAccessService,
    ReceiptSigner,
    RetryPolicy,
    WebhookService,
)
from policies import load_bundle

from .admission import admission_middleware
from .auth import BearerAuthMiddleware, TokenVerifier
from .config import Settings
from .contract import Contract, contract_middleware
from .dataspace import DataSpaceService
from .db import create_pool, embedded_database_url, migrate
from .idempotency import idempotency_middleware
from .keys import KeyRing
from .logs import configure_logging, request_log_middleware
from .openapi import fix_document
from .problems import EXCEPTION_HANDLERS
from .routes import access, admin, dataspace, me, money, partner, public, webhooks
from .routes import audit as audit_routes

API_DESCRIPTION = """Consent-gated personal-data marketplace.

Customers see, delete, take along and earn from the data their phones generate; partners get
scoped, time-limited, revocable access through grants; every error is RFC 9457 problem+json
with a stable `code`. Authenticate with `Authorization: Bearer <JWT>` (EdDSA or ES256)."""


def create_app(settings: Settings) -> Litestar:
    configure_logging(json=settings.log_json)
    keys = KeyRing.load(settings.key_file, settings.trusted_jwks_file, settings.accept_local_tokens)
    rules = load_bundle()  # validated now: a bad rule file stops the start with a clear error

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = settings.database_url or embedded_database_url(settings.data_dir)
        await migrate(url)
        pool = await create_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.pool = pool
        app.state.consent = ConsentService(
            pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), rules,
            platform_fee_bps=settings.platform_fee_bps,
        )  # fmt: skip
        app.state.money = LedgerService(
            pool, settings.stripe_gateway(), settings.stripe_webhook_secret
        )
        app.state.audit = AuditService(
            pool, CheckpointSigner(keys.private_key, settings.checkpoint_origin)
        )
        app.state.access = DataAccessService(pool, rules)
        app.state.dataspace = DataSpaceService(
            pool, private_key=keys.private_key, kid=keys.kid, issuer=settings.export_issuer,
            trusted_exporters=settings.trusted_exporters,
        )  # fmt: skip
        app.state.webhooks = WebhookService(pool, retry_policy(settings))
        try:
            yield
        finally:
            await pool.close()

    app = Litestar(
        route_handlers=[
            *public.ROUTES,
            admin.AdminController,
            partner.PartnerOffersController,
            partner.PartnerGrantsController,
            me.MeController,
            *audit_routes.ROUTES,
            access.PartnerDataController,
            access.records_controller(settings.max_ingest_body_bytes),
            *(access.BENCH_ROUTES if settings.bench_endpoints else []),
            *money.ROUTES,
            dataspace.MeDataController,
            dataspace.AdminImportsController,
            webhooks.PartnerWebhooksController,
        ],
        lifespan=[lifespan],
        # Services built in the lifespan, injected by name into the handlers that ask for them.
        dependencies={
            name: _from_state(name)
            for name in ("consent", "audit", "access", "money", "dataspace", "webhooks")
        },
        middleware=[
            contract_middleware,
            DefineMiddleware(BearerAuthMiddleware, exclude=["^/schema"]),
            idempotency_middleware,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Consent marketplace API",
            version="1.0.0",
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=False,
    )
    app.state.settings = settings
    app.state.keyring = keys
    app.state.verifier = TokenVerifier(keys, settings.jwt_issuers, settings.jwt_audience)
    app.state.rules = rules
    fix_document(app)
    app.state.contract = Contract(app)
    # Inside the log line's timer, so a request's logged duration includes its wait in line.
    app.asgi_handler = admission_middleware(app.asgi_handler, settings.max_in_flight)
    # Outermost, around Litestar's own error handling, so errors are logged with their status.
    app.asgi_handler = request_log_middleware(app.asgi_handler)
    return app


def _from_state(name: str) -> Provide:
    def provide(state: State):
        return state[name]

    return Provide(provide, sync_to_thread=False)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base_delay=settings.webhook_base_delay_seconds,
        max_delay=settings.webhook_max_delay_seconds,
        max_attempts=settings.webhook_max_attempts,
        timeout=settings.webhook_timeout_seconds,
    )


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` (several workers each build their own app)."""
    return create_app(Settings.from_env())
