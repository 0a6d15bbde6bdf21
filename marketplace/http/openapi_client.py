"""What a partner's engineer needs to generate a good client from the document: one name per
schema, one shared schema per vocabulary, summaries from the handlers' docstrings, the
`Idempotency-Key` header and `Location` where they apply, and examples."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from offers import EVENT_TYPES
from policies import CATEGORIES, JURISDICTIONS, PURPOSES

from .examples import EXAMPLES
from .idempotency import KEY_PATTERN, MAX_KEY_LENGTH

METHODS = ("get", "post", "patch", "put", "delete")

# Litestar names a generic or a clashing model by its module path ("Page_offers.models.Offer_",
# "access_models_Record"); a generated client would make classes of those, or of two models
# both titled "Record". Each gets a name that says what it is.
RENAMES = {
    "access_models_Record": "GrantedRecord",
    "models_Record": "StoredRecord",
    "Page_offers.dataspace.models.Record_": "StoredRecordPage",
    "Page_offers.dataspace.models.ImportedConsent_": "ImportedConsentPage",
    "Page_offers.models.CustomerOffer_": "CustomerOfferPage",
    "Page_offers.models.Grant_": "GrantPage",
    "Page_offers.models.Offer_": "OfferPage",
    "Page_offers.models.WebhookDelivery_": "WebhookDeliveryPage",
    "Page_offers.models.WebhookEndpoint_": "WebhookEndpointPage",
    "Page_ledger.models.StatementLine_": "StatementLinePage",
    "Page_offers.obligations.models.DeletionObligation_": "DeletionObligationPage",
    "Page_offers.obligations.models.Notification_": "NotificationPage",
    "AuditPage_ledger.audit.models.AccessLogItem_": "AccessLogPage",
    "AuditPage_ledger.audit.models.SealedEntry_": "SealedEntryPage",
}

# Closed vocabularies, each one shared schema instead of a copy in every field that uses it.
VOCABULARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Category": ("A data category (GET /v1/vocabulary)", tuple(t.code for t in CATEGORIES)),
    "Purpose": ("A purpose of use (GET /v1/vocabulary)", tuple(t.code for t in PURPOSES)),
    "Jurisdiction": ("An ISO 3166-1 alpha-2 country code", tuple(sorted(JURISDICTIONS))),
    "WebhookEventType": ("An event a webhook endpoint can receive", tuple(EVENT_TYPES)),
    "GrantStatus": ("The state of a grant", ("active", "paused", "revoked", "expired")),
    "OfferStatus": ("The state of an offer", ("draft", "active", "paused", "closed")),
    "CompensationKind": ("How a customer is compensated", ("discount", "cash")),
}

# Where a created object can be read again: the 201 answer's `Location`.
LOCATIONS = {
    "createOffer": "/v1/partner/offers/{id}",
    "acceptOffer": "/v1/me/grants/{id}",
    "createExport": "/v1/me/exports/{id}",
}


def _walk(node, visit: Callable[[object], object]) -> None:
    """Calls `visit` on every child of the document's objects; what it returns replaces it."""
    if isinstance(node, dict):
        for key, child in node.items():
            node[key] = visit(child)
            _walk(node[key], visit)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            node[i] = visit(child)
            _walk(node[i], visit)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            child = getattr(node, f.name)
            if child is None or isinstance(child, str | int | float | bool):
                continue
            new = visit(child)
            if new is not child:
                setattr(node, f.name, new)
            _walk(new, visit)


def name_schemas(app: Litestar) -> None:
    doc = app.openapi_schema
    schemas = doc.components.schemas
    for old, new in RENAMES.items():
        if old not in schemas:
            raise RuntimeError(f"RENAMES names schema {old!r}, which the document lacks")
        schemas[new] = schemas.pop(old)
    prefix = "#/components/schemas/"

    def rename(node):
        if isinstance(node, Reference) and node.ref.startswith(prefix):
            node.ref = prefix + RENAMES.get(node.ref[len(prefix) :], node.ref[len(prefix) :])
        return node

    _walk(doc, rename)
    leftover = [n for n in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)]
    if leftover:
        raise RuntimeError(f"schemas without a plain name: {leftover}")
    for name, schema in schemas.items():
        if isinstance(schema, Schema):
            schema.title = name
    doc.components.schemas = dict(sorted(schemas.items()))


