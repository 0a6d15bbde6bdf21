"""Admission: at most N requests of each class in flight per process, a bounded line behind
them, and an immediate 503 `overloaded` (with Retry-After) for whoever finds the line full.

Past a handful of concurrent requests one event loop (and a 2-core machine's PostgreSQL) does
not get faster, only unfair: asyncpg's pool hands a released connection to whoever asks first,
not to whoever has waited longest (asyncio.Queue re-queues a woken waiter at the back), and 64
requests interleaving their awaits finish in a random order. The median is unchanged but the
tail grows (measured: one-SELECT p99 ~66-130 ms at 64 connections without this, ~16 ms with
N=8; bench/bench_access.py). Here the rest wait in a FIFO line instead and enter in order.

Reads (GET, HEAD) and writes (everything else) have their own places and their own line, so a
burst of one class never starves the other. A line has a bound: beyond it waiting would only
grow memory and latency until every client times out (and the server would still do work
nobody waits for), so the request is refused at once, before any work. A request whose client
goes away while in line is cancelled there (inbound.py watches the connection) and does no
work. Each request leaves as soon as its response starts: a slow client streaming a download,
or a slow upload, never holds a place. Probes (/health, /ready) never wait in a line.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_bytes, send_problem

READ_METHODS = ("GET", "HEAD")
# Probes answer at once, never behind the line: a load balancer must see a busy process alive.
UNGATED_PATHS = frozenset({"/health", "/ready"})
RETRY_AFTER_SECONDS = 1


class AdmissionSettings(Protocol):
    @property
    def max_in_flight(self) -> int: ...
    @property
    def max_writes_in_flight(self) -> int: ...
    @property
    def max_queued_reads(self) -> int: ...
    @property
    def max_queued_writes(self) -> int: ...


@dataclass(frozen=True)
class Admission:
    """Places in flight and places in line, per class (0 places in flight: no gate)."""

    reads: int = 8
    writes: int = 8
    queued_reads: int = 64
    queued_writes: int = 64

    @classmethod
    def of(cls, settings: AdmissionSettings) -> Admission:
        return cls(
            reads=settings.max_in_flight,
            writes=settings.max_writes_in_flight,
            queued_reads=settings.max_queued_reads,
            queued_writes=settings.max_queued_writes,
        )


class Overloaded(Exception):
    """The line is full: the request is refused before it does anything."""


class FairGate:
    """A FIFO semaphore with a bounded line: a released place goes to the longest waiter,
    never to a newcomer; a newcomer finding `max_waiting` already waiting is refused."""

    def __init__(self, places: int, max_waiting: int | None = None):
        self.free = places
        self.max_waiting = max_waiting
        self.waiters: deque[asyncio.Future] = deque()

    async def enter(self) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        if self.max_waiting is not None and len(self.waiters) >= self.max_waiting:
            raise Overloaded
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


_OVERLOADED = problem_bytes(
    503,
    "overloaded",
    "too many requests are waiting in this process; retry shortly",
    retry_after=RETRY_AFTER_SECONDS,
)


def admission_middleware(app: ASGIApp, admission: Admission | int) -> ASGIApp:
    """`admission` an int: that many reads in flight, an unbounded line, writes ungated."""
    if isinstance(admission, int):
        admission = Admission(reads=admission, writes=0, queued_reads=-1, queued_writes=-1)
    reads = _gate(admission.reads, admission.queued_reads)
    writes = _gate(admission.writes, admission.queued_writes)
    if reads is None and writes is None:
        return app

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        gate = None
        if scope["type"] == ScopeType.HTTP and scope["path"] not in UNGATED_PATHS:
            gate = reads if scope["method"] in READ_METHODS else writes
        if gate is None:
            await app(scope, receive, send)
            return
        try:
            await gate.enter()
        except Overloaded:
            await send_problem(send, *_OVERLOADED)
            return
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


def _gate(places: int, waiting: int) -> FairGate | None:
    return FairGate(places, waiting if waiting >= 0 else None) if places > 0 else None
