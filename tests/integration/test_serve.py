"""`marketplace serve`: production mode. It refuses unsafe settings with one line and exit 2;
with a real configuration it serves several API processes and a job worker on the test
PostgreSQL, loads no demo data, and its /metrics add up over every API process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from marketplace.keys import public_jwk
from tests.conftest import ROOT, free_port, partner_body, scratch_database, wait_until_ready

IDP_ISSUER = "https://idp.example.test"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """An identity provider: its key, and the JWKS file the service is told to trust."""
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key)
    path = tmp_path_factory.mktemp("idp") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, jwk["kid"], path


def idp_token(idp, role: str, sub: str) -> str:
    key, kid, _ = idp
    now = int(time.time())
    claims = {"iss": IDP_ISSUER, "aud": "marketplace", "sub": sub, "role": role}
    claims |= {"iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def safe_env(idp, tmp_path, database_url: str = "postgresql://nobody@127.0.0.1:1/none") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    return env | {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SIGNING_KEY_FILE": str(tmp_path / "signing-key.pem"),
        "TRUSTED_JWKS_FILE": str(idp[2]),
        "JWT_ISSUERS": IDP_ISSUER,
        "ACCEPT_LOCAL_TOKENS": "0",
        "STRIPE_API_KEY": "sk_live_not_a_real_key",
        "STRIPE_WEBHOOK_SECRET": "whsec_serve_test",
        "PUBLIC_URL": "https://marketplace.example.test",
        "LOG_FORMAT": "json",
    }


def serve(env: dict, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "serve", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


UNSAFE = [
    ({"ACCEPT_LOCAL_TOKENS": "1"}, "ACCEPT_LOCAL_TOKENS is on"),
    ({"TRUSTED_JWKS_FILE": ""}, "no identity provider is trusted"),
    (
        {"TRUSTED_JWKS_FILE": "/nonexistent/jwks.json"},
        "TRUSTED_JWKS_FILE='/nonexistent/jwks.json' does not exist",
    ),
    (
        {"JWT_ISSUERS": f"{IDP_ISSUER},marketplace-local"},
        "JWT_ISSUERS includes 'marketplace-local'",
    ),
    ({"STRIPE_API_KEY": "sk_test_123"}, "STRIPE_API_KEY is a Stripe test key"),
    ({"STRIPE_API_BASE": "http://127.0.0.1:12111"}, "STRIPE_API_BASE is set"),
    ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is empty"),
    (
        {"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"},
        "WEBHOOK_ALLOWED_HOSTS='127.0.0.1' lets partner webhooks",
    ),
    ({"BENCH_ENDPOINTS": "1"}, "BENCH_ENDPOINTS is on"),
    ({"PUBLIC_URL": "http://marketplace.example.test"}, "is not https"),
    ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ({"SIGNING_KEY_FILE": ""}, "SIGNING_KEY_FILE is not set"),
]


@pytest.mark.parametrize(("change", "line"), UNSAFE, ids=[next(iter(c)) for c, _ in UNSAFE])
def test_serve_refuses_an_unsafe_setting_with_one_line(idp, tmp_path, change, line):
    proc = serve(safe_env(idp, tmp_path) | change)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("marketplace: refusing to serve: ") and line in lines[0], err
    assert not (tmp_path / "data").exists()  # refused before anything was started


def family_samples(text: str, name: str) -> list:
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


async def test_serve_runs_api_processes_and_the_worker_on_a_real_configuration(
    idp, tmp_path, server_url
):
    async with scratch_database(server_url, "mkt_serve", migrated=False) as url:
        port = free_port()
        env = safe_env(idp, tmp_path, url) | {"PORT": str(port), "API_PROCESSES": "2"}
        proc = serve(env, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(proc, base)
            operator = {"Authorization": f"Bearer {idp_token(idp, 'operator', 'op_idp')}"}
            # No demo data: the database holds no partner until the operator onboards one.
            r = httpx.post(
                f"{base}/v1/admin/partners",
                json=partner_body(name="Real Partner"),
                headers=operator,
            )
            assert r.status_code == 201, r.text
            import asyncpg

            conn = await asyncpg.connect(url)
            try:
                assert await conn.fetchval("SELECT count(*) FROM partners") == 1
                assert await conn.fetchval("SELECT count(*) FROM customers") == 0
                assert await conn.fetchval("SELECT count(*) FROM payouts") == 0
            finally:
                await conn.close()
            # A locally signed token is refused: only the identity provider's are accepted.
            local = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "marketplace.cli",
                    "token",
                    "--role",
                    "operator",
                    "--sub",
                    "x",
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            r = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {local}"})
            assert r.status_code == 401

            # Metrics add up over both API processes, whichever answers the scrape.
            for _ in range(20):
                assert httpx.get(f"{base}/health").status_code == 200
            for _ in range(4):
                text = httpx.get(f"{base}/metrics", headers=operator).text
                health = [
                    s.value
                    for s in family_samples(text, "marketplace_http_requests_total")
                    if s.labels["route"] == "/health"
                ]
                assert health == [20.0]
            # The job worker runs beside the API: its queue's schedules are registered.
            conn = await asyncpg.connect(url)
            try:
                while not await conn.fetchval("SELECT count(*) FROM pgqueuer_schedules"):
                    assert proc.poll() is None
                    time.sleep(0.2)
            finally:
                await conn.close()
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)
