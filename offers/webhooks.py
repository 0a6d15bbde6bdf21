"""Partner webhook endpoints and the delivery of their events (retries with backoff).

A delivery is one job on the queue per attempt: the HTTP call runs outside any transaction,
then its outcome, the attempt log and (on failure) the next attempt's job are written in one.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import httpx
import msgspec
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from .errors import NotFound, OffersError, PartnerNotFound
from .events import DELIVER_ENTRYPOINT, EVENT_TYPES, Q
from .models import Page
from .webhook_signature import SIGNATURE_HEADER, sign_webhook


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    partner_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    # Shown once, in the response that creates the endpoint.
    secret: str | None = None


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    log: tuple[DeliveryAttempt, ...]


class InvalidWebhookEndpoint(OffersError):
    """A webhook URL that is not absolute http(s), or an unknown event type."""

    code = "invalid_webhook_endpoint"
    status = 422


class EndpointNotFound(NotFound):
    """No such webhook endpoint of this partner."""

    code = "webhook_endpoint_not_found"
    status = 404


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base, 2×base, 4×base… capped at max_delay; at most max_attempts."""

    base_delay: float = 1.0
    max_delay: float = 3600.0
    max_attempts: int = 8
    timeout: float = 10.0

    def delay(self, attempts_made: int) -> float:
        return min(self.base_delay * 2 ** (attempts_made - 1), self.max_delay)


def _check_url(url: str) -> None:
    try:  # a malformed URL (`http://[::1`, a port out of range) raises, not just fails
        parts = urlsplit(url)
        absolute = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- parsed on access; raises when it is not a port
    except ValueError:
        absolute = False
    if not absolute:
        raise InvalidWebhookEndpoint("url must be an absolute http(s) URL", field="url")
    if len(url) > 2000:
        raise InvalidWebhookEndpoint("url is longer than 2000 characters", field="url")


def _endpoint(r, secret: str | None = None) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=r["id"], partner_id=r["partner_id"], url=r["url"], events=tuple(r["events"]),
        created_at=r["created_at"], secret=secret,
    )  # fmt: skip


_attempts = msgspec.json.Decoder(tuple[DeliveryAttempt, ...])


class WebhookService:
    """Endpoint registration for partners, and the delivery job."""

    def __init__(self, pool: asyncpg.Pool, policy: RetryPolicy | None = None):
        self.pool = pool
        self.policy = policy or RetryPolicy()
        self._http: httpx.AsyncClient | None = None

    async def create_endpoint(
        self, partner_id: str, url: str, events: tuple[str, ...]
    ) -> WebhookEndpoint:
        _check_url(url)
        unknown = [e for e in events if e not in EVENT_TYPES]
        if unknown or not events:
            raise InvalidWebhookEndpoint(
                f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
                if unknown else "at least one event type is required",
                field="events",
            )  # fmt: skip
        secret = "whsec_" + secrets.token_urlsafe(32)
        try:
            async with self.pool.acquire() as conn:
                r = await conn.fetchrow(
                    Q["insert_endpoint"], partner_id, url, sorted(set(events)), secret
                )
        except asyncpg.ForeignKeyViolationError:
            raise PartnerNotFound("the partner in this token does not exist") from None
        return _endpoint(r, secret)

    async def list_endpoints(
        self, partner_id: str, *, starting_after: str | None, limit: int
    ) -> Page[WebhookEndpoint]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["list_endpoints"], partner_id, starting_after, limit + 1)
        return Page(data=[_endpoint(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def delete_endpoint(self, partner_id: str, endpoint_id: str) -> None:
        """Stops deliveries to the endpoint (its log is kept)."""
        async with self.pool.acquire() as conn:
            if await conn.fetchval(Q["delete_endpoint"], endpoint_id, partner_id) is None:
                raise EndpointNotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id")

    async def list_deliveries(
        self, partner_id: str, endpoint_id: str, *, starting_after: str | None, limit: int
    ) -> Page[WebhookDelivery]:
        async with self.pool.acquire() as conn:
            if await conn.fetchrow(Q["get_endpoint"], endpoint_id, partner_id) is None:
                raise EndpointNotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id")
            rows = await conn.fetch(Q["list_deliveries"], endpoint_id, starting_after, limit + 1)
        data = [
            WebhookDelivery(**{**dict(r), "log": _attempts.decode(r["log"])}) for r in rows[:limit]
        ]
        return Page(data=data, has_more=len(rows) > limit)

    # -- the delivery job ------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.policy.timeout, follow_redirects=False, trust_env=False
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def deliver(self, delivery_id: str) -> str:
        """One attempt at delivering; returns the delivery's status afterwards."""
        async with self.pool.acquire() as conn:
            d = await conn.fetchrow(Q["delivery_to_send"], delivery_id)
        if d is None or d["status"] != "pending":
            return d["status"] if d else "missing"
        if d["endpoint_deleted"]:
            return await self._record(delivery_id, None, "endpoint deleted", 0, final=True)
        body = msgspec.json.encode(
            {
                "id": d["event_id"],
                "type": d["type"],
                "created": int(d["created_at"].timestamp()),
                "data": msgspec.json.decode(d["data"]),
            }
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "consent-marketplace-webhooks/1",
            SIGNATURE_HEADER: sign_webhook(d["secret"], body),
        }
        started = time.monotonic()
        status_code, error = None, None
        try:
            response = await self._client().post(d["url"], content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"[:500]
        elapsed = int((time.monotonic() - started) * 1000)
        return await self._record(delivery_id, status_code, error, elapsed, final=False)

    async def _record(
        self, delivery_id: str, status_code: int | None, error: str | None, elapsed_ms: int,
        *, final: bool,
    ) -> str:  # fmt: skip
        async with self.pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(Q["lock_delivery"], delivery_id)
            if current["status"] != "pending":  # another worker finished it meanwhile
                return current["status"]
            attempt = current["attempts"] + 1
            await conn.execute(
                Q["insert_attempt"], delivery_id, attempt, status_code, error, elapsed_ms
            )
            if error is None:
                status, next_at = "succeeded", None
            elif final or attempt >= self.policy.max_attempts:
                status, next_at = "failed", None
            else:
                status = "pending"
                next_at = delay = timedelta(seconds=self.policy.delay(attempt))
                await Queries(AsyncpgDriver(conn)).enqueue(
                    DELIVER_ENTRYPOINT, delivery_id.encode(), execute_after=delay
                )
            await conn.execute(
                Q["update_delivery"], delivery_id, status, attempt, status_code, next_at
            )
            return status
