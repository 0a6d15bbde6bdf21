"""Key rotation end to end: `marketplace keys rotate` twice, and a receipt and an export signed
by the first key, and the whole audit log (checkpoints by all three keys, checked against one
kept from before both rotations) still verify with `marketplace audit verify`; a start without
the active key stops with a clear error instead of making a new one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import asyncpg
import jwt
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.audit_verifier import fetch_and_verify
from marketplace.bootstrap import bootstrap
from marketplace.http import issue_token
from marketplace.keys import KeyLifecycleError
from tests.conftest import (
    ROOT,
    bearer,
    free_port,
    offer_body,
    partner_body,
    scratch_database,
    seal_everything,
    start_server,
)


@pytest.fixture
async def deployment(server_url, settings, tmp_path):
    """One deployment's settings: its own database and data dir (no key file yet)."""
    async with scratch_database(server_url, "mkt_keys") as url:
        port = free_port()
        yield replace(
            settings,
            database_url=url,
            data_dir=tmp_path / "data",
            port=port,
            public_url=f"http://127.0.0.1:{port}",
        )


def cli(s, *args: str, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": s.database_url,
        "DATA_DIR": str(s.data_dir),
        "PUBLIC_URL": s.public_url,
        **(extra or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


class Running:
    """The app of one start (in process), and what a test does through it."""

    def __init__(self, client):
        self.client = client
        self.app = client.app

    def auth(self, role: str, sub: str, jurisdictions=()) -> dict:
        return bearer(self.token(role, sub, jurisdictions))

    def token(self, role: str, sub: str, jurisdictions=()) -> str:
        s = self.app.state.settings
        return issue_token(
            self.app.state.keyring,
            issuer=s.local_issuer,
            audience=s.jwt_audience,
            role=role,  # type: ignore[arg-type]
            sub=sub,
            jurisdictions=tuple(jurisdictions),
            ttl=3600,
        )

    async def accept(self, offer_id: str) -> dict:
        body = {"external_ref": f"ref-{os.urandom(6).hex()}", "jurisdiction": "FR"}
        r = await self.client.post(
            "/v1/admin/customers", json=body, headers=self.auth("operator", "op")
        )
        customer = r.json()
        customer["auth"] = self.auth("customer", customer["id"])
        r = await self.client.post(
            "/v1/me/grants", json={"offer_id": offer_id}, headers=customer["auth"]
        )
        assert r.status_code == 201, r.text
        return {"customer": customer, "grant": r.json()}

    async def seal(self, pool) -> str:
        """Seals every entry with the active key (the file this start settled); the latest
        checkpoint. (The app runs on its own event loop: the test seals with its own pool.)"""
        await seal_everything(bootstrap(self.app.state.settings, pool).audit, pool)
        r = await self.client.get(
            "/v1/audit/checkpoint", headers=self.auth("regulator", "reg", ["FR"])
        )
        return r.text


def _verifies(token: str, jwks: dict) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=["EdDSA"])


async def test_rotating_twice_keeps_every_earlier_signature_verifiable(deployment, tmp_path):
    pool = await asyncpg.create_pool(deployment.database_url, min_size=1, max_size=2)
    try:
        async with AsyncTestClient(app=create_app(deployment)) as client:
            first = Running(client)  # an empty database: the first key is made
            op = first.auth("operator", "op")
            partner = await client.post("/v1/admin/partners", json=partner_body(), headers=op)
            partner_id = partner.json()["id"]
            r = await client.post(
                f"/v1/admin/partners/{partner_id}/escrow-adjustments",
                json={"amount": 100_000, "currency": "EUR", "reference": "funding"},
                headers=op,
            )
            assert r.status_code == 201, r.text
            p_auth = first.auth("partner", partner_id)
            offer_id = (await client.post("/v1/partner/offers", json=offer_body(), headers=p_auth)).json()["id"]  # fmt: skip
            await client.post(f"/v1/partner/offers/{offer_id}/publish", headers=p_auth)
            accepted = await first.accept(offer_id)
            c_auth = accepted["customer"]["auth"]
            r = await client.post("/v1/me/exports", headers=c_auth)
            assert r.status_code == 201, r.text
            package = (await client.get(r.json()["download_url"], headers=c_auth)).content
            kept = await first.seal(pool)
            first_kid = client.app.state.keyring.kid
        (tmp_path / "kept.txt").write_text(kept)

        receipts = [accepted["grant"]["receipt"]]
        for _ in range(2):  # each new key signs a receipt and checkpoints before it retires
            run = cli(deployment, "keys", "rotate")
            assert run.returncode == 0, run.stderr
            assert "active signing key:" in run.stdout and "retired:" in run.stdout
            async with AsyncTestClient(app=create_app(deployment)) as client:
                again = Running(client)
                receipts.append((await again.accept(offer_id))["grant"]["receipt"])
                await again.seal(pool)
    finally:
        await pool.close()

    port = deployment.port
    proc = start_server(deployment, port)
    try:
        import httpx

        jwks = httpx.get(f"{deployment.public_url}/.well-known/jwks.json").json()
        audit_keys = httpx.get(f"{deployment.public_url}/v1/audit/keys").json()["keys"]
        kids = [k["kid"] for k in jwks["keys"]]
        assert len(set(kids)) == 3 and kids[-1] == first_kid
        assert [k["status"] for k in audit_keys] == ["active", "retired", "retired"]
        assert len({jwt.get_unverified_header(r)["kid"] for r in receipts}) == 3
        for receipt in receipts:  # the first key's receipt, and each later one
            assert _verifies(receipt, jwks)["consentReceiptID"]
        header = json.loads(package.splitlines()[0])  # the export, signed by the first key
        assert jwt.get_unverified_header(header["signature"])["kid"] == first_kid
        assert _verifies(header["signature"], jwks)["jti"] == header["export_id"]

        regulator = Running.token(_Stub(deployment), "regulator", "reg", ["FR"])
        run = cli(
            deployment, "audit", "verify", "--url", deployment.public_url, "--token", regulator,
            "--since-checkpoint", str(tmp_path / "kept.txt"),
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        out = json.loads(run.stdout)
        assert out["ok"] and out["tree_size"] > int(kept.splitlines()[1])
        # With only the first key pinned, the current checkpoint (by the third) is refused.
        report, _, _ = fetch_and_verify(
            deployment.public_url, regulator, verifier_key=[audit_keys[-1]["verifier_key"]]
        )
        assert (report.ok, report.problem) == (False, "checkpoint_invalid")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class _Stub:
    """A token signer for the deployment's active key, read from its key file."""

    def __init__(self, s):
        from marketplace.keys import KeyRing

        self.app = type("A", (), {})()
        self.app.state = type("S", (), {"settings": s, "keyring": KeyRing.load(s.key_file, None, True)})()  # fmt: skip


async def _refused(s) -> str:
    """Why a start of the app with these settings stops (its lifespan raises)."""
    with pytest.raises(BaseException) as caught:  # the test client wraps it in a group
        async with AsyncTestClient(app=create_app(s)):
            pass
    found: list[BaseException] = [caught.value]
    while found:
        e = found.pop()
        if isinstance(e, KeyLifecycleError):
            return str(e)
        found.extend(getattr(e, "exceptions", ()))
        if e.__cause__ is not None:
            found.append(e.__cause__)
    raise AssertionError(f"the start failed otherwise: {caught.value!r}")


async def test_a_start_without_the_active_key_stops_instead_of_making_one(deployment):
    async with AsyncTestClient(app=create_app(deployment)) as client:
        active = client.app.state.keyring.kid
    pool = await asyncpg.create_pool(deployment.database_url, min_size=1, max_size=2)
    try:
        await bootstrap(deployment, pool).key_lifecycle.rotate()
    finally:
        await pool.close()
    retired = deployment.key_file.with_name(f"{deployment.key_file.name}.retired-{active[:16]}")
    new_active = create_app(deployment).state.keyring.kid

    # A mistyped SIGNING_KEY_FILE: nothing there, and nothing is made there.
    typo = replace(deployment, signing_key_file=deployment.data_dir / "signing-kye.pem")
    assert "there is no key file at" in await _refused(typo)
    assert not typo.key_file.exists()
    # The retired key's file: refused too, naming the active key.
    old = replace(deployment, signing_key_file=retired)
    refused = await _refused(old)
    assert f"active signing key is {new_active}" in refused and "retired at" in refused
    # As a command says it: one line, exit 2, no traceback.
    run = cli(deployment, "keys", "list", extra={"SIGNING_KEY_FILE": str(typo.key_file)})
    assert run.returncode == 2 and run.stderr.startswith("marketplace: keys: the database's active")
    assert run.stderr.count("\n") == 1
    assert "Traceback" not in run.stderr
    run = cli(deployment, "keys", "list")
    assert run.returncode == 0 and f"{new_active}  active" in run.stdout
