"""Key rotation end to end, against real server processes: rotate twice, and a receipt and an
export signed by the first key, and the whole audit log (checkpoints by all three keys), still
verify; a start without the active key stops with a clear error instead of making a new one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg
import httpx
import jwt
import pytest

from marketplace.http import issue_token
from marketplace.keys import KeyRing
from tests.conftest import (
    ROOT,
    TEST_WEBHOOK_HOSTS,
    free_port,
    offer_body,
    partner_body,
    scratch_database,
)


@pytest.fixture
async def instance(server_url, tmp_path):
    async with scratch_database(server_url, "mkt_keys") as url:
        yield Instance(url, tmp_path)


class Instance:
    """One deployment: its database, data dir (the key file) and a server it restarts."""

    def __init__(self, database_url: str, data_dir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key_file = data_dir / "signing-key.pem"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "PORT": str(self.port),
            "PUBLIC_URL": self.url,
            "RATE_LIMIT_READS_PER_SECOND": "0",
            "RATE_LIMIT_WRITES_PER_SECOND": "0",
            "WEBHOOK_ALLOWED_HOSTS": ",".join(TEST_WEBHOOK_HOSTS),
        }
        self.database_url = database_url
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "marketplace.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "marketplace.app:app_from_env", "--factory"]
            + ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/ready", timeout=5).status_code == 200:
                    return self.proc
            except httpx.HTTPError:
                pass
        return self.proc  # exited: the caller reads why

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def token(self, role: str, sub: str, jurisdictions=()) -> dict:
        keys = KeyRing.load(self.key_file, None, True)
        t = issue_token(
            keys,
            issuer="marketplace-local",
            audience="marketplace",
            role=role,  # type: ignore[arg-type]
            sub=sub,
            jurisdictions=tuple(jurisdictions),
        )
        return {"Authorization": f"Bearer {t}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    async def seal_all(self) -> None:
        """`marketplace audit seal` until every entry is sealed (the sealer waits for older
        transactions anywhere in the cluster, so one run may leave the newest)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            for _ in range(100):
                run = self.cli("audit", "seal")
                assert run.returncode == 0, run.stderr
                if await conn.fetchval(
                    "SELECT NOT EXISTS (SELECT 1 FROM audit_entries e WHERE NOT EXISTS"
                    " (SELECT 1 FROM audit_leaves l WHERE l.entry_id = e.id))"
                ):
                    return
        finally:
            await conn.close()
        raise AssertionError("entries stayed unsealed")


