"""Request bodies are decoded strictly, as the OpenAPI document publishes them.

Litestar converts a handler's `data` with msgspec's lax rules (`strict=False`), which suit path
and query parameters (always text) but not JSON bodies: there they turn `"recorded_at": 0`
into 1970-01-01, `"5"` into 5 and `"true"` into True, all of which the published schema
refuses. Before any handler runs, a body meant for a Struct is decoded once more with
`strict=True`; a value of the wrong JSON type is then a 400 naming the field, exactly like any
other validation error (the lax conversion that follows changes nothing on such a body).
As in JSON Schema, a number without a fraction (`30.0`) is an integer.
"""

from __future__ import annotations

import typing
from functools import cache

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


@cache
def _body_type(handler) -> type | None:
    """The Struct a handler's `data` is decoded into, or None (no body, bytes, a stream)."""
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    annotation = field.annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return field.annotation
    return None


@cache
def _decoder(body_type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(body_type, strict=True)  # built once per body type


def _integral(value):
    """`value` with every float that has no fraction made an int, at any depth."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


async def strict_body(request: Request) -> None:
    """`before_request` of the app: refuse a body whose JSON types the schema does not allow."""
    body_type = _body_type(request.route_handler)
    if body_type is None:
        return
    body = await request.body()
    if not body:
        return  # Litestar answers a missing body itself
    try:
        try:
            _decoder(body_type).decode(body)
        except msgspec.ValidationError as e:
            if "got `float`" not in str(e):
                raise
            # JSON Schema counts 622.0 as an integer (a number without a fraction); msgspec's
            # strict mode does not. Checked again with such numbers as integers.
            msgspec.convert(_integral(msgspec.json.decode(body)), body_type, strict=True)
    except msgspec.ValidationError as e:
        # The shape Litestar gives its own validation errors (problems.py reads it).
        message, _, where = str(e).partition(" - at `$")
        key = where.rstrip("`").lstrip(".") or "data"
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": message, "key": key, "source": "body"}],
        ) from None
    except msgspec.DecodeError:
        return  # not JSON: Litestar's own decoding answers it as malformed
