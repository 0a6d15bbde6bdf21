"""`Idempotency-Key` on creating POSTs: same key and request replay the first response.

The request is its method, path, query string and body: same key with any of them different
is a 409; a key still being processed is a 409 too. Responses
are kept per principal, so one caller's key never collides with another's.
"""

from __future__ import annotations

import hashlib

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from sql import UnitOfWorkFactory

from .idempotency_repository import IdempotencyRepository, StoredRequest
from .problems import problem_bytes, send_problem

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
MAX_KEY_LENGTH = 255


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers", ())).get(b"idempotency-key")
        principal = scope.get("user")
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] != "POST"
            or not key
            or principal is None
        ):
            await app(scope, receive, send)
            return
        if len(key) > MAX_KEY_LENGTH or not key.isascii():
            await send_problem(
                send,
                *problem_bytes(
                    400,
                    "invalid_idempotency_key",
                    "at most 255 ASCII characters",
                    field="Idempotency-Key",
                ),
            )
            return
        key_text = key.decode()
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        request_hash = fingerprint(scope, body)
        uow: UnitOfWorkFactory = scope["app"].state.services.uow
        who = principal.key

        async with uow(transaction=False) as work:  # each statement commits on its own
            keys = work.repository(IdempotencyRepository)
            if not await keys.claim(who, key_text, request_hash):
                answer = _replay_or_refusal(await keys.stored(who, key_text), request_hash)
                if answer is None and not await keys.take_over(who, key_text):
                    answer = _in_progress()
                if answer is not None:
                    await send_problem(send, *answer)
                    return

        replayed_body = False

        async def receive_again() -> ReceiveMessage:
            nonlocal replayed_body
            if not replayed_body:
                replayed_body = True
                again: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
                return again
            return await receive()

        start: HTTPResponseStartEvent | None = None
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive_again, capture)
        finally:
            status = start["status"] if start else 500
            async with uow(transaction=False) as work:
                keys = work.repository(IdempotencyRepository)
                if status < 500:
                    await keys.finish(who, key_text, status, b"".join(parts))
                else:  # a failed attempt is not an answer: let a retry run again
                    await keys.release(who, key_text)

    return middleware


def fingerprint(scope: HTTPScope, body: bytes) -> str:
    """What makes two requests the same one: method, path, query string and body."""
    request = b"%s %s?%s\n" % (
        scope["method"].encode(),
        scope["path"].encode(),
        scope.get("query_string", b""),
    )
    return hashlib.sha256(request + body).hexdigest()


def _replay_or_refusal(stored: StoredRequest | None, request_hash: str) -> Answer | None:
    """The stored answer, a refusal, or None when a crashed attempt left the key stale."""
    if stored is None:  # released by a failed attempt between our claim and this read
        return _in_progress()
    if stored.request_hash != request_hash:
        return problem_bytes(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
            field="Idempotency-Key",
        )
    if stored.response_status is not None:
        status = stored.response_status
        media = b"application/json" if status < 400 else b"application/problem+json"
        headers = [(b"content-type", media), (b"idempotent-replayed", b"true")]
        return status, stored.response_body or b"", headers
    if stored.locked:
        return _in_progress()
    return None


def _in_progress() -> Answer:
    return problem_bytes(
        409,
        "idempotency_request_in_progress",
        "a request with this Idempotency-Key is still being processed",
        field="Idempotency-Key",
    )
