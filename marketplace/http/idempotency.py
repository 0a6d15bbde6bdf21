"""`Idempotency-Key` on creating POSTs: same key and body replay the first response.

Same key with a different body is a 409; a key still being processed is a 409 too. Responses
are kept per principal, so one caller's key never collides with another's.
"""

from __future__ import annotations

import hashlib

import asyncpg
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sql import load_queries

from .problems import problem_bytes

Q = load_queries("idempotency.sql")
MAX_KEY_LENGTH = 255


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers", ())).get(b"idempotency-key")
        principal = scope.get("user")
        if scope["type"] != "http" or scope["method"] != "POST" or not key or principal is None:
            await app(scope, receive, send)
            return
        if len(key) > MAX_KEY_LENGTH or not key.isascii():
            await _send(send, *problem_bytes(
                400, "invalid_idempotency_key", "at most 255 ASCII characters",
                field="Idempotency-Key",
            ))  # fmt: skip
            return
        key_text = key.decode()
        body, more, chunks = b"", True, []
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        request_hash = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body
        ).hexdigest()
        pool: asyncpg.Pool = scope["app"].state.pool
        who = principal.key

        async with pool.acquire() as conn:
            if await conn.fetchval(Q["begin"], who, key_text, request_hash) is None:
                row = await conn.fetchrow(Q["get"], who, key_text)
                answer = _replay_or_refusal(row, request_hash)
                if answer is None and not await conn.fetchval(Q["take_over"], who, key_text):
                    answer = _in_progress()
                if answer is not None:
                    await _send(send, *answer)
                    return

        replayed_body = False

        async def receive_again() -> Message:
            nonlocal replayed_body
            if not replayed_body:
                replayed_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Message | None = None
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
            async with pool.acquire() as conn:
                if status < 500:
                    await conn.execute(Q["finish"], who, key_text, status, b"".join(parts))
                else:  # a failed attempt is not an answer: let a retry run again
                    await conn.execute(Q["release"], who, key_text)

    return middleware


def _replay_or_refusal(row, request_hash: str):
    """The stored answer, a refusal, or None when a crashed attempt left the key stale."""
    if row["request_hash"] != request_hash:
        return problem_bytes(
            409, "idempotency_key_reused",
            "this Idempotency-Key was used with a different request", field="Idempotency-Key",
        )  # fmt: skip
    if row["response_status"] is not None:
        status = row["response_status"]
        media = b"application/json" if status < 400 else b"application/problem+json"
        headers = [(b"content-type", media), (b"idempotent-replayed", b"true")]
        return status, bytes(row["response_body"]), headers
    if row["locked"]:
        return _in_progress()
    return None


def _in_progress():
    return problem_bytes(
        409, "idempotency_request_in_progress",
        "a request with this Idempotency-Key is still being processed", field="Idempotency-Key",
    )  # fmt: skip
