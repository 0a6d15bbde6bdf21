"""Portability between two operators: two real servers (uvicorn), two databases, two keys.

Export at operator A, import at operator B (which trusts A's JWKS URL, fetched over HTTP):
the records arrive intact, the signature is checked, tampering is refused with nothing written.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import uuid

import asyncpg
import httpx
import jwt
import pytest

from marketplace.http.auth import issue_token
from marketplace.keys import KeyRing
from tests.conftest import ROOT, _with_database, offer_body, partner_body
from tests.dataspace_helpers import insert_records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Operator:
    """One marketplace server process with its own database, data dir and signing key."""

    def __init__(self, name: str, database_url: str, data_dir, trusted: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.keys = KeyRing.load(data_dir / "signing-key.pem", None, True, create=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PUBLIC_URL": self.url,
            "TRUSTED_EXPORTERS": json.dumps(trusted or {}),
        }
        self.log = open(data_dir / f"{name}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "marketplace.app:app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def auth(self, role: str, sub: str) -> dict:
        token = issue_token(
            self.keys, issuer="marketplace-local", audience="marketplace", role=role, sub=sub
        )
        return {"Authorization": f"Bearer {token}"}

    async def ready(self, http: httpx.AsyncClient) -> None:
        for _ in range(300):
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.name}")
            try:
                if (await http.get(self.url + "/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.url} did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
async def operators(server_url, tmp_path_factory):
    names = [f"mkt_op_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = await asyncpg.connect(server_url)
    for n in names:
        await admin.execute(f'CREATE DATABASE "{n}"')
    a = Operator("a", _with_database(server_url, names[0]), tmp_path_factory.mktemp("op_a"))
    b = Operator(
        "b",
        _with_database(server_url, names[1]),
        tmp_path_factory.mktemp("op_b"),
        trusted={a.url: a.url + "/.well-known/jwks.json"},
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await asyncio.gather(a.ready(http), b.ready(http))
            yield a, b, http
    finally:
        a.stop()
        b.stop()
        for n in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        await admin.close()


async def test_a_customer_moves_to_another_operator_with_data_intact(operators):
    a, b, http = operators
    op_a = a.auth("operator", "op_a")
    r = await http.post(
        a.url + "/v1/admin/partners",
        headers=op_a,
        json=partner_body(name="Roaming Ads", jurisdiction="FR"),
    )
    partner = r.json()
    r = await http.post(
        f"{a.url}/v1/admin/partners/{partner['id']}/escrow-adjustments",
        json={"amount": 100_000, "currency": "EUR", "reference": "funding"},
        headers=op_a,
    )
    assert r.status_code == 201, r.text
    p_auth = a.auth("partner", partner["id"])
    offer = (
        await http.post(a.url + "/v1/partner/offers", json=offer_body(), headers=p_auth)
    ).json()
    await http.post(f"{a.url}/v1/partner/offers/{offer['id']}/publish", headers=p_auth)
    r = await http.post(
        a.url + "/v1/admin/customers",
        headers=op_a,
        json={"external_ref": "alice-at-a", "jurisdiction": "FR"},
    )
    alice = r.json()
    alice_a = a.auth("customer", alice["id"])
    r = await http.post(a.url + "/v1/me/grants", json={"offer_id": offer["id"]}, headers=alice_a)
    assert r.status_code == 201, r.text
    grant = r.json()
    pool_a = await asyncpg.create_pool(a.database_url, min_size=1, max_size=2)
    try:
        await insert_records(pool_a, alice["id"], "location", 1200)  # more than one cursor batch
        await insert_records(pool_a, alice["id"], "data_usage", 30)
    finally:
        await pool_a.close()

    r = await http.post(a.url + "/v1/me/exports", headers=alice_a)
    assert r.status_code == 201, r.text
    export = r.json()
    assert export["issuer"] == a.url and export["record_count"] == 1230
    chunks = []
    async with http.stream("GET", a.url + export["download_url"], headers=alice_a) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
    package = b"".join(chunks)
    assert len(chunks) > 1  # it streamed

    op_b = b.auth("operator", "op_b")
    lines = package[:-1].split(b"\n")
    tampered = lines[:]
    tampered[500] = tampered[500].replace(b'"source":"network"', b'"source":"spoofed"')
    r = await http.post(
        b.url + "/v1/admin/imports?external_ref=alice-at-b&jurisdiction=FR",
        content=b"\n".join(tampered) + b"\n",
        headers=op_b,
    )
    assert r.status_code == 422 and r.json()["code"] == "export_content_mismatch", r.text
    # Signed by someone else's key (B's own, claiming to be A): refused.
    header = json.loads(lines[0])
    manifest = json.loads(base64.urlsafe_b64decode(header["signature"].split(".")[1] + "=="))
    header["signature"] = jwt.encode(
        manifest,
        b.keys.private_key,
        algorithm="EdDSA",
        headers={"kid": a.keys.kid, "typ": "marketplace-export+jwt"},
    )
    forged = [json.dumps(header).encode(), *lines[1:]]
    r = await http.post(
        b.url + "/v1/admin/imports?external_ref=alice-at-b",
        content=b"\n".join(forged) + b"\n",
        headers=op_b,
    )
    assert r.status_code == 422 and r.json()["code"] == "export_signature_invalid", r.text
    pool_b = await asyncpg.create_pool(b.database_url, min_size=1, max_size=2)
    try:
        assert await pool_b.fetchval("SELECT count(*) FROM customers") == 0  # nothing written
        assert await pool_b.fetchval("SELECT count(*) FROM records") == 0

        r = await http.post(
            b.url + "/v1/admin/imports?external_ref=alice-at-b&jurisdiction=FR",
            content=package,
            headers=op_b,
        )
        assert r.status_code == 201, r.text
        result = r.json()
        assert result["record_count"] == 1230 and result["issuer"] == a.url
        rows_b = await pool_b.fetch(
            "SELECT category, recorded_at, source, payload::text FROM records"
            " WHERE customer_id = $1",
            result["customer_id"],
        )
    finally:
        await pool_b.close()
    pool_a = await asyncpg.create_pool(a.database_url, min_size=1, max_size=2)
    try:
        rows_a = await pool_a.fetch(
            "SELECT category, recorded_at, source, payload::text FROM records"
            " WHERE customer_id = $1",
            alice["id"],
        )
    finally:
        await pool_a.close()
    assert sorted(map(tuple, rows_a)) == sorted(map(tuple, rows_b))

    alice_b = b.auth("customer", result["customer_id"])
    r = await http.get(b.url + "/v1/me/data", headers=alice_b)
    counts = {c["category"]: c["record_count"] for c in r.json()["categories"]}
    assert counts == {"location": 1200, "data_usage": 30}
    r = await http.get(b.url + "/v1/me/imported-consents", headers=alice_b)
    [former] = r.json()["data"]
    assert former["former_grant_id"] == grant["id"] and former["status"] == "to_reconfirm"
    assert former["former_operator"] == a.url and former["controller_name"] == "Roaming Ads"
    assert (await http.get(b.url + "/v1/me/grants", headers=alice_b)).json()["data"] == []
