"""First come, first served: at most N read requests of this process in flight at once.

Past a handful of concurrent requests one event loop (and a 2-core machine's PostgreSQL) does
not get faster, only unfair: asyncpg's pool hands a released connection to whoever asks first,
not to whoever has waited longest (asyncio.Queue re-queues a woken waiter at the back), and 64
requests interleaving their awaits finish in a random order. The median is unchanged but the
tail grows (measured: one-SELECT p99 ~66-130 ms at 64 connections without this, ~16 ms with
N=8; bench/bench_access.py). Here the rest wait in a FIFO line instead and enter in order.

Only GET and HEAD requests queue, and each leaves the line as soon as its response starts:
a slow client streaming a download, or a slow upload, never holds a place. Writes go straight
through. MAX_IN_FLIGHT=0 turns it off.
"""

from __future__ import annotations

import asyncio
from collections import deque

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

GATED_METHODS = ("GET", "HEAD")
# Probes answer at once, never behind the line: a load balancer must see a busy process alive.
UNGATED_PATHS = frozenset({"/health", "/ready"})


class FairGate:
    """A FIFO semaphore: a released place goes to the longest waiter, never to a newcomer."""

    def __init__(self, places: int):
        self.free = places
        self.waiters: deque[asyncio.Future] = deque()

    async def enter(self) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        place = asyncio.get_running_loop().create_future()
        self.waiters.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self.leave()  # handed a place just as it was cancelled: pass it on
            else:
                self.waiters.remove(place)
            raise

    def leave(self) -> None:
        while self.waiters:
            place = self.waiters.popleft()
            if not place.done():
                place.set_result(None)  # handed over directly: free never goes up meanwhile
                return
        self.free += 1


def admission_middleware(app: ASGIApp, max_in_flight: int) -> ASGIApp:
    if max_in_flight <= 0:
        return app
    gate = FairGate(max_in_flight)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] not in GATED_METHODS
            or scope["path"] in UNGATED_PATHS
        ):
            await app(scope, receive, send)
            return
        await gate.enter()
        inside = True

        async def send_and_leave(message: Message) -> None:
            nonlocal inside
            if inside and message["type"] == "http.response.start":
                inside = False
                gate.leave()
            await send(message)

        try:
            await app(scope, receive, send_and_leave)
        finally:
            if inside:
                gate.leave()

    return middleware
