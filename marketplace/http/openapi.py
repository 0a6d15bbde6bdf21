"""Fixes to the published OpenAPI document so it says exactly what the API does."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from litestar import Litestar
from litestar.openapi.spec import (
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

from .dates import FORMAT_BOUNDS, RANGE
from .problems import PROBLEM_JSON
from .schemas import NO_NUL, Strict

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# Every operation may answer these with a problem document.
PROBLEM_STATUSES = {
    "400": "Malformed or invalid request; `field` names the offending input",
    "401": "Missing, expired or invalid bearer token",
    "403": "Authenticated, but not allowed (wrong role, not eligible, access denied)",
    "404": "No such object for this caller (another tenant's objects look the same)",
    "409": "Conflict with the current state (transition, idempotency key, capacity)",
    "413": "Request body too large",
    "415": "Body not sent as the operation's media type (`Content-Type`), or encoded",
    "422": "Well-formed but breaks a domain rule",
}
# Operations that call Stripe while the caller waits.
STRIPE_PATHS = {"/v1/partner/funding"}
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
UNIQUE_LISTS = {"categories", "purposes", "jurisdictions", "events"}


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
        schemas[patch].properties = dict(schemas[create].properties or {})
    # Free-form JSON is any JSON whose strings, keys included, hold no NUL (validate_record).
    schemas["JsonValue"] = JSON_VALUE
    for name, field in FREE_FORM_FIELDS:
        (schemas[name].properties or {})[field] = _json_object()


def _json_object() -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        property_names=Schema(pattern=NO_NUL),
        additional_properties=Reference(ref="#/components/schemas/JsonValue"),
    )


FREE_FORM_FIELDS = [("RecordIn", "payload")]
JSON_VALUE = Schema(
    description="Any JSON value whose strings (keys included) hold no NUL",
    any_of=[
        Schema(type=[OpenAPIType.NULL, OpenAPIType.BOOLEAN, OpenAPIType.NUMBER]),
        Schema(type=OpenAPIType.STRING, pattern=NO_NUL),
        Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/JsonValue")),
        _json_object(),
    ],
)


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
                # No token needed; 401 stays for endpoints with their own check (webhooks).
                statuses = {k: v for k, v in statuses.items() if k != "403"}
            if path == "/ready":
                statuses["503"] = "The database is not reachable"
            if path in STRIPE_PATHS:  # values Stripe refuses are a 422 naming the field
                statuses["502"] = "Stripe failed or could not be reached; try again later"
            for status, description in statuses.items():
                operation.responses[status] = OpenAPIResponse(
                    description=description, content=problem
                )


MAX_INTEGER = 2**63 - 1  # PostgreSQL bigint
# Parameter constraints (Litestar keyword) -> JSON Schema keyword.
_CONSTRAINTS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
}


def constrain_query_parameters(app: Litestar) -> None:
    """An optional query parameter is published as `oneOf: [T, null]` with its bounds lost.

    (Path parameters get the same treatment: their text may not hold NUL either.)

    A query parameter is never null (absent means "not given"), so publish T itself, with the
    bounds the handler declares — otherwise clients (and fuzzers) think `limit=-5` is fine.
    """
    doc = app.openapi_schema
    for route in app.routes:
        item = (doc.paths or {}).get(route.path_format)
        for handler in getattr(route, "route_handlers", ()):
            fields = handler.parsed_fn_signature.parameters
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None) if item else None
                for param in (operation.parameters or []) if operation else []:
                    if param.param_in not in ("query", "path"):
                        continue
                    field = next(
                        (
                            f
                            for n, f in fields.items()
                            if (getattr(f.kwarg_definition, "query", None) or n) == param.name
                        ),
                        None,
                    )
                    _constrain(param, getattr(field, "kwarg_definition", None))


def _constrain(param, kwarg) -> None:
    schema = param.schema
    if isinstance(schema, Schema) and schema.one_of:
        branches = [b for b in schema.one_of if getattr(b, "type", None) != OpenAPIType.NULL]
        if len(branches) == 1 and isinstance(branches[0], Schema):
            branch = branches[0]
            for key in ("description", "max_length", "min_length", "pattern", "default"):
                if getattr(branch, key, None) is None and getattr(schema, key, None) is not None:
                    setattr(branch, key, getattr(schema, key))
            param.schema = schema = branch
    if not isinstance(schema, Schema):
        return
    for ours, theirs in _CONSTRAINTS.items():
        value = getattr(kwarg, ours, None)
        if value is not None and getattr(schema, theirs, None) is None:
            setattr(schema, theirs, value)
    # What every query value must be anyway (see contract.py): say so in the document.
    if schema.type == OpenAPIType.INTEGER and schema.maximum is None:
        schema.maximum = MAX_INTEGER
    if schema.type == OpenAPIType.STRING and not (schema.pattern or schema.enum or schema.format):
        schema.pattern = "^[^\\x00]*$"


@dataclass
class BoundedSchema(Schema):
    """A date or date-time schema with its range: Litestar's Schema has no such keywords."""

    format_minimum: str | None = field(default=None, metadata={"alias": "formatMinimum"})
    format_maximum: str | None = field(default=None, metadata={"alias": "formatMaximum"})


