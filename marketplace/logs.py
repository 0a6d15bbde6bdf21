"""Structured logs: JSON lines, a request id on every line, one canonical line per request."""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from typing import Any

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("marketplace.request")


class LineWriter:
    """A structlog logger writing each line with ONE write call on stderr's file descriptor:
    lines of several processes sharing one stream never interleave (a line below the pipe
    buffer is written atomically). Whatever sys.stderr is at the time (test runners swap it)
    is used when it has no descriptor."""

    def msg(self, message: str) -> None:
        line = message + "\n"
        stream = sys.stderr
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # a stand-in stream without a descriptor
            stream.write(line)
            stream.flush()
            return
        stream.flush()
        data = line.encode()
        while data:
            data = data[os.write(fd, data) :]

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _line_writer(*_args: object) -> LineWriter:
    return LineWriter()


_encode_line = msgspec.json.Encoder(enc_hook=str).encode


def _json_line(event: dict, **_) -> str:
    """The line's JSON with msgspec (the stdlib json module was most of a line's cost)."""
    return _encode_line(event).decode()


def _add_process(_logger: object, _name: str, event: dict) -> dict:
    """The writing process's id (`pid` stays free for the process an event is about)."""
    event["process"] = os.getpid()
    return event


def configure_logging(json: bool = True, level: int = logging.INFO) -> None:
    """Our lines and every library's (stdlib logging: asyncpg, uvicorn, pgqueuer, and Python
    warnings) as one stream of whole JSON lines on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json or not sys.stderr.isatty()
        else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        _add_process,  # several processes share one stream: which one said it
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_line_writer,
        cache_logger_on_first_use=True,
    )
    # The standard library's records, rendered by the same chain and written the same way.
    handler = _LineHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # ExtraAdder: a record's `extra` fields become the line's fields.
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(_without_reconnect_tracebacks)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.WARNING))  # libraries speak up for warnings and worse
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)


def _without_reconnect_tracebacks(record: logging.LogRecord) -> bool:
    """asyncpg's pool logs each failed attempt to reconnect with its traceback; the outage
    itself is said once by sql.health, so the attempt keeps one line naming its error."""
    if record.name == "asyncpg.pool" and record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.error = f"{type(error).__name__}: {error}"[:300]
        record.exc_info = record.exc_text = None
    return True


class _LineHandler(logging.Handler):
    """A stdlib handler that writes each formatted record as one line, like our own lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            LineWriter().msg(self.format(record))
        except Exception:
            self.handleError(record)


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
