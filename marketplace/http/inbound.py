"""The outermost layer: what a request may send, held while it is read, and its end.

- Body size: every route's limit (`max_body_bytes`, or the route's own, such as ingestion's
  `max_ingest_body_bytes`) holds here, before any middleware or handler sees a byte: a
  Content-Length over it is refused at once, and a streamed body is counted chunk by chunk and
  cut at the limit. Nothing inside (Idempotency-Key replay included) can buffer more.
- JSON depth: every body of this API is JSON (or JSON Lines); nesting deeper than
  `MAX_JSON_DEPTH` is refused as it streams by, before msgspec could recurse into it.
- A client that goes away: `receive()` is watched while the app runs; on `http.disconnect`
  the request's task is cancelled, so asyncpg cancels the statement on the server too.

The app reads its body from a one-message queue fed by this layer, so watching for the
disconnect never steals (or buffers) the app's body messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import (
    ASGIApp,
    HTTPReceiveMessage,
    HTTPScope,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)
from litestar.utils import normalize_path

from .problems import problem_bytes

# Deeper than any document of this API; far below msgspec's and Python's recursion limits.
MAX_JSON_DEPTH = 64

# Work per chunk stays in C (bytes.replace, translate, split, count): with escaped backslashes
# and quotes gone, quotes alternate in and out of strings, and only the brackets outside
# them are walked, 32 at a time.
_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BLOCK = 32


class DepthScan:
    """Whether a JSON text fed in chunks nests deeper than `limit` (strings understood)."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self.too_deep = False
        self.in_string = False  # the text so far ends inside a string
        self.backslash = b""  # carried over to the next chunk

    def feed(self, chunk: bytes) -> bool:
        text = self.backslash + chunk
        kept = len(text.rstrip(b"\\"))
        # Backslashes pair from the left: an odd run's last one escapes the next chunk's byte.
        self.backslash = b"\\" if (len(text) - kept) % 2 else b""
        text = text[:kept]
        structure = text.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _STRUCTURE)
        parts = structure.split(b'"')
        outside = b"".join(parts[1::2] if self.in_string else parts[::2])
        self.in_string ^= len(parts) % 2 == 0  # an odd number of quotes
        self._walk(outside)
        return self.too_deep

    def _walk(self, brackets: bytes) -> None:
        for start in range(0, len(brackets), _BLOCK):
            block = brackets[start : start + _BLOCK]
            opens = block.count(b"[") + block.count(b"{")
            closes = len(block) - opens
            if self.depth + opens <= self.limit:
                # Cannot have gone past the limit in between. (Only a text that is not JSON
                # closes below depth 0, and a decoder refuses it there.)
                self.depth = max(self.depth + opens - closes, 0)
                continue
            for byte in block:  # near the limit (or malformed): bracket by bracket
                if byte in b"[{":
                    self.depth += 1
                    self.too_deep = self.too_deep or self.depth > self.limit
                else:
                    self.depth = max(self.depth - 1, 0)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def route_body_limit(default: int) -> Callable[[HTTPScope], int | None]:
    """The largest body of the route a request goes to, as its handler declares it
    (`request_max_body_size`, inherited from the app's); `default` where no route matches."""

    def limit(scope: HTTPScope) -> int | None:
        try:
            _, handler, *_ = scope["app"].asgi_router.handle_routing(
                path=normalize_path(scope["path"]), method=scope["method"]
            )
        except HTTPException:  # no such route or method: Litestar answers it, after this
            return default
        return handler.resolve_request_max_body_size()  # type: ignore[union-attr]

    return limit


def inbound_middleware(app: ASGIApp, body_limit: Callable[[HTTPScope], int | None]) -> ASGIApp:
    """`body_limit(scope)` is the request's largest body in bytes (None: no limit)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        limit = body_limit(cast(HTTPScope, scope))
        declared = _declared_length(scope)
        if limit is not None and declared is not None and declared > limit:
            await _answer(send, *_too_large(limit))
            return

        inbox: asyncio.Queue[ReceiveMessage] = asyncio.Queue(maxsize=1)
        started = finished = False
        refusal: tuple[int, bytes, list[tuple[bytes, bytes]]] | None = None

        async def watched_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        async def run_app() -> None:
            await app(scope, inbox.get, watched_send)

        task = asyncio.create_task(run_app())

        async def pump() -> None:
            nonlocal refusal
            received, depth, body_done = 0, DepthScan(), False
            while True:
                message = cast(HTTPReceiveMessage, await receive())
                if message["type"] == "http.disconnect":
                    if not finished:
                        task.cancel()  # the client is gone: stop its work, and its query
                    if inbox.empty():
                        inbox.put_nowait(message)
                    return
                if body_done:
                    continue  # nothing more belongs to this request
                chunk: bytes = message.get("body", b"")
                received += len(chunk)
                if limit is not None and received > limit:
                    refusal = _too_large(limit)
                elif depth.feed(chunk):
                    refusal = problem_bytes(
                        400,
                        "nesting_too_deep",
                        f"the body nests deeper than {MAX_JSON_DEPTH} levels",
                        field="body",
                    )
                if refusal is not None:
                    task.cancel()
                    return
                body_done = not message.get("more_body", False)
                await inbox.put(message)

        watcher = asyncio.create_task(pump())
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:  # the server itself cancels us: take the app along
            task.cancel()
            await asyncio.wait({task})
            raise
        finally:
            watcher.cancel()
        if not task.cancelled():
            task.result()  # the app's own exception, if any, goes on as before
        elif refusal is not None and not started:
            await _answer(send, *refusal)

    return middleware


def _too_large(limit: int) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return problem_bytes(413, "body_too_large", f"the body exceeds {limit} bytes")


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
