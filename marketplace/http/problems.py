"""RFC 9457 problem responses: every error leaves the API here, with a stable `code`."""

from __future__ import annotations

import re

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap, Send

from ledger import LedgerError
from ledger.audit import AuditError
from offers import OffersError
from offers.dataspace import AccessDenied, DataSpaceError
from offers.insights import InsightError
from policies import PolicyError
from sql import DatabaseError, DatabaseUnavailable, database_fault

log = structlog.get_logger("marketplace.errors")

PROBLEM_JSON = "application/problem+json"

# Every domain package's error base: each error class declares its stable `code` and its
# HTTP `status`; each has `detail` and `field`. One handler serves them all.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    OffersError,
    DataSpaceError,
    InsightError,
    LedgerError,
    AuditError,
    PolicyError,
    DatabaseError,
)


def error_classes() -> list[type[Exception]]:
    """Every domain error class, bases included."""
    seen: list[type[Exception]] = []
    todo = list(DOMAIN_ERRORS)
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def _status_table() -> dict[str, int]:
    table: dict[str, int] = {}
    for cls in error_classes():
        code, status = cls.code, cls.status  # type: ignore[attr-defined]
        if table.setdefault(code, status) != status:
            raise RuntimeError(f"error code {code!r} has two statuses ({table[code]}, {status})")
    return table


# The one table from domain error code to HTTP status (a code never has two statuses).
STATUS_BY_CODE = _status_table()

# Litestar's own HTTP errors, by status, to our codes.
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    field: str | None = None
    instance: str | None = None
    errors: list[dict] | None = None
    reasons: list | None = None


def problem(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    field: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra,
) -> Response:
    body = msgspec.to_builtins(
        Problem(
            type=f"/problems/{code}",
            title=title or code.replace("_", " ").capitalize(),
            status=status,
            code=code,
            detail=detail,
            field=field,
        )
    )
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_bytes(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    retry_after: int | None = None,
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The same problem as raw ASGI parts, for middleware that answers before routing."""
    body = Problem(
        type=f"/problems/{code}",
        title=code.replace("_", " ").capitalize(),
        status=status,
        code=code,
        detail=detail,
        field=field,
    )
    headers = [(b"content-type", PROBLEM_JSON.encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return status, msgspec.json.encode(body), headers


def fault_answer(fault: DatabaseError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The database's failure as raw ASGI parts (503 with Retry-After), for middleware."""
    return problem_bytes(fault.status, fault.code, fault.detail, retry_after=fault.retry_after)


def connection_lost(fault: object) -> bool:
    """Whether a request failed because its connection broke (a fresh one may work now)."""
    return isinstance(fault, DatabaseUnavailable) and fault.connection_lost


async def send_problem(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """Answers with the raw parts `problem_bytes` made (from middleware, before routing)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _domain_error(request: Request, exc: Exception) -> Response:
    code = exc.code  # type: ignore[attr-defined]
    status = STATUS_BY_CODE[code]
    if isinstance(exc, DatabaseError):  # what the retrying layers outside look at
        request.scope["database_fault"] = exc  # type: ignore[typeddict-unknown-key]
    # The database's own outages are logged once each way by the data layer (sql/health.py).
    if status >= 500 and not isinstance(exc, DatabaseError):
        log.error("domain_fault", code=code, error=type(exc).__name__, detail=str(exc))
    reasons = [msgspec.to_builtins(r) for r in getattr(exc, "reasons", None) or ()] or None
    # A dependency that is down: the honest answer says when to try again.
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem(
        status,
        code,
        getattr(exc, "detail", None) or str(exc),
        field=getattr(exc, "field", None) or None,
        reasons=reasons,
        headers=headers,
    )


def _access_denied(request: Request, exc: AccessDenied) -> Response:
    d = exc.decision
    decision = {
        "id": d.id,
        "allowed": d.allowed,
        "reasons": list(d.reasons),
        "rule_ids": list(d.rule_ids),
        "grant_id": d.grant_id,
        "rules_version": d.rules_version,
    }
    return problem(403, exc.code, exc.detail, decision=decision)


_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")
# msgspec names the field itself, not its path, for unknown and missing fields.
_NAMED_FIELD = re.compile(
    r"Object (contains unknown|missing required) field `([^`]+)`(?: - at `\$\.?([^`]*)`)?"
)
# A body's own check (schemas.Strict) names its field, and msgspec adds the struct's path.
_CHECKED_FIELD = re.compile(r"Field `([^`]+)` [^`]*(?: - at `\$\.?([^`]*)`)?$")


def _validation_error(request: Request, exc: ValidationException) -> Response:
    errors = exc.extra if isinstance(exc.extra, list) else []
    first = errors[0] if errors else {}
    detail = first.get("message") or exc.detail or "invalid request"
    field = first.get("key")
    if missing := _MISSING_PARAMETER.match(detail):
        code, field = "validation_error", missing.group(2)
        detail = f"missing required {missing.group(1)} parameter {field!r}"
    elif named := _NAMED_FIELD.match(detail):
        code = "unknown_field" if named.group(1) == "contains unknown" else "validation_error"
        parent = named.group(3) or (field if field not in (None, "data") else None)
        field = ".".join(p for p in (parent, named.group(2)) if p)
    elif checked := _CHECKED_FIELD.match(detail):
        code = "validation_error"
        parent = checked.group(2) or (field if field not in (None, "data") else None)
        field = ".".join(p for p in (parent, checked.group(1)) if p)
    elif "malformed" in detail or "invalid character" in detail or "truncated" in detail:
        code = "malformed_json"
    else:
        code = "validation_error"
    return problem(400, code, detail, field=field, errors=errors or None)


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        return _unexpected(request, exc)
    headers = dict(exc.headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem(status, CODE_BY_STATUS.get(status, "bad_request"), exc.detail, headers=headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    fault = database_fault(exc)
    if fault is not None:  # the database failed this request: not a bug of ours
        return _domain_error(request, fault)
    log.exception("unhandled_error", error=type(exc).__name__)
    return problem(500, "internal_error", "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    **dict.fromkeys(DOMAIN_ERRORS, _domain_error),
    AccessDenied: _access_denied,
    ValidationException: _validation_error,
    NotAuthorizedException: _http_error,
    PermissionDeniedException: _http_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
