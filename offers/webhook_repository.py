"""SQL of partner webhooks: the event outbox, endpoints, deliveries and their attempts, and
the delivery jobs on the queue (pgqueuer, on the same connection: a job exists if and only if
its transaction commits). The only place an asyncpg.Record exists for webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from sql import load_queries

from .events import DELIVER_ENTRYPOINT, grant_event_data
from .models import (
    DeliveryAttempt,
    DeliveryState,
    DeliveryToSend,
    Grant,
    WebhookDelivery,
    WebhookEndpoint,
)

Q = load_queries("webhooks.sql")

_encode = msgspec.json.Encoder().encode
_attempts = msgspec.json.Decoder(tuple[DeliveryAttempt, ...])


def _endpoint(r: asyncpg.Record, secret: str | None = None) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=r["id"],
        partner_id=r["partner_id"],
        url=r["url"],
        events=tuple(r["events"]),
        created_at=r["created_at"],
        secret=secret,
    )


class WebhookRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    # -- the outbox: events, written with the action they announce ---------------------------

    async def record_event(
        self, partner_id: str, event_type: str, data: dict[str, Any]
    ) -> list[str]:
        """Stores `event_type` for the partner's subscribed endpoints and enqueues one
        delivery job each; returns the delivery ids (none: nothing stored)."""
        rows = await self.conn.fetch(
            Q["record_event"], partner_id, event_type, _encode(data).decode()
        )
        ids: list[str] = [r["id"] for r in rows]
        if ids:
            await Queries(AsyncpgDriver(self.conn)).enqueue(
                [DELIVER_ENTRYPOINT] * len(ids), [i.encode() for i in ids], [0] * len(ids)
            )
        return ids

    async def record_operator_events(
        self, event_type: str, data: list[dict[str, Any]]
    ) -> list[str]:
        """Stores one `event_type` event per element for the operator's subscribed endpoints
        and enqueues their delivery jobs; returns the delivery ids."""
        if not data:
            return []
        rows = await self.conn.fetch(
            Q["record_operator_events"], event_type, [_encode(d).decode() for d in data]
        )
        ids: list[str] = [r["id"] for r in rows]
        if ids:
            await Queries(AsyncpgDriver(self.conn)).enqueue(
                [DELIVER_ENTRYPOINT] * len(ids), [i.encode() for i in ids], [0] * len(ids)
            )
        return ids

    async def grant_event(self, event_type: str, grant: Grant, **extra: Any) -> list[str]:
        """A grant event for the partner holding the grant."""
        return await self.record_event(
            grant.partner_id, event_type, grant_event_data(grant, **extra)
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def insert_endpoint(
        self, partner_id: str | None, url: str, events: list[str], secret: str
    ) -> WebhookEndpoint:
        """The new endpoint, its secret shown (this once)."""
        r = await self.conn.fetchrow(Q["insert_endpoint"], partner_id, url, events, secret)
        assert r is not None  # INSERT … RETURNING always returns its row
        return _endpoint(r, secret)

    async def list_endpoints(
        self, partner_id: str | None, starting_after: str | None, limit: int
    ) -> list[WebhookEndpoint]:
        rows = await self.conn.fetch(Q["list_endpoints"], partner_id, starting_after, limit)
        return [_endpoint(r) for r in rows]

    async def get_endpoint(
        self, endpoint_id: str, partner_id: str | None
    ) -> WebhookEndpoint | None:
        r = await self.conn.fetchrow(Q["get_endpoint"], endpoint_id, partner_id)
        return _endpoint(r) if r else None

    async def rotate_secret(
        self, endpoint_id: str, partner_id: str, secret: str, overlap_seconds: int
    ) -> WebhookEndpoint | None:
        """The endpoint with its new secret shown (this once); None if the partner has no such
        (undeleted) endpoint."""
        r = await self.conn.fetchrow(
            Q["rotate_endpoint_secret"], endpoint_id, partner_id, secret, overlap_seconds
        )
        if r is None:
            return None
        return msgspec.structs.replace(
            _endpoint(r, secret), previous_secret_expires_at=r["previous_secret_expires_at"]
        )

    async def delete_endpoint(self, endpoint_id: str, partner_id: str | None) -> bool:
        """Whether the partner had this (undeleted) endpoint."""
        return await self.conn.fetchval(Q["delete_endpoint"], endpoint_id, partner_id) is not None

    # -- deliveries --------------------------------------------------------------------------

    async def list_deliveries(
        self, endpoint_id: str, starting_after: str | None, limit: int
    ) -> list[WebhookDelivery]:
        rows = await self.conn.fetch(Q["list_deliveries"], endpoint_id, starting_after, limit)
        return [
            WebhookDelivery(
                id=r["id"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                status=r["status"],
                attempts=r["attempts"],
                last_status_code=r["last_status_code"],
                next_attempt_at=r["next_attempt_at"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                log=_attempts.decode(r["log"]),
            )
            for r in rows
        ]

    async def delivery_to_send(self, delivery_id: str) -> DeliveryToSend | None:
        r = await self.conn.fetchrow(Q["delivery_to_send"], delivery_id)
        if r is None:
            return None
        return DeliveryToSend(
            id=r["id"],
            status=r["status"],
            attempts=r["attempts"],
            event_id=r["event_id"],
            type=r["type"],
            created_at=r["created_at"],
            data=r["data"],
            url=r["url"],
            previous_secret=r["previous_secret"],
            secret=r["secret"],
            endpoint_deleted=r["endpoint_deleted"],
        )

    async def lock_delivery(self, delivery_id: str) -> DeliveryState:
        r = await self.conn.fetchrow(Q["lock_delivery"], delivery_id)
        assert r is not None  # a delivery is never deleted
        return DeliveryState(status=r["status"], attempts=r["attempts"])

    async def insert_attempt(
        self,
        delivery_id: str,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        await self.conn.execute(
            Q["insert_attempt"], delivery_id, attempt, status_code, error, duration_ms
        )

    async def update_delivery(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        last_status_code: int | None,
        next_attempt_in: timedelta | None,
    ) -> None:
        await self.conn.execute(
            Q["update_delivery"], delivery_id, status, attempts, last_status_code, next_attempt_in
        )

    async def schedule_delivery(self, delivery_id: str, after: timedelta) -> None:
        """The job of the delivery's next attempt, due `after` from now."""
        await Queries(AsyncpgDriver(self.conn)).enqueue(
            DELIVER_ENTRYPOINT, delivery_id.encode(), execute_after=after
        )
