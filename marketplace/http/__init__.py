"""The HTTP edge: routes by audience, authentication, admission, the request contract,
Idempotency-Key replay, problem details and the OpenAPI fixes. This is what the app (and
the CLI's token command) assemble; domain packages never import it."""

from .admission import Admission, admission_middleware
from .auth import (
    BearerAuthMiddleware,
    InvalidToken,
    Principal,
    Role,
    TokenVerifier,
    issue_token,
)
from .bodies import strict_body
from .contract import Contract, contract_middleware
from .docs import OfflineSwaggerPlugin, docs_router
from .idempotency import idempotency_middleware
from .inbound import MAX_JSON_DEPTH, inbound_middleware, route_body_limit
from .openapi import fix_document
from .problems import EXCEPTION_HANDLERS, STATUS_BY_CODE
from .ratelimit import RateLimits, rate_limit_middleware
from .retry import retry_middleware
from .routes import route_handlers

__all__ = [
    "EXCEPTION_HANDLERS",
    "Admission",
    "MAX_JSON_DEPTH",
    "STATUS_BY_CODE",
    "BearerAuthMiddleware",
    "Contract",
    "InvalidToken",
    "OfflineSwaggerPlugin",
    "Principal",
    "RateLimits",
    "Role",
    "TokenVerifier",
    "admission_middleware",
    "contract_middleware",
    "docs_router",
    "fix_document",
    "idempotency_middleware",
    "inbound_middleware",
    "issue_token",
    "rate_limit_middleware",
    "retry_middleware",
    "route_body_limit",
    "route_handlers",
    "strict_body",
]
