"""Shared fixtures: a real PostgreSQL (embedded unless DATABASE_URL is set), the app, tokens."""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.config import Settings
from marketplace.db import migrate
from marketplace.http.auth import issue_token
from tests.dataspace_helpers import clear_deliveries

pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parents[1]
TEST_WEBHOOK_HOSTS = ("127.0.0.1", "localhost")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> str:
    """The PostgreSQL server the suite runs on: DATABASE_URL, else an embedded one."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)
    server = pgserver.get_server(ROOT / ".data" / "test-pg", cleanup_mode="stop")
    return server.get_uri()


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str, *, migrated: bool = True):
    """A database of its own on the test server (migrated unless told not), dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        if migrated:
            await migrate(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def database_url(server_url: str):
    """A fresh, migrated database for this test session, dropped afterwards."""
    async with scratch_database(server_url, "mkt_test") as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory) -> Settings:
    from marketplace.keys import KeyRing

    data_dir = tmp_path_factory.mktemp("data")
    # The suite's signing key exists before anything signs, as an operator's would: every
    # process and service of the suite (and each scratch database) signs with this one.
    KeyRing.load(data_dir / "signing-key.pem", None, True, create=True)
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        log_json=True,
        max_body_bytes=65_536,
        rate_limit_reads_per_second=0,  # the suite drives one token hard; see test_rate_limits
        rate_limit_writes_per_second=0,
        # The webhook tests' receivers listen on loopback: allowed here only, never by default.
        webhook_allowed_hosts=TEST_WEBHOOK_HOSTS,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings):
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app):
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture(scope="session")
async def pool(database_url: str):
    """The tests' own pool (the app's lives on the test client's event loop)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def own_queue(database_url: str):
    """A webhook test starts with no other test's deliveries on the queue."""
    await clear_deliveries(database_url)


@pytest.fixture(scope="session")
def token(app, settings):
    """`token(role, sub, **claims)` signed with the service key, as `marketplace token` does."""

    def make(role: str, sub: str, jurisdictions=(), ttl: int = 600) -> str:
        return issue_token(
            app.state.keyring,
            issuer=settings.local_issuer,
            audience=settings.jwt_audience,
            role=role,
            sub=sub,
            jurisdictions=tuple(jurisdictions),
            ttl=ttl,
        )

    return make


async def backdate_grant(pool, grant_id: str, days: int) -> None:
    """Moves a grant `days` into the past (granted and expiring earlier), as time would."""
    await pool.execute(
        "UPDATE grants SET granted_at = granted_at - make_interval(days => $2),"
        " expires_at = expires_at - make_interval(days => $2) WHERE id = $1",
        grant_id,
        days,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Actors:
    """Creates partners, customers and offers through the API, each new and unique."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    @property
    def operator(self) -> dict[str, str]:
        """A fresh operator token each time: the session's actors outlive one token's life
        when the suite runs long on a loaded machine."""
        return bearer(self.token("operator", "op_test"))

    async def partner(
        self, name: str = "Test Partner", jurisdiction: str = "DE", fund: int = 10_000_000
    ) -> dict:
        r = await self.client.post(
            "/v1/admin/partners",
            json=partner_body(name=name, jurisdiction=jurisdiction),
            headers=self.operator,
        )
        assert r.status_code == 201, r.text
        p = r.json()
        p["auth"] = bearer(self.token("partner", p["id"]))
        if fund:  # offers pay their compensation from escrow: fund it as the operator would
            r = await self.client.post(
                f"/v1/admin/partners/{p['id']}/escrow-adjustments",
                json={"amount": fund, "currency": "EUR", "reference": "test-funding"},
                headers=self.operator,
            )
            assert r.status_code == 201, r.text
        return p

    async def customer(self, jurisdiction: str = "FR", birth_date: str | None = "1990-01-01"):
        body = {"external_ref": f"ref-{uuid.uuid4().hex}", "jurisdiction": jurisdiction}
        if birth_date:
            body["birth_date"] = birth_date
        r = await self.client.post("/v1/admin/customers", json=body, headers=self.operator)
        assert r.status_code == 201, r.text
        c = r.json()
        c["auth"] = bearer(self.token("customer", c["id"]))
        return c

    async def offer(self, partner: dict, publish: bool = True, **overrides) -> dict:
        body = offer_body(**overrides)
        r = await self.client.post("/v1/partner/offers", json=body, headers=partner["auth"])
        assert r.status_code == 201, r.text
        offer = r.json()
        if publish:
            r = await self.client.post(
                f"/v1/partner/offers/{offer['id']}/publish", headers=partner["auth"]
            )
            assert r.status_code == 200, r.text
            offer = r.json()
        return offer

    async def accept(self, customer: dict, offer: dict, **body) -> dict:
        r = await self.client.post(
            "/v1/me/grants", json={"offer_id": offer["id"], **body}, headers=customer["auth"]
        )
        assert r.status_code == 201, r.text
        return r.json()


def partner_body(**overrides) -> dict:
    """What onboarding a partner takes: its name, and its controller details for receipts."""
    body = {
        "name": "Test Partner",
        "jurisdiction": "DE",
        "contact": "Data Protection Officer",
        "address": "Teststrasse 1, 10115 Berlin, Germany",
        "email": "dpo@partner.example",
        "phone": "+4930111222",
        "policy_url": "https://partner.example/privacy",
        "retention_days": 30,
    }
    body.update(overrides)
    return body


def offer_body(**overrides) -> dict:
    body = {
        "title": "Footfall insights",
        "description": "Aggregated footfall counts for retail planning.",
        "categories": ["location", "data_usage"],
        "purposes": ["aggregated_analytics", "research"],
        "duration_days": 30,
        "lookback_days": 14,
        "compensation": {"kind": "discount", "amount": 500, "currency": "EUR"},
        "jurisdictions": ["DE", "FR", "ES", "NL"],
        "max_grants": 100,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def actors(client, token) -> Actors:
    return Actors(client, token)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(settings: Settings, port: int, extra_env: dict | None = None, stderr=None):
    """A real API server process (as `make run` serves it) on 127.0.0.1:`port`."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        # The suite drives one token hard; the limits have tests of their own.
        "RATE_LIMIT_READS_PER_SECOND": "0",
        "RATE_LIMIT_WRITES_PER_SECOND": "0",
        "WEBHOOK_ALLOWED_HOSTS": ",".join(TEST_WEBHOOK_HOSTS),
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "marketplace.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr or subprocess.DEVNULL,
    )
    wait_until_ready(proc, f"http://127.0.0.1:{port}")
    return proc


def wait_until_ready(proc, url: str) -> None:
    """Returns once the server at `url` answers /ready; fails if its process exits first.
    No clock: a slow machine only takes longer (pytest-timeout bounds a test that hangs)."""
    import time

    import httpx

    while proc.poll() is None:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")


@pytest.fixture(scope="session")
def live_server(settings: Settings):
    """Base URL of a real server process on the test database."""
    port = free_port()
    proc = start_server(settings, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


async def seal_everything(sealer, pool, *, rounds: int = 100) -> None:
    """Seals until every committed entry is in the tree. The sealer takes only entries older
    than every transaction still running in the cluster (any database of a shared server,
    autovacuum's ANALYZE included), so one call may leave the newest for the next."""
    import asyncio

    for _ in range(rounds):
        await sealer.seal()
        if await pool.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM audit_entries e"
            " WHERE NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.entry_id = e.id))"
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("entries stayed unsealed")