def _grant(instance: Instance, http: httpx.Client, partner: dict, offer_id: str) -> dict:
    op = instance.token("operator", "op_test")
    r = http.post(
        "/v1/admin/customers",
        json={"external_ref": f"ref-{os.urandom(6).hex()}", "jurisdiction": "FR"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    customer = r.json()
    customer["auth"] = instance.token("customer", customer["id"])
    r = http.post("/v1/me/grants", json={"offer_id": offer_id}, headers=customer["auth"])
    assert r.status_code == 201, r.text
    return {"customer": customer, "grant": r.json()}


def _verifies(token: str, jwks: dict) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=["EdDSA"], options={"verify_aud": False})


async def test_rotating_twice_keeps_every_earlier_signature_verifiable(instance, tmp_path):
    proc = instance.start()
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    with instance.http() as http:
        op = instance.token("operator", "op_test")
        r = http.post("/v1/admin/partners", json=partner_body(name="P"), headers=op)
        partner = r.json()
        partner["auth"] = instance.token("partner", partner["id"])
        r = http.post(
            f"/v1/admin/partners/{partner['id']}/escrow-adjustments",
            json={"amount": 100_000, "currency": "EUR", "reference": "test-funding"},
            headers=op,
        )
        assert r.status_code == 201, r.text
        r = http.post("/v1/partner/offers", json=offer_body(), headers=partner["auth"])
        offer_id = r.json()["id"]
        r = http.post(f"/v1/partner/offers/{offer_id}/publish", headers=partner["auth"])
        assert r.status_code == 200, r.text
        first = _grant(instance, http, partner, offer_id)
        r = http.post("/v1/me/exports", headers=first["customer"]["auth"])
        assert r.status_code == 201, r.text
        package = http.get(r.json()["download_url"], headers=first["customer"]["auth"]).content
        first_kid = http.get("/.well-known/jwks.json").json()["keys"][0]["kid"]
    instance.stop()
    await instance.seal_all()
    kept = tmp_path / "checkpoint-key1.txt"
    regulator = instance.token("regulator", "reg_fr", ["FR"])["Authorization"][7:]
    proc = instance.start()
    run = instance.cli(
        "audit", "verify", "--url", instance.url, "--token", regulator,
        "--save-checkpoint", str(kept),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    instance.stop()

    receipts = [first["grant"]["receipt"]]
    for _ in range(2):  # each key signs a receipt and a checkpoint before it is retired
        run = instance.cli("keys", "rotate")
        assert run.returncode == 0, run.stderr
        proc = instance.start()
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        with instance.http() as http:
            receipts.append(_grant(instance, http, partner, offer_id)["grant"]["receipt"])
        instance.stop()
        await instance.seal_all()

    proc = instance.start()
    try:
        with instance.http() as http:
            jwks = http.get("/.well-known/jwks.json").json()
            audit_keys = http.get("/v1/audit/keys").json()["keys"]
        kids = [k["kid"] for k in jwks["keys"]]
        assert len(set(kids)) == 3 and kids[-1] == first_kid
        assert [k["status"] for k in audit_keys] == ["active", "retired", "retired"]
        signers = {jwt.get_unverified_header(r)["kid"] for r in receipts}
        assert len(signers) == 3  # one receipt by each key
        for receipt in receipts:
            assert _verifies(receipt, jwks)["consentReceiptID"]
        header = json.loads(package.splitlines()[0])
        assert jwt.get_unverified_header(header["signature"])["kid"] == first_kid
        assert _verifies(header["signature"], jwks)["jti"] == header["export_id"]

        # The whole log, against a checkpoint kept from before both rotations.
        run = instance.cli(
            "audit", "verify", "--url", instance.url, "--token", regulator,
            "--since-checkpoint", str(kept),
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        out = json.loads(run.stdout)
        assert out["ok"] and out["tree_size"] > int(kept.read_text().splitlines()[1])
        # With only the key of the first checkpoint pinned, the current checkpoint is refused.
        run = instance.cli(
            "audit", "verify", "--url", instance.url, "--token", regulator,
            "--key", audit_keys[-1]["verifier_key"],
        )  # fmt: skip
        assert run.returncode == 1 and json.loads(run.stdout)["problem"] == "checkpoint_invalid"
    finally:
        instance.stop()


async def test_a_start_without_the_active_key_stops_instead_of_making_one(instance):
    proc = instance.start()
    assert proc.poll() is None
    with instance.http() as http:
        op = instance.token("operator", "op_test")
        r = http.post("/v1/admin/partners", json=partner_body(name="P"), headers=op)
        assert r.status_code == 201, r.text
    instance.stop()
    active = KeyRing.load(instance.key_file, None, True).kid
    assert instance.cli("keys", "rotate").returncode == 0

    # A mistyped SIGNING_KEY_FILE: nothing there.
    instance.env["SIGNING_KEY_FILE"] = str(instance.key_file) + "-typo"
    proc = instance.start()
    assert proc.wait(timeout=60) != 0
    assert "no key file at" in proc.stderr.read()
    assert not os.path.exists(instance.env["SIGNING_KEY_FILE"])  # and no key was made
    run = instance.cli("keys", "list")
    assert run.returncode == 2 and "restore the active key" in run.stderr

    # The retired key's file: refused too, and it says which key is active.
    retired = [p for p in instance.key_file.parent.iterdir() if ".retired-" in p.name]
    instance.env["SIGNING_KEY_FILE"] = str(retired[0])
    proc = instance.start()
    assert proc.wait(timeout=60) != 0
    err = proc.stderr.read()
    assert f"holds key {active}, retired at" in err

    del instance.env["SIGNING_KEY_FILE"]
    proc = instance.start()
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    instance.stop()
