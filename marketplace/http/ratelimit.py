"""Per-caller rate limits: separate budgets for reads and writes, keyed by the token's subject.

A caller over budget gets 429 with `Retry-After`; every limited response carries the IETF
`RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers). Counting
is in this process's memory (the `limits` library, sliding-window counters): with N API
processes behind a balancer each enforces 1/N of the budget (`api_processes`), so together
they never let a caller exceed it and no request pays a round trip for counting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_bytes, send_problem

READS = ("GET", "HEAD", "OPTIONS")


class RateLimits:
    """The budgets of this process, per caller and kind (reads, writes)."""

    def __init__(self, reads_per_second: int, writes_per_second: int, processes: int = 1):
        share = max(1, processes)
        self.items = {
            kind: RateLimitItemPerSecond(max(1, math.ceil(rate / share)))
            for kind, rate in (("reads", reads_per_second), ("writes", writes_per_second))
            if rate > 0
        }
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def take(self, kind: str, caller: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """Counts one request; whether it may go on, and the headers that say where it stands."""
        item = self.items[kind]
        allowed = await self.limiter.hit(item, kind, caller)
        stats = await self.limiter.get_window_stats(item, kind, caller)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        headers = [
            (b"ratelimit-policy", f'"{kind}";q={item.amount};w=1'.encode()),
            (b"ratelimit", f'"{kind}";r={stats.remaining};t={reset}'.encode()),
        ]
        if not allowed:
            headers.append((b"retry-after", str(max(1, reset)).encode()))
        return allowed, headers


def rate_limit_middleware(limits: RateLimits) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            principal = scope.get("user")
            kind = "reads" if scope.get("method") in READS else "writes"
            if scope["type"] != "http" or principal is None or kind not in limits.items:
                await app(scope, receive, send)
                return
            allowed, headers = await limits.take(kind, principal.key)
            if not allowed:
                status, body, base = problem_bytes(
                    429,
                    "rate_limited",
                    f"more than {limits.items[kind].amount} {kind} per second; retry later",
                )
                await send_problem(send, status, body, [*base, *headers])
                return

            async def with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *headers]
                await send(message)

            await app(scope, receive, with_headers)

        return middleware

    return wrap
