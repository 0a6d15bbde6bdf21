"""Helpers of the data space and webhook tests: records by SQL, a real HTTP receiver, a worker."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Self

import asyncpg
from aiohttp import web
from pgqueuer.db import AsyncpgDriver
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from marketplace.bootstrap import bootstrap
from marketplace.db import create_pool
from marketplace.worker import register_webhook_jobs
from offers import SIGNATURE_HEADER
from offers.events import DELIVER_ENTRYPOINT


async def insert_records(pool, customer_id: str, category: str, n: int, source="network"):
    """`n` records of one category, one hour apart, newest now (ingestion is another helper's)."""
    now = datetime.now(UTC)
    rows = [
        (
            customer_id,
            category,
            now - timedelta(hours=i),
            source,
            json.dumps({"i": i, "c": category}),
        )
        for i in range(n)
    ]
    await pool.executemany(
        "INSERT INTO records (customer_id, category, recorded_at, source, payload)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        rows,
    )


class Receiver:
    """A real HTTP server on 127.0.0.1 recording what it is sent; fails the first `fail` calls.

    With `hold`, each call is recorded (and `arrived` set), then answered only once `hold` is
    set: a receiver that is still busy with the event. With `endless`, the answer is a 200
    whose body never ends. `hosts` are the Host headers of the calls.
    """

    def __init__(self, fail: int = 0, hold: asyncio.Event | None = None, endless: bool = False):
        self.fail = fail
        self.hold = hold
        self.endless = endless
        self.arrived = asyncio.Event()
        self.calls: list[tuple[str, bytes, float]] = []
        self.hosts: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(
            (request.headers.get(SIGNATURE_HEADER, ""), body, asyncio.get_running_loop().time())
        )
        self.hosts.append(request.headers.get("Host", ""))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        if len(self.calls) <= self.fail:
            return web.Response(status=503, text="try later")
        if self.endless:
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            while True:  # until the sender goes away
                await response.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()


async def no_names(host: str, port: int) -> list[str]:
    """The tests' DNS: no name resolves (a test that needs one passes its own resolver), so no
    delivery waits on the machine's resolver."""
    return []


async def clear_deliveries(database_url: str) -> None:
    """Takes every earlier test's pending webhook attempts off the shared queue, so a test's
    drain delivers its own events and nothing else."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM pgqueuer WHERE entrypoint = $1", DELIVER_ENTRYPOINT)
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending'"
            )
    finally:
        await conn.close()


async def drain_jobs(
    settings, database_url: str, *, base_delay=0.05, max_attempts=4, resolver=no_names, timeout=2.0
) -> None:
    """Runs the webhook jobs in process with pgqueuer's QueueManager until the queue is empty;
    `resolver` (host, port) -> addresses stands in for DNS."""
    settings = replace(
        settings,
        webhook_base_delay_seconds=base_delay,
        webhook_max_attempts=max_attempts,
        webhook_timeout_seconds=timeout,
    )
    pool = await create_pool(database_url, min_size=1, max_size=4)
    conn = await asyncpg.connect(database_url)
    services = bootstrap(settings, pool, webhook_resolver=resolver)
    try:
        qm = QueueManager(Queries(AsyncpgDriver(conn)))
        register_webhook_jobs(qm, services)
        await qm.run(mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=0.2))
    finally:
        await services.webhooks.aclose()
        await conn.close()
        await pool.close()
