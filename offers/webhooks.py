"""Partner webhook endpoints and the delivery of their events (retries with backoff).

A delivery is one job on the queue per attempt: the HTTP call runs outside any transaction,
then its outcome, the attempt log and (on failure) the next attempt's job are written in one.
Targets are public addresses only, checked at registration and at every delivery against the
address connected to (webhook_targets.py). The partner's log holds an outcome class, never the
error's text (that would map the operator's network); the text goes to the server log.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import msgspec
import structlog

from sql import UnitOfWorkFactory

from .errors import NotFound, OffersError
from .events import EVENT_TYPES, OPERATOR_EVENT_TYPES
from .models import (
    DeliveryAttempt,
    DeliveryOutcome,
    DeliveryToSend,
    Page,
    WebhookDelivery,
    WebhookEndpoint,
)
from .webhook_repository import WebhookRepository
from .webhook_signature import SIGNATURE_HEADER, sign_webhook
from .webhook_targets import (
    GuardedNetworkBackend,
    GuardedTransport,
    Resolver,
    TargetRefused,
    TargetUnresolvable,
    check_url,
)

log = structlog.get_logger("offers.webhooks")

# After a secret rotation the previous secret keeps signing beside the new one this long.
SECRET_OVERLAP_SECONDS = 24 * 3600
MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 3600

__all__ = [
    "DeliveryAttempt",
    "EndpointNotFound",
    "InvalidWebhookEndpoint",
    "Resolver",
    "RetryPolicy",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookService",
]


class InvalidWebhookEndpoint(OffersError):
    """A webhook URL that is malformed or points inside the network, or an unknown event."""

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


# Outcomes after which another attempt cannot succeed: the delivery fails at once.
_FINAL: frozenset[DeliveryOutcome] = frozenset(
    {"target_forbidden", "invalid_url", "endpoint_deleted"}
)


def _outcome(e: BaseException) -> DeliveryOutcome:
    """The class of a failed attempt, the only thing about it the partner is told."""
    if isinstance(e, TargetRefused):
        return e.outcome
    if isinstance(e, TargetUnresolvable):
        return "unresolvable"
    if isinstance(e, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(e, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "invalid_url"
    if isinstance(e, httpx.ProtocolError | httpx.DecodingError):
        return "protocol_error"
    if not isinstance(e, httpx.HTTPError):
        return "internal_error"
    cause: BaseException | None = e
    while cause is not None:  # httpx.ConnectError from httpcore's, from the OSError
        if isinstance(cause, ssl.SSLError):
            return "tls_error"
        if isinstance(cause, ConnectionRefusedError):
            return "connection_refused"
        cause = cause.__cause__ or cause.__context__
    return "connection_failed"


class WebhookService:
    """Endpoint registration for partners, and the delivery job.

    `allowed_hosts` may be loopback or private (development and tests only); `resolver`
    replaces the system's resolver (tests).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        policy: RetryPolicy | None = None,
        *,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
    ):
        self.uow = uow
        self.policy = policy or RetryPolicy()
        self.allowed_hosts = tuple(allowed_hosts)
        self._backend = GuardedNetworkBackend(self.allowed_hosts, resolver)
        self._http: httpx.AsyncClient | None = None

    async def create_endpoint(
        self, partner_id: str | None, url: str, events: tuple[str, ...]
    ) -> WebhookEndpoint:
        """Registers an endpoint of the partner (`None`: of the operator, for its own events);
        an unknown partner is refused by its foreign key (CONSTRAINT_ERRORS: PartnerNotFound)."""
        known = EVENT_TYPES if partner_id is not None else OPERATOR_EVENT_TYPES
        try:
            check_url(url, self.allowed_hosts)
        except TargetRefused as e:
            raise InvalidWebhookEndpoint(e.detail, field="url") from None
        unknown = [e for e in events if e not in known]
        if unknown or not events:
            raise InvalidWebhookEndpoint(
                f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(known)}"
                if unknown
                else "at least one event type is required",
                field="events",
            )
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.uow(transaction=False) as uow:
            return await uow.repository(WebhookRepository).insert_endpoint(
                partner_id, url, sorted(set(events)), secret
            )

    async def list_endpoints(
        self, partner_id: str | None, *, starting_after: str | None, limit: int
    ) -> Page[WebhookEndpoint]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(WebhookRepository).list_endpoints(
                partner_id, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def rotate_secret(
        self, partner_id: str, endpoint_id: str, overlap_seconds: int = SECRET_OVERLAP_SECONDS
    ) -> WebhookEndpoint:
        """A new signing secret for the endpoint, shown only in this answer. Until the overlap
        ends, every delivery carries a `v1=` signature with the new secret and one with the
        old, so the receiver verifies during its switch with either (docs/webhooks.md)."""
        if not 0 <= overlap_seconds <= MAX_SECRET_OVERLAP_SECONDS:
            raise InvalidWebhookEndpoint(
                f"overlap_seconds must be 0..{MAX_SECRET_OVERLAP_SECONDS}", field="overlap_seconds"
            )
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.uow(transaction=False) as uow:
            endpoint = await uow.repository(WebhookRepository).rotate_secret(
                endpoint_id, partner_id, secret, overlap_seconds
            )
        if endpoint is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id")
        return endpoint

    async def delete_endpoint(self, partner_id: str | None, endpoint_id: str) -> None:
        """Stops deliveries to the endpoint (its log is kept)."""
        async with self.uow(transaction=False) as uow:
            if not await uow.repository(WebhookRepository).delete_endpoint(endpoint_id, partner_id):
                raise EndpointNotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id")

    async def list_deliveries(
        self, partner_id: str | None, endpoint_id: str, *, starting_after: str | None, limit: int
    ) -> Page[WebhookDelivery]:
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(WebhookRepository)
            if await repo.get_endpoint(endpoint_id, partner_id) is None:
                raise EndpointNotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id")
            rows = await repo.list_deliveries(endpoint_id, starting_after, limit + 1)
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    # -- the delivery job ------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=GuardedTransport(self._backend),
                timeout=self.policy.timeout,
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def deliver(self, delivery_id: str) -> str:
        """One attempt at delivering; returns the delivery's status afterwards."""
        async with self.uow(transaction=False) as uow:
            d = await uow.repository(WebhookRepository).delivery_to_send(delivery_id)
        if d is None or d.status != "pending":
            return d.status if d else "missing"
        if d.endpoint_deleted:
            return await self._record(delivery_id, None, "endpoint_deleted", 0)
        started = time.monotonic()
        status_code: int | None = None
        outcome: DeliveryOutcome | None = None
        try:
            status_code = await self._send(d)
            if not 200 <= status_code < 300:
                outcome = "http_status"
        except Exception as e:  # any failure is an outcome: the delivery never stays pending
            outcome = _outcome(e)
            logger = log.exception if outcome == "internal_error" else log.warning
            logger(
                "webhook_attempt_failed",
                delivery_id=delivery_id,
                outcome=outcome,
                error=f"{type(e).__name__}: {e}"[:500],
            )
        elapsed = int((time.monotonic() - started) * 1000)
        return await self._record(delivery_id, status_code, outcome, elapsed)

    async def _send(self, d: DeliveryToSend) -> int:
        """Posts the event to the endpoint (re-checked under today's rules); the answer's
        status code. The whole attempt is bounded by the timeout, and the answer's body is
        never read (a receiver could send without end)."""
        check_url(d.url, self.allowed_hosts)
        body = msgspec.json.encode(
            {
                "id": d.event_id,
                "type": d.type,
                "created": int(d.created_at.timestamp()),
                "data": msgspec.json.decode(d.data),
            }
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "consent-marketplace-webhooks/1",
            SIGNATURE_HEADER: sign_webhook(d.secret, body, previous_secret=d.previous_secret),
        }
        async with asyncio.timeout(self.policy.timeout):
            async with self._client().stream("POST", d.url, content=body, headers=headers) as r:
                return r.status_code

    async def _record(
        self,
        delivery_id: str,
        status_code: int | None,
        outcome: DeliveryOutcome | None,
        elapsed_ms: int,
    ) -> str:
        async with self.uow() as uow:
            repo = uow.repository(WebhookRepository)
            current = await repo.lock_delivery(delivery_id)
            if current.status != "pending":  # another worker finished it meanwhile
                return current.status
            attempt = current.attempts + 1
            await repo.insert_attempt(delivery_id, attempt, status_code, outcome, elapsed_ms)
            next_in: timedelta | None = None
            if outcome is None:
                status = "succeeded"
            elif outcome in _FINAL or attempt >= self.policy.max_attempts:
                status = "failed"
            else:
                status = "pending"
                next_in = timedelta(seconds=self.policy.delay(attempt))
                await repo.schedule_delivery(delivery_id, next_in)
            await repo.update_delivery(delivery_id, status, attempt, status_code, next_in)
            return status