def _bounded(schema):
    """`schema` with every date and date-time in it bounded to the accepted range."""
    if not isinstance(schema, Schema):
        return schema
    fmt = getattr(schema.format, "value", schema.format)
    if fmt in FORMAT_BOUNDS and not isinstance(schema, BoundedSchema):
        lowest, highest = FORMAT_BOUNDS[fmt]
        note = f"{RANGE}; anything else is refused with 400"
        schema = BoundedSchema(
            **{f.name: getattr(schema, f.name) for f in fields(Schema)},
            format_minimum=lowest,
            format_maximum=highest,
        )
        schema.description = f"{schema.description}, {note}" if schema.description else note
    for key in ("one_of", "any_of", "all_of", "prefix_items"):
        if getattr(schema, key, None):
            setattr(schema, key, [_bounded(s) for s in getattr(schema, key)])
    if schema.items is not None:
        schema.items = _bounded(schema.items)
    if schema.properties:
        schema.properties = {name: _bounded(s) for name, s in schema.properties.items()}
    return schema


def bound_dates(app: Litestar) -> None:
    """Every date and time a caller sends carries the range it must lie in (dates.py)."""
    doc = app.openapi_schema
    schemas = doc.components.schemas or {}
    for name in _strict_types() & set(schemas):
        schemas[name] = _bounded(schemas[name])
    for item in (doc.paths or {}).values():
        for method in ("get", "post", "patch", "put", "delete"):
            operation = getattr(item, method, None)
            for param in (operation.parameters or []) if operation else []:
                param.schema = _bounded(param.schema)


# How one answer leads to the next call of a real workflow (OpenAPI links): an offer is
# created, published, accepted by a customer (a grant), whose receipt is read and which is
# then paused, resumed or revoked. Clients, and schemathesis' stateful phase, follow these
# instead of guessing ids. (source path, method, status) -> link name -> (target path, method,
# parameters, request body); values are OpenAPI runtime expressions.
_OFFER_ID = {"offer_id": "$response.body#/id"}
_GRANT_ID = {"grant_id": "$response.body#/id"}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict | None, dict | None]]] = {
    ("/v1/partner/offers", "post", "201"): {
        "GetOffer": ("/v1/partner/offers/{offer_id}", "get", _OFFER_ID, None),
        "UpdateOffer": ("/v1/partner/offers/{offer_id}", "patch", _OFFER_ID, None),
        "PublishOffer": ("/v1/partner/offers/{offer_id}/publish", "post", _OFFER_ID, None),
    },
    ("/v1/partner/offers/{offer_id}/publish", "post", "200"): {
        "AcceptOffer": ("/v1/me/grants", "post", None, {"offer_id": "$response.body#/id"}),
        "PauseOffer": ("/v1/partner/offers/{offer_id}/pause", "post", _OFFER_ID, None),
        "CloseOffer": ("/v1/partner/offers/{offer_id}/close", "post", _OFFER_ID, None),
    },
    ("/v1/me/grants", "post", "201"): {
        "GetGrant": ("/v1/me/grants/{grant_id}", "get", _GRANT_ID, None),
        "GetReceipt": ("/v1/me/grants/{grant_id}/receipt", "get", _GRANT_ID, None),
        "PauseGrant": ("/v1/me/grants/{grant_id}/pause", "post", _GRANT_ID, None),
        "RevokeGrant": ("/v1/me/grants/{grant_id}/revoke", "post", _GRANT_ID, None),
    },
    ("/v1/me/grants/{grant_id}/pause", "post", "200"): {
        "ResumeGrant": ("/v1/me/grants/{grant_id}/resume", "post", _GRANT_ID, None),
        "RevokeGrant": ("/v1/me/grants/{grant_id}/revoke", "post", _GRANT_ID, None),
    },
}


def link_workflows(app: Litestar) -> None:
    """Adds LINKS to the success answers they start from, by the target's operationId."""
    paths = app.openapi_schema.paths or {}

    def operation(path: str, method: str):
        found = getattr(paths[path], method, None)
        if found is None:
            raise RuntimeError(f"LINKS names {method.upper()} {path}, which the API lacks")
        return found

    for (path, method, status), links in LINKS.items():
        response = operation(path, method).responses[status]
        assert isinstance(response, OpenAPIResponse)
        response.links = {
            name: Link(
                operation_id=operation(target, verb).operation_id,
                parameters=parameters,
                request_body=body,
            )
            for name, (target, verb, parameters, body) in links.items()
        }


def fix_document(app: Litestar) -> None:
    close_request_schemas(app)
    link_workflows(app)
    constrain_query_parameters(app)
    bound_dates(app)
    public_paths = {
        route.path_format
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get("exclude_from_auth")
    }
    document_problems(app, public_paths)
