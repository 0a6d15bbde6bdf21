"""Structured logs: JSON lines, a request id on every line, one canonical line per request."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import TextIO, cast

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("marketplace.request")


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_encode_line = msgspec.json.Encoder(enc_hook=str).encode


def _json_line(event: dict, **_) -> str:
    """The line's JSON with msgspec (the stdlib json module was most of a line's cost)."""
    return _encode_line(event).decode()


def configure_logging(json: bool = True, level: int = logging.INFO) -> None:
    renderer = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json or not sys.stderr.isatty()
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and 8 <= len(value) <= 64 and value.isascii():
            return value.decode()
    return uuid.uuid4().hex


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    """Binds `request_id`, echoes it as X-Request-Id, logs one line when the response ends.

    The line carries ids only (route, status, role, subject id), never bodies or tokens.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
            if not responded:
                status = 499  # the client went away first (nginx's "client closed request")
        finally:
            user = scope.get("user")
            route = scope.get("path_template") or scope.get("path")
            log.info(
                "request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                role=getattr(user, "role", None),
                sub=getattr(user, "sub", None),
            )

    return middleware