def share_vocabularies(app: Litestar) -> None:
    doc = app.openapi_schema
    by_values = {frozenset(values): name for name, (_, values) in VOCABULARIES.items()}

    def shared(values: list) -> Schema | Reference:
        name = by_values.get(frozenset(values))
        if name is None:
            return Schema(type=OpenAPIType.STRING, enum=values)
        return Reference(ref=f"#/components/schemas/{name}")

    def share(node):
        if not isinstance(node, Schema) or not node.enum:
            return node
        if node.type == OpenAPIType.STRING:
            found = shared(list(node.enum))
            return node if isinstance(found, Schema) else found
        kinds = node.type if isinstance(node.type, list) else []
        if set(kinds) == {OpenAPIType.STRING, OpenAPIType.NULL}:
            # `["null", "string"]` with `null` among the values: say it as "one of, or null".
            values = [v for v in node.enum if v is not None]
            return Schema(one_of=[shared(values), Schema(type=OpenAPIType.NULL)])
        return node

    # A query parameter is never null (absent means "not given"): its schema is the enum.
    for _, _, operation, _ in operations(app):
        for param in operation.parameters or []:
            schema = param.schema
            if isinstance(param, Parameter) and isinstance(schema, Schema) and schema.enum:
                param.schema = shared([v for v in schema.enum if v is not None])
    _walk(doc.paths, share)
    _walk(doc.components.schemas, share)
    for name, (description, values) in VOCABULARIES.items():
        doc.components.schemas[name] = Schema(
            type=OpenAPIType.STRING, enum=list(values), description=description, title=name
        )


def operations(app: Litestar):
    """(path, method, operation, handler) of every documented operation."""
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        item = paths.get(route.path_format)
        if item is None:
            continue
        for handler in getattr(route, "route_handlers", ()):
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if isinstance(operation, Operation):
                    yield route.path_format, method.lower(), operation, handler


def describe_operations(app: Litestar) -> None:
    """Summary: the docstring's first sentence; description: the whole docstring."""
    for path, method, operation, handler in operations(app):
        doc = inspect.cleandoc(handler.fn.__doc__ or "")
        if not doc:
            raise RuntimeError(f"{method.upper()} {path} has no docstring to document it with")
        first = doc.split("\n\n", 1)[0].replace("\n", " ")
        summary = re.split(r"; |\. (?=[A-Z])", first, maxsplit=1)[0].rstrip(".")
        operation.summary = summary
        operation.description = doc


IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    description="Makes a retry safe: the same key with the same request replays the first"
    " answer (committed with the effect); with a different request it is a 409. 1 to 255"
    " visible ASCII characters.",
    schema=Schema(type=OpenAPIType.STRING, max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN),
)


def declare_headers(app: Litestar, public_paths: set[str]) -> None:
    """`Idempotency-Key` on every authenticated POST; `Location` on 201s that have one."""
    for path, method, operation, _ in operations(app):
        if method == "post" and path not in public_paths:
            operation.parameters = [*(operation.parameters or []), IDEMPOTENCY_KEY]
        created = operation.responses.get("201") if operation.responses else None
        if operation.operation_id in LOCATIONS and isinstance(created, OpenAPIResponse):
            created.headers = {
                "Location": OpenAPIHeader(
                    schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI_REFERENCE),
                    description=f"Where the new object is read: {LOCATIONS[operation.operation_id]}"
                    " (not repeated when an Idempotency-Key replays the answer)",
                    required=False,
                )
            }


def add_examples(app: Litestar) -> None:
    """Each request body and main answer shows an example (examples.py), checked by a test."""
    schemas = app.openapi_schema.components.schemas
    for name, example in EXAMPLES.items():
        schema = schemas.get(name)
        if not isinstance(schema, Schema):
            raise RuntimeError(f"EXAMPLES names schema {name!r}, which the document lacks")
        schema.examples = [example]
    for _, _, operation, _ in operations(app):
        bodies = [operation.request_body] if operation.request_body else []
        bodies += [
            r
            for status, r in (operation.responses or {}).items()
            if status.startswith("2") and isinstance(r, OpenAPIResponse)
        ]
        for body in bodies:
            for media in (getattr(body, "content", None) or {}).values():
                example = _example_of(media, schemas)
                if example is not None and isinstance(media, OpenAPIMediaType):
                    media.example = example


def _example_of(media, schemas):
    schema = media.schema
    if isinstance(schema, Reference):
        return EXAMPLES.get(schema.ref.rsplit("/", 1)[1])
    return None
