"""Fixes to the published OpenAPI document so it says exactly what the API accepts."""

from __future__ import annotations

from litestar import Litestar

from .schemas import Strict


def _strict_types() -> set[str]:
    seen, todo = set(), [Strict]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            seen.add(sub.__name__)
            todo.append(sub)
    return seen


def close_request_schemas(app: Litestar) -> None:
    """Request bodies refuse unknown fields, so their schemas say `additionalProperties: false`.

    Litestar does not carry msgspec's `forbid_unknown_fields` into the schema; without this, a
    client generated from the document would believe extra fields are fine.
    """
    strict = _strict_types()
    schemas = app.openapi_schema.components.schemas or {}
    for name, schema in schemas.items():
        if name.rsplit("_", 1)[-1] in strict or name in strict:
            schema.additional_properties = False
