"""Fixes to the published OpenAPI document so it says exactly what the API does."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

from .problems import PROBLEM_JSON
from .schemas import Strict

BEARER = [{"bearer": []}]
# Every operation may answer these with a problem document.
PROBLEM_STATUSES = {
    "400": "Malformed or invalid request; `field` names the offending input",
    "401": "Missing, expired or invalid bearer token",
    "403": "Authenticated, but not allowed (wrong role, not eligible, access denied)",
    "404": "No such object for this caller (another tenant's objects look the same)",
    "409": "Conflict with the current state (transition, idempotency key, capacity)",
    "413": "Request body too large",
    "422": "Well-formed but breaks a domain rule",
}
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details with a stable `code`",
    required=["type", "title", "status", "code"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(type=OpenAPIType.STRING),
        "detail": Schema(type=OpenAPIType.STRING),
        "field": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
        "reasons": Schema(type=OpenAPIType.ARRAY),
    },
)


def _strict_types() -> set[str]:
    seen, todo = set(), [Strict]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            seen.add(sub.__name__)
            todo.append(sub)
    return seen


# PATCH bodies take the same fields as their create body, each optional: same constraints.
PATCH_OF = {"UpdateOffer": "CreateOffer"}
# Lists that must not repeat an item (a repeat is refused with 422).
UNIQUE_LISTS = {"categories", "purposes", "jurisdictions"}


def close_request_schemas(app: Litestar) -> None:
    """Request bodies refuse unknown fields, so their schemas say `additionalProperties: false`.

    Litestar does not carry msgspec's `forbid_unknown_fields` into the schema; without this, a
    client generated from the document would believe extra fields are fine.
    """
    strict = _strict_types()
    schemas = app.openapi_schema.components.schemas or {}
    for name, schema in schemas.items():
        if name in strict:
            schema.additional_properties = False
            for field, prop in (schema.properties or {}).items():
                if field in UNIQUE_LISTS and isinstance(prop, Schema):
                    prop.unique_items = True
    for patch, create in PATCH_OF.items():
        schemas[patch].properties = dict(schemas[create].properties)


def document_problems(app: Litestar, public_paths: set[str]) -> None:
    """Every operation's error answers are problem+json, and public ones need no token."""
    doc = app.openapi_schema
    doc.components.schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for path, item in (doc.paths or {}).items():
        for method in ("get", "post", "patch", "put", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            public = path in public_paths
            operation.security = [] if public else BEARER
            statuses = dict(PROBLEM_STATUSES)
            if public:
                statuses = {k: v for k, v in statuses.items() if k not in ("401", "403")}
            if path == "/ready":
                statuses["503"] = "The database is not reachable"
            for status, description in statuses.items():
                operation.responses[status] = OpenAPIResponse(
                    description=description, content=problem
                )


def fix_document(app: Litestar, public_paths: set[str]) -> None:
    close_request_schemas(app)
    document_problems(app, public_paths)
