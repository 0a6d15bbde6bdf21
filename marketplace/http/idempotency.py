"""`Idempotency-Key` on POSTs: the same key and request replay the first answer.

The request is its method, path, query string and body: the same key with any of them
different is a 409. Answers are kept per principal, so one caller's key never collides with
another's.

The key's answer commits in the same transaction as the request's effect: the request runs in
one `RequestTransaction` (every unit of work it opens joins it), its answer is captured, the
answer is inserted into that transaction, and only after COMMIT is it sent. (A request refused
midway, a 4xx raised inside its unit of work, rolls all its work back and stores the refusal
alone: there is no effect to go with it.) So the key's row
exists exactly when the effect committed, and a replay after any crash (before, during or
after COMMIT) returns the first answer or runs the request for the first time. Two attempts
with one key at once: the second waits on the first's row at the insert, then rolls its own
effect back and replays the first answer.

That is also what makes one retry of a keyed write safe when the request's connection broke
under it (terminated, reset): whatever the outcome of the lost attempt, the retry either finds
its answer or finds nothing committed. A 5xx answer is never stored (it is not an answer).
"""

from __future__ import annotations

import hashlib
import re

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPScope,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from sql import DatabaseError, PostgresUnitOfWorkFactory, database_fault

from .idempotency_repository import IdempotencyRepository, StoredAnswer
from .problems import connection_lost, fault_answer, problem_bytes, send_problem

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
MAX_KEY_LENGTH = 255
# What the OpenAPI document publishes as the header's pattern (openapi.py).
KEY_PATTERN = "^[\\x21-\\x7e]{1,255}$"
VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")


class CapturedResponse:
    """The app's answer, held back until the transaction it belongs to has committed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status = 500
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )

    async def forward(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers", ())).get(b"idempotency-key")
        principal = scope.get("user")
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] != "POST"
            or key is None
            or principal is None
        ):
            await app(scope, receive, send)
            return
        if not VALID_KEY.fullmatch(key):
            await send_problem(
                send,
                *problem_bytes(
                    400,
                    "invalid_idempotency_key",
                    "1 to 255 visible ASCII characters",
                    field="Idempotency-Key",
                ),
            )
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        attempt = KeyedAttempt(
            app, scope, receive, principal.key, key.decode(), body, fingerprint(scope, body)
        )
        try:
            answer = await attempt.run()
            if answer is None and attempt.retryable():  # its connection broke: once more
                answer = await attempt.run()
        except DatabaseError as fault:
            answer = fault_answer(fault)
        if answer is None:
            await attempt.response.forward(send)
        else:
            await send_problem(send, *answer)

    return middleware


class KeyedAttempt:
    """One run of a keyed request: its stored answer, or the request with its answer recorded
    in its own transaction. `run` returns the answer to send, or None to send `response`."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        principal: str,
        key: str,
        body: bytes,
        request_hash: str,
    ):
        self.app, self.scope, self.receive = app, scope, receive
        self.principal, self.key, self.body, self.request_hash = principal, key, body, request_hash
        self.uow: PostgresUnitOfWorkFactory = scope["app"].state.services.uow
        self.response = CapturedResponse()
        self.lost = False  # this attempt's connection broke under it
        self.retried = False

    def retryable(self) -> bool:
        if self.lost and not self.retried:
            self.retried = True
            return True
        return False

    async def _stored(self) -> StoredAnswer | None:
        async with self.uow(transaction=False) as work:
            return await work.repository(IdempotencyRepository).stored(self.principal, self.key)

    async def run(self) -> Answer | None:
        self.lost = False
        self.scope.pop("database_fault", None)  # type: ignore[typeddict-item]
        stored = await self._stored()
        if stored is not None:
            return _replay_or_refusal(stored, self.request_hash)
        self.response = response = CapturedResponse()
        request = self.uow.request_transaction()
        try:
            with request.bound():
                await self.app(self.scope, self._receive_again(), response.send)
            if response.status >= 500 or not response.complete:
                self.lost = connection_lost(self.scope.get("database_fault"))
                return None  # not an answer: nothing of it commits, a retry runs again
            if request.failed:  # refused midway (a 4xx): its work rolls back, the answer stays
                await request.close()
                request = self.uow.request_transaction()
            conn = await request.connection()
            keys = IdempotencyRepository(conn)
            if not await keys.record(
                self.principal, self.key, self.request_hash, response.status, response.body
            ):
                await request.close()  # another attempt answered first: ours never happened
                stored = await self._stored()
                return _replay_or_refusal(stored, self.request_hash) if stored else _conflict()
            await request.commit()
            return None
        except Exception as e:
            fault = database_fault(e)
            if fault is None:
                raise
            self.lost = connection_lost(fault)
            raise fault from e
        finally:
            await request.close()

    def _receive_again(self) -> Receive:
        replayed = False

        async def receive() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                again: HTTPRequestEvent = {
                    "type": "http.request",
                    "body": self.body,
                    "more_body": False,
                }
                return again
            return await self.receive()

        return receive


def fingerprint(scope: HTTPScope, body: bytes) -> str:
    """What makes two requests the same one: method, path, query string and body."""
    request = b"%s %s?%s\n" % (
        scope["method"].encode(),
        scope["path"].encode(),
        scope.get("query_string", b""),
    )
    return hashlib.sha256(request + body).hexdigest()


def _replay_or_refusal(stored: StoredAnswer, request_hash: str) -> Answer:
    """The stored answer, or a refusal when the key was used with another request."""
    if stored.request_hash != request_hash:
        return problem_bytes(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
            field="Idempotency-Key",
        )
    media = b"application/json" if stored.status < 400 else b"application/problem+json"
    headers = [(b"content-type", media), (b"idempotent-replayed", b"true")]
    return stored.status, stored.body, headers


def _conflict() -> Answer:
    return problem_bytes(
        409,
        "idempotency_request_in_progress",
        "a request with this Idempotency-Key is still being processed",
        field="Idempotency-Key",
    )
