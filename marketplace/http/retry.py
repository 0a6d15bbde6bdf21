"""One retry, on a fresh connection, of a read whose database connection broke under it.

A GET or HEAD changes nothing the caller asked for, so running it again is safe; it is retried
only when its connection was lost (terminated, closed or reset: the server may well be up) and
nothing of its answer has been sent yet. A server that refuses connections is not retried at
once: that is an outage, answered 503 with Retry-After. Writes are retried only with an
Idempotency-Key, by the idempotency layer, which can prove it safe; never without one.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send

from .problems import connection_lost

RETRIED_METHODS = ("GET", "HEAD")


def retry_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] not in RETRIED_METHODS:
            await app(scope, receive, send)
            return
        # The retry is a new run of the request: the scope as it arrived, since the first run
        # left its marks on it (the framework's "response started", the user, the fault).
        arrived = {**scope, "state": dict(scope.get("state", {}))}
        dropped = False

        async def send_unless_lost(message: Message) -> None:
            nonlocal dropped
            if message["type"] == "http.response.start":
                dropped = connection_lost(scope.get("database_fault"))
            if not dropped:
                await send(message)

        await app(scope, receive, send_unless_lost)
        if dropped:
            await app(arrived, _empty_body_then(receive), send)  # type: ignore[arg-type]

    return middleware


def _empty_body_then(receive: Receive) -> Receive:
    """The read's (empty) body again, then the client's own messages (a disconnect)."""
    given = False

    async def again() -> ReceiveMessage:
        nonlocal given
        if not given:
            given = True
            body: HTTPRequestEvent = {"type": "http.request", "body": b"", "more_body": False}
            return body
        return await receive()

    return again
