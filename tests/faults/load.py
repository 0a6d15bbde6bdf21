"""A bounded mixed load, recorded request by request: customers accept offers (each accept
with its own Idempotency-Key, replayed with that key until it has an answer), their partner
reads their records, they revoke, and the partner reads once more; other partner readers
race the revokes. Every request and its answer (or the transport error instead) is kept."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

CATEGORY, PURPOSE = "location", "research"
READER_TASKS = 6  # with the customers (world.CUSTOMERS), 18 concurrent callers
ACCEPT_ATTEMPTS = 12  # then the key is left to the check's replay


@dataclass
class Exchange:
    kind: str  # accept | read | revoke | replay
    start: float
    end: float
    status: int | None  # None: the connection failed (no HTTP answer)
    code: str | None = None
    error: str | None = None
    customer: str | None = None
    offer: str | None = None
    key: str | None = None
    grant: str | None = None
    decision: str | None = None
    replayed: bool = False
    after_revoke: bool = False

    @property
    def failed(self) -> bool:
        """No answer, or a server error: what a recovered service must not give."""
        return self.status is None or self.status >= 500

    @property
    def status_class(self) -> str:
        if self.status is None:
            return "conn_error"
        if self.status in (500, 503):
            return str(self.status)
        return f"{self.status // 100}xx"


@dataclass
class Accept:
    """One acceptance a customer asked for: its key, body and every attempt's answer."""

    customer: dict
    offer: str
    key: str
    body: dict
    attempts: list[Exchange] = field(default_factory=list)

    @property
    def acknowledged(self) -> Exchange | None:
        return next((a for a in self.attempts if a.status == 201), None)

    @property
    def saw_error(self) -> bool:
        return any(a.failed or a.code == "idempotency_request_in_progress" for a in self.attempts)

    @property
    def answered(self) -> bool:
        return any(
            a.status is not None and a.status < 500 and not _pending(a) for a in self.attempts
        )


def _pending(e: Exchange) -> bool:
    return e.code == "idempotency_request_in_progress"


class MixedLoad:
    def __init__(self, http: httpx.AsyncClient, partner: dict, customers: list[dict], offers):
        self.http = http
        self.partner = partner
        self.customers = customers
        self.offers = list(offers)
        self.exchanges: list[Exchange] = []
        self.accepts: list[Accept] = []
        self.live: dict[str, str] = {}  # customer id -> its live grant (for the racing readers)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._rng = random.Random(13)
        self._progress = asyncio.Condition()
        self._finished = 0  # customers through every offer

    # -- control --------------------------------------------------------------------------

    async def __aenter__(self) -> MixedLoad:
        self._tasks = [asyncio.create_task(self._customer(c)) for c in self.customers]
        self._tasks += [asyncio.create_task(self._reader()) for _ in range(READER_TASKS)]
        return self

    async def __aexit__(self, *exc) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until_completed(self, n: int, *, started_after: float | None = None) -> None:
        """Waits until `n` requests (started after the given moment) have their outcome;
        fails at once if the load runs out first (it is bounded: each customer accepts each
        offer once), rather than waiting for requests that will never come."""

        def done() -> bool:
            if started_after is None:
                return len(self.exchanges) >= n
            return sum(e.start >= started_after for e in self.exchanges) >= n

        async with self._progress:
            await self._progress.wait_for(lambda: done() or self._ran_out())
        assert done(), f"the load ran out after {len(self.exchanges)} requests, {n} awaited"

    def _ran_out(self) -> bool:
        return self._finished == len(self.customers) and not self.live

    # -- callers --------------------------------------------------------------------------

    async def _customer(self, customer: dict) -> None:
        try:
            await self._accept_each_offer(customer)
        finally:
            self._finished += 1
            async with self._progress:
                self._progress.notify_all()  # a waiter learns if the load has run out

    async def _accept_each_offer(self, customer: dict) -> None:
        for offer in self.offers:
            if self._stop.is_set():
                return
            accept = Accept(
                customer=customer,
                offer=offer,
                key=uuid.uuid4().hex,
                body={"offer_id": offer},
            )
            self.accepts.append(accept)
            grant = await self.accept(accept)
            if grant is None:
                continue
            self.live[customer["id"]] = grant
            for _ in range(2):
                await self.read(customer["id"])
            if await self._revoke(customer, grant):
                self.live.pop(customer["id"], None)
                await self.read(customer["id"], after_revoke=True)

    async def _reader(self) -> None:
        while not self._stop.is_set():
            if not self.live:
                await asyncio.sleep(0.01)
                continue
            await self.read(self._rng.choice(list(self.live)))

    async def accept(self, accept: Accept, *, kind: str = "accept") -> str | None:
        """Sends the acceptance, and again with the same key while it has no answer."""
        headers = {**accept.customer["auth"], "Idempotency-Key": accept.key}
        for attempt in range(ACCEPT_ATTEMPTS if kind == "accept" else 1):
            e = await self._send(
                kind, "POST", "/v1/me/grants", headers, json=accept.body, key=accept.key
            )
            e.customer, e.offer = accept.customer["id"], accept.offer
            accept.attempts.append(e)
            if e.status == 201:
                return e.grant
            if e.status is not None and e.status < 500 and not _pending(e):
                return None  # a definitive refusal
            await asyncio.sleep(min(0.05 * 2**attempt, 0.4))
        return None

    async def _revoke(self, customer: dict, grant: str) -> bool:
        for attempt in range(ACCEPT_ATTEMPTS):
            e = await self._send(
                "revoke", "POST", f"/v1/me/grants/{grant}/revoke", customer["auth"]
            )
            e.customer, e.grant = customer["id"], grant
            if e.status == 200:
                return True
            if e.status is not None and e.status < 500:
                return False
            await asyncio.sleep(min(0.05 * 2**attempt, 0.4))
        return False

    async def read(self, customer_id: str, *, after_revoke: bool = False) -> Exchange:
        e = await self._send(
            "read",
            "GET",
            f"/v1/partner/customers/{customer_id}/records",
            self.partner["auth"],
            params={"category": CATEGORY, "purpose": PURPOSE, "limit": 5},
        )
        e.customer, e.after_revoke = customer_id, after_revoke
        return e

    async def _send(self, kind, method, path, headers, *, key=None, **kw) -> Exchange:
        start = time.monotonic()
        try:
            r = await self.http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:
            e = Exchange(kind, start, time.monotonic(), None, error=type(exc).__name__, key=key)
        else:
            e = Exchange(kind, start, time.monotonic(), r.status_code, key=key)
            e.replayed = r.headers.get("idempotent-replayed") == "true"
            try:
                body = r.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = {}
            if r.status_code >= 400:
                e.code = body.get("code")
                e.error = body.get("detail")
            elif kind in ("accept", "replay"):
                e.grant = body.get("id")
            elif kind == "read":
                e.grant = body["decision"].get("grant_id")
                e.decision = body["decision"]["id"]
        if e.status == 403 and kind == "read":
            e.decision = None  # a denial: its decision is recorded too, but not checked here
        self.exchanges.append(e)
        async with self._progress:
            self._progress.notify_all()
        return e
