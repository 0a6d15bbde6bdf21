"""Holds requests to the published contract where Litestar alone is looser.

Unknown or repeated query parameters are refused (a typo like `?stauts=active` must not
silently list everything), date-time parameters must be RFC 3339 (not a bare number) and,
like dates, inside the one documented range (dates.py), a NUL character is refused anywhere
in the path or query (PostgreSQL text cannot hold one), so are percent-escapes that are not
UTF-8 (a lone surrogate is not text; decoding would mangle it), a body is sent as the media
type its operation publishes (UTF-8), never encoded (Litestar would read `text/plain`, a form
or a gzip-labelled body as JSON all the same), and OPTIONS answers `Allow` with every method
of the path.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from .dates import RANGE, in_range
from .problems import problem_bytes


class Contract:
    """Per path template: the allowed methods, and each method's query parameters."""

    def __init__(self, app: Litestar):
        doc = app.openapi_schema
        # (path, METHOD) -> {query parameter: its schema's format, or type when it has none}
        self.query: dict[tuple[str, str], dict[str, str | None]] = {}
        # (path, METHOD) -> {query parameter: the values it may take}, for closed vocabularies
        self.choices: dict[tuple[str, str], dict[str, frozenset[str]]] = {}
        # (path, METHOD) -> the media types its published request body may be sent as
        self.media: dict[tuple[str, str], frozenset[str]] = {}
        schemas = doc.components.schemas or {}
        for path, item in (doc.paths or {}).items():
            for method in ("get", "post", "patch", "put", "delete"):
                operation = getattr(item, method, None)
                if operation is not None:
                    params = [p for p in operation.parameters or [] if p.param_in == "query"]
                    self.query[(path, method.upper())] = {p.name: _kind(p.schema) for p in params}
                    self.choices[(path, method.upper())] = {
                        p.name: frozenset(values)
                        for p in params
                        if (values := _enum(p.schema, schemas))
                    }
                    body = operation.request_body
                    if body is not None and getattr(body, "content", None):
                        self.media[(path, method.upper())] = frozenset(body.content)
        self.allow = {r.path_format: ", ".join(sorted(r.methods)) for r in app.routes}


def contract_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:  # the API has no websockets; nothing to check
            await app(scope, receive, send)
            return
        contract: Contract = scope["app"].state.contract
        template = scope.get("path_template", "")
        method = scope["method"]
        refusal = _refusal(contract, template, method, scope)
        if refusal is not None:
            status, body, headers = refusal
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if method != "OPTIONS" or template not in contract.allow:
            await app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", contract.allow[template].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_allow)

    return middleware


def _enum(schema, schemas) -> list[str]:
    """The values of an enum parameter (its schema, or the shared one it refers to)."""
    ref = getattr(schema, "ref", None)
    if ref:
        schema = schemas.get(ref.rsplit("/", 1)[1])
    return [v for v in (getattr(schema, "enum", None) or []) if isinstance(v, str)]


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _kind(schema) -> str | None:
    fmt = getattr(schema, "format", None)
    if fmt:
        return str(fmt.value if hasattr(fmt, "value") else fmt)
    kind = getattr(schema, "type", None)
    return kind.value if kind is not None and hasattr(kind, "value") else None


_FORMATS = {
    "integer": lambda v: re.fullmatch(r"-?\d{1,19}", v) is not None and abs(int(v)) < 2**63,
    "date-time": lambda v: bool(_RFC3339.match(v)) and in_range(datetime.fromisoformat(v.upper())),
    "date": lambda v: len(v) == 10 and in_range(date.fromisoformat(v)),
}
_EXPECTED = {
    "integer": "an integer",
    "date-time": f"an RFC 3339 date-time {RANGE}",
    "date": f"a date {RANGE}",
}


def _utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _refusal(
    contract: Contract, template: str, method: str, scope: HTTPScope
) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """The problem to answer instead of routing on, or None when the request may go on."""
    if "\x00" in scope["path"]:
        return problem_bytes(400, "invalid_path", "the path holds a NUL character")
    # (Some servers, and Litestar's test client, leave the query string on raw_path.)
    if not _utf8((scope.get("raw_path") or b"").partition(b"?")[0]):
        return problem_bytes(400, "invalid_path", "the path is not UTF-8")
    media = _media_refusal(contract.media.get((template, method)), scope)
    if media is not None:
        return media
    declared = contract.query.get((template, method))
    if declared is None or not scope.get("query_string"):
        return None
    try:
        pairs = parse_qsl(
            scope["query_string"].decode("latin-1"), keep_blank_values=True, errors="strict"
        )
    except UnicodeDecodeError:
        return problem_bytes(400, "validation_error", "the query string is not UTF-8")
    names = [n for n, _ in pairs]
    unknown = sorted(set(names) - set(declared))
    if unknown:
        return problem_bytes(
            400, "unknown_parameter", f"unknown query parameter {unknown[0]!r}", field=unknown[0]
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return problem_bytes(
            400,
            "repeated_parameter",
            f"repeated query parameter {repeated[0]!r}",
            field=repeated[0],
        )
    choices = contract.choices.get((template, method), {})
    for name, raw in pairs:
        value = unquote(raw)
        if "\x00" in value:
            return problem_bytes(400, "validation_error", "NUL character", field=name)
        if name in choices and value not in choices[name]:
            allowed = ", ".join(sorted(choices[name]))
            return problem_bytes(
                400, "validation_error", f"{name} must be one of {allowed}", field=name
            )
        check = _FORMATS.get(declared[name] or "")
        try:
            valid = check is None or check(value)
        except ValueError:
            valid = False
        if not valid:
            expected = _EXPECTED.get(declared[name] or "", declared[name])
            return problem_bytes(400, "validation_error", f"{name} must be {expected}", field=name)
    return None


def _media_refusal(accepted: frozenset[str] | None, scope: HTTPScope):
    """415 for an encoded body, or one not sent as its operation's published media type."""
    headers = {k.lower(): v for k, v in scope["headers"]}
    encoding = headers.get(b"content-encoding", b"identity").strip().lower()
    if encoding != b"identity":
        return problem_bytes(
            415,
            "unsupported_media_type",
            "request bodies are read as sent: no Content-Encoding",
            field="Content-Encoding",
        )
    if accepted is None:
        return None
    content_type = headers.get(b"content-type")
    if content_type is None:
        length = headers.get(b"content-length", b"0").strip()
        if length in (b"0", b"") and b"transfer-encoding" not in headers:
            return None  # no body at all: the route answers that it wants one
        content_type = b""
    media, _, parameters = content_type.decode("latin-1").partition(";")
    charset = next(
        (
            value.strip().strip('"').lower()
            for name, _, value in (p.partition("=") for p in parameters.split(";"))
            if name.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if media.strip().lower() in accepted and charset == "utf-8":
        return None
    return problem_bytes(
        415,
        "unsupported_media_type",
        f"send the body as {' or '.join(sorted(accepted))} (UTF-8)",
        field="Content-Type",
    )
