"""The job worker's own health, on a small HTTP endpoint of its own (WORKER_HEALTH_PORT):

- `GET /health`: 200 while the process lives (its event loop answers), with the time of the
  last successful loop (a database round trip of the worker's pool);
- `GET /ready`: 200 while the worker reaches its database, else 503: sealing, payouts,
  webhooks and expiry are not running;
- `GET /metrics`: the same in Prometheus' text format.

A plain asyncio server: it must answer while the database hangs, so it shares nothing with
the jobs but this process's loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

PING_INTERVAL_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 2.0


class WorkerHealth:
    """What the worker last knew of its database, and when its loop last went round."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._up = Gauge(
            "marketplace_worker_database_up",
            "1 while the job worker reaches its database",
            registry=self.registry,
        )
        self._last_loop = Gauge(
            "marketplace_worker_last_loop_timestamp_seconds",
            "When the job worker last completed a loop with a database round trip",
            registry=self.registry,
        )
        self._outages = Counter(
            "marketplace_worker_database_outages",
            "Times the job worker lost its database",
            registry=self.registry,
        )
        self.connected = False
        self.last_loop_at: float | None = None

    def loop_succeeded(self) -> None:
        self.connected = True
        self.last_loop_at = time.time()
        self._up.set(1)
        self._last_loop.set(self.last_loop_at)

    def database_lost(self) -> None:
        if self.connected:
            self._outages.inc()
        self.connected = False
        self._up.set(0)

    def report(self) -> dict:
        at = self.last_loop_at
        return {
            "status": "alive",
            "database": "up" if self.connected else "down",
            "last_loop_at": datetime.fromtimestamp(at, UTC).isoformat() if at else None,
        }


async def watch(pool, health: WorkerHealth) -> None:
    """Round trips to the database every second; each success is a loop of the worker."""
    while True:
        try:
            async with pool.acquire(timeout=PING_TIMEOUT_SECONDS) as conn:
                await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT_SECONDS)
        except Exception:
            health.database_lost()
        else:
            health.loop_succeeded()
        await asyncio.sleep(PING_INTERVAL_SECONDS)


_encode = msgspec.json.encode


async def serve_health(health: WorkerHealth, host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            if path == "/health":
                status, media, body = 200, "application/json", _encode(health.report())
            elif path == "/ready":
                ready = health.connected
                status, media = (200 if ready else 503), "application/json"
                body = _encode({**health.report(), "ready": ready})
            elif path == "/metrics":
                status, media = 200, "text/plain; version=0.0.4"
                body = generate_latest(health.registry)
            else:
                status, media, body = 404, "application/json", b'{"code":"not_found"}'
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {media}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
