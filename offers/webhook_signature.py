"""Webhook signatures, Stripe-style: `Marketplace-Signature: t=<unix>,v1=<hex HMAC-SHA256>`.

The HMAC is over f"{t}.{body}" with the endpoint's secret. This module uses the standard library
only, so a partner can copy it as it is. A receiver calls `verify_webhook` on the raw body
(before parsing it), then drops events whose `id` it has already processed: the timestamp
bounds how old a replayed request may be, the event id makes a replay inside that window a
no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

SIGNATURE_HEADER = "Marketplace-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookSignatureError(ValueError):
    """The request is not a genuine, fresh delivery; the message says why."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def sign_webhook(
    secret: str, body: bytes, timestamp: int | None = None, *, previous_secret: str | None = None
) -> str:
    """The header value for `body`, signed now (or at `timestamp`); during a secret rotation
    also with `previous_secret`, as a second `v1=`."""
    t = int(time.time()) if timestamp is None else timestamp
    header = f"t={t},v1={_mac(secret, t, body)}"
    if previous_secret is not None:
        header += f",v1={_mac(previous_secret, t, body)}"
    return header


def verify_webhook(
    secret: str,
    header: str,
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict:
    """Checks the signature and its age; returns the decoded event, else raises.

    Several `v1=` values may be present (during a secret rotation): one valid is enough.
    """
    timestamp, signatures = None, []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("malformed signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError("timestamp outside the tolerance window")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookSignatureError("signature does not match")
    return json.loads(body)
