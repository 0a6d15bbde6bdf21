"""Partner webhook events, written in the transaction of the consent event they announce.

`record_event` stores the event and one delivery per subscribed endpoint and enqueues the
delivery jobs on the same connection: the job exists if and only if the transaction commits,
and the customer's call never waits for a partner's server.
"""

from __future__ import annotations

import msgspec
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from sql import load_queries

from .models import Grant

Q = load_queries("webhooks.sql")

DELIVER_ENTRYPOINT = "deliver_webhook"
EVENT_TYPES: tuple[str, ...] = (
    "grant.created",
    "grant.paused",
    "grant.resumed",
    "grant.revoked",
    "grant.expired",
    "customer.data_erased",
)
_encode = msgspec.json.Encoder().encode


async def record_event(conn, partner_id: str, event_type: str, data: dict) -> list[str]:
    """Stores `event_type` for the partner's subscribed endpoints; returns the delivery ids."""
    rows = await conn.fetch(Q["record_event"], partner_id, event_type, _encode(data).decode())
    ids = [r["id"] for r in rows]
    if ids:
        await Queries(AsyncpgDriver(conn)).enqueue(
            [DELIVER_ENTRYPOINT] * len(ids), [i.encode() for i in ids], [0] * len(ids)
        )
    return ids


async def grant_event(conn, event_type: str, grant: Grant, **extra) -> list[str]:
    """A grant event for the partner holding the grant (its own grant: the customer id is ok)."""
    return await record_event(
        conn,
        grant.partner_id,
        event_type,
        {
            "grant_id": grant.id,
            "offer_id": grant.offer_id,
            "offer_version": grant.offer_version,
            "customer_id": grant.customer_id,
            "status": grant.status,
            **extra,
        },
    )
