"""Fixes to the published OpenAPI document so it says exactly what the API does."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from litestar import Litestar
from litestar.openapi.spec import (
    Link,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

from .dates import FORMAT_BOUNDS, RANGE
from .openapi_client import (
    add_examples,
    declare_headers,
    describe_operations,
    name_schemas,
    share_vocabularies,
)
from .problems import PROBLEM_JSON
from .schemas import NO_NUL, Strict

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
UNAVAILABLE_TEXT = (
    "The database is unreachable or too slow (`database_unavailable`, `database_timeout`), or "
    "this process is overloaded (`overloaded`): nothing was done; retry after `Retry-After` "
    "seconds (with the same `Idempotency-Key` for a POST)"
)
STATUS_TEXT = {
    "400": "Malformed or invalid request; `field` names the offending input",
    "401": "Missing, expired or invalid bearer token",
    "403": "Authenticated, but not allowed (this endpoint is for another role)",
    "404": "No such object for this caller (another tenant's objects look the same)",
    "409": "Conflict with the current state (transition, idempotency key, capacity)",
    "410": "The export was invalidated (its records were erased); make a new one",
    "413": "Request body too large",
    "415": "Body not sent as the operation's media type (`Content-Type`), or encoded",
    "422": "Well-formed but breaks a domain rule",
    "429": "Over this caller's rate limit; `Retry-After` says when to try again",
    "502": "A service this call depends on (the payment gateway, a former operator) failed",
    "503": UNAVAILABLE_TEXT,
}
# Beyond the rules of `statuses_of`: what an operation's own service can answer.
OWN_STATUSES: dict[str, tuple[str, ...]] = {
    "getReadiness": ("503",),
    "receiveStripeWebhook": ("401",),
    "acceptOffer": ("403",),
    "readRecords": ("403",),
    "createFunding": ("502",),
    "importPackage": ("413", "422", "502"),
    "downloadExport": ("409", "410"),
    "getExport": ("410",),
    "getInclusionProof": ("404",),
    "getConsistencyProof": ("404",),
    "getLeafHashes": ("404",),
    "getCheckpoint": ("404",),
}
# Answered without the database: no 503.
# 403s with a body of their own (the reasons the caller can act on).
OWN_403 = {
    "acceptOffer": (
        "NotEligibleProblem",
        "Not eligible for this offer (`not_eligible`, with `reasons`), or another role's endpoint",
    ),
    "readRecords": (
        "AccessDeniedProblem",
        "Access denied (`access_denied`): `decision` carries the reasons and the rules that"
        " decided; or another role's endpoint",
    ),
}
_STRING = Schema(type=OpenAPIType.STRING)
PROBLEM_PROPERTIES: dict[str, Schema | Reference] = {
    "type": _STRING,
    "title": _STRING,
    "status": Schema(type=OpenAPIType.INTEGER),
    "code": Schema(type=OpenAPIType.STRING, description="stable, machine-readable"),
    "detail": _STRING,
    "field": Schema(type=OpenAPIType.STRING, description="the offending input, when one is"),
    "instance": _STRING,
    "errors": Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.OBJECT, additional_properties=True),
        description="each validation failure, for a 400",
    ),
    "reasons": Schema(
        type=OpenAPIType.ARRAY,
        items=Reference(ref="#/components/schemas/Reason"),
        description="why, in words a customer can read",
    ),
}
_REQUIRED = ["type", "title", "status", "code"]
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="Problem",
    description="RFC 9457 problem details with a stable `code`",
    required=_REQUIRED,
    properties=PROBLEM_PROPERTIES,
)
DENIAL = Schema(
    type=OpenAPIType.OBJECT,
    title="Denial",
    description="The recorded decision that refused the read",
    required=["id", "allowed", "reasons", "rule_ids", "grant_id", "rules_version"],
    properties={
        "id": _STRING,
        "allowed": Schema(type=OpenAPIType.BOOLEAN),
        "reasons": Schema(type=OpenAPIType.ARRAY, items=_STRING),
        "rule_ids": Schema(type=OpenAPIType.ARRAY, items=_STRING),
        "grant_id": Schema(one_of=[_STRING, Schema(type=OpenAPIType.NULL)]),
        "rules_version": _STRING,
    },
)
ACCESS_DENIED_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    title="AccessDeniedProblem",
    description="A refused read: a problem whose `decision` says why",
    required=_REQUIRED,
    properties={**PROBLEM_PROPERTIES, "decision": Reference(ref="#/components/schemas/Denial")},
)
NOT_ELIGIBLE_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    title="NotEligibleProblem",
    description="A refused acceptance: a problem whose `reasons` say why",
    required=_REQUIRED,
    properties=PROBLEM_PROPERTIES,
)
PROBLEM_EXAMPLE = {
    "type": "/problems/access_denied",
    "title": "Access denied",
    "status": 403,
    "code": "access_denied",
    "detail": "no active grant covers location for research",
    "decision": {
        "id": "dec_01jq7m6p4q6r8s0t2v4w6x8y0z",
        "allowed": False,
        "reasons": ["grant_revoked"],
        "rule_ids": [],
        "grant_id": "grt_01jq7m5n3p5q7r9s1t3v5w7x9y",
        "rules_version": "2026-02-01",
    },
}


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
    # Litestar drops the constraints of a list's items; the body checks them, so say them.
    for (name, field), item in LIST_ITEMS.items():
        prop = (schemas[name].properties or {})[field]
        if isinstance(prop, Schema):
            prop.items = item
    # Free-form JSON is any JSON whose strings, keys included, hold no NUL (validate_record).
    schemas["JsonValue"] = JSON_VALUE
    schemas["JsonObject"] = _json_object()
    for name, field in FREE_FORM_FIELDS:
        (schemas[name].properties or {})[field] = Reference(ref="#/components/schemas/JsonObject")


def _json_object() -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        description="A JSON object whose strings (keys included) hold no NUL",
        property_names=Schema(pattern=NO_NUL),
        additional_properties=Reference(ref="#/components/schemas/JsonValue"),
    )


FREE_FORM_FIELDS = [("RecordIn", "payload")]
LIST_ITEMS = {
    ("InsightAreaIn", "cells"): Schema(
        type=OpenAPIType.STRING, min_length=15, max_length=16, pattern="^[0-9a-fA-F]{15,16}$"
    ),
}
_SCALARS = [
    Schema(type=OpenAPIType.NULL),
    Schema(type=OpenAPIType.BOOLEAN),
    Schema(type=OpenAPIType.NUMBER),
    Schema(type=OpenAPIType.STRING, pattern=NO_NUL),
]
# Client generators cannot follow a union that refers to itself through an array, and a
# deeply nested schema overwhelms test generators: arrays nested in arrays are spelled out
# level by level to ARRAY_LEVELS (objects refer back by name); deeper, the document says only
# "an array" while the server still refuses a NUL there (a 400), as it does at any depth.
ARRAY_LEVELS = 8


def _json_array(levels: int) -> Schema:
    if levels == 0:
        return Schema(type=OpenAPIType.ARRAY, items=Schema())
    inner: list[Schema | Reference] = [*_SCALARS, Reference(ref="#/components/schemas/JsonObject")]
    inner.append(_json_array(levels - 1))
    return Schema(type=OpenAPIType.ARRAY, items=Schema(any_of=inner))


JSON_VALUE = Schema(
    description="Any JSON value whose strings (keys included) hold no NUL",
    any_of=[
        *_SCALARS,
        _json_array(ARRAY_LEVELS),
        Reference(ref="#/components/schemas/JsonObject"),
    ],
)


def statuses_of(path: str, method: str, operation, public: bool) -> list[str]:
    """The error statuses an operation can answer, by what the edge and its service do."""
    body = operation.request_body is not None
    found = {"400"}  # every operation: unknown or repeated query parameters, NUL in the path
    if not public:
        found |= {"401", "403", "404", "429"}  # token; role; own or caller's objects; limit
    if method in ("post", "patch") and not public:
        found.add("409")  # Idempotency-Key conflicts, state transitions
    if body:
        found |= {"413", "415", "422"}
    if operation.operation_id != "getHealth":
        found.add("503")  # the database, or this process overloaded (probes are never shed)
    found.update(OWN_STATUSES.get(operation.operation_id, ()))
    return sorted(found)


def document_problems(app: Litestar, public_paths: set[str]) -> None:
    """Each operation's error answers are problem+json, with the statuses it can answer."""
    doc = app.openapi_schema
    schemas = doc.components.schemas
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["Denial"] = DENIAL
    schemas["AccessDeniedProblem"] = ACCESS_DENIED_PROBLEM
    schemas["NotEligibleProblem"] = NOT_ELIGIBLE_PROBLEM
    ACCESS_DENIED_PROBLEM.examples = [PROBLEM_EXAMPLE]

    def content(name: str) -> dict[str, OpenAPIMediaType]:
        return {
            PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{name}"))
        }

    for path, item in (doc.paths or {}).items():
        for method in ("get", "post", "patch", "put", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            public = path in public_paths
            operation.security = [] if public else BEARER
            for status in statuses_of(path, method, operation, public):
                name, text = "Problem", STATUS_TEXT[status]
                if status == "403" and operation.operation_id in OWN_403:
                    name, text = OWN_403[operation.operation_id]
                operation.responses[status] = OpenAPIResponse(
                    description=text,
                    content=content(name),
                    headers=RETRY_AFTER if status == "503" and path != "/ready" else None,
                )
            if method == "post" and not public:
                document_idempotency(operation)


RETRY_AFTER: dict[str, OpenAPIHeader | Reference] = {
    "Retry-After": OpenAPIHeader(
        description="Seconds to wait before retrying", schema=Schema(type=OpenAPIType.INTEGER)
    )
}
IDEMPOTENCY_NOTE = (
    "\n\nRetries are safe with an `Idempotency-Key` header: the same key and request (method, "
    "path, query string, body) replay the first answer (`Idempotent-Replayed: true`), which "
    "commits in the same transaction as the effect, so a replay after any failure (a lost "
    "connection, a killed server, a 503) returns that answer or runs the request for the first "
    "time; the same key with another request is 409. A 503 carries `Retry-After`."
)


def document_idempotency(operation) -> None:
    """Every POST says how to retry it safely (declare_headers declares the header)."""
    operation.description = (operation.description or operation.summary or "") + IDEMPOTENCY_NOTE


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
    # For the clients generated from it (openapi_client.py).
    describe_operations(app)
    declare_headers(app, public_paths)
    name_schemas(app)
    share_vocabularies(app)
    document_problems(app, public_paths)
    add_examples(app)
