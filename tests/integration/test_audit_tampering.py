"""A regulator's verifier against a real server process, and a superuser tampering with the
database directly: every change is detected and the first bad leaf is named."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace

import asyncpg
import httpx
import pytest

from ledger.audit import AuditLog, AuditService
from marketplace.audit_verifier import fetch_and_verify
from marketplace.bootstrap import bootstrap
from tests.conftest import ROOT, free_port, scratch_database, seal_everything

ORIGIN = "tamper.test/audit"


@pytest.fixture(scope="module")
async def log_db(server_url):
    """A database of its own: these tests vandalise it."""
    async with scratch_database(server_url, "mkt_tamper") as url:
        yield url


@pytest.fixture(scope="module")
async def db(log_db):
    pool = await asyncpg.create_pool(log_db, min_size=1, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def sealer(db, settings) -> AuditService:
    return bootstrap(replace(settings, audit_origin=ORIGIN), db).audit


@pytest.fixture(scope="module")
def server(log_db, settings):
    """uvicorn serving the app on the vandalised database, in its own process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": log_db,
        "DATA_DIR": str(settings.data_dir),
        "AUDIT_ORIGIN": ORIGIN,
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
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
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail(proc.stderr.read().decode()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
async def layout(db, sealer):
    """40 entries, DE and FR interleaved, sealed in three checkpoints."""
    for batch in range(3):
        async with db.acquire() as conn, conn.transaction():
            for i in range(13 if batch < 2 else 14):
                jurisdiction = "FR" if i % 3 == 2 else "DE"
                await AuditLog(conn).append(
                    "access.decision",
                    jurisdictions=[jurisdiction],
                    partner_id="ptn_t",
                    subject=f"psn_{batch}_{i}",
                    category="location",
                    outcome="denied",
                    reasons=["no_grant"],
                )
        await seal_everything(sealer, db)
    rows = await db.fetch(
        "SELECT l.leaf_index, e.id, e.jurisdictions FROM audit_leaves l"
        " JOIN audit_entries e ON e.id = l.entry_id ORDER BY l.leaf_index"
    )
    return {
        "de": [r["leaf_index"] for r in rows if "DE" in r["jurisdictions"]],
        "fr": [r["leaf_index"] for r in rows if "FR" in r["jurisdictions"]],
        "entry_id": {r["leaf_index"]: r["id"] for r in rows},
    }


@pytest.fixture(scope="module")
def de_token(token):
    return token("regulator", "reg_de", ["DE"])


def verify(server, token, since=None):
    report, note, details = fetch_and_verify(server, token, since_checkpoint=since)
    return report, note, details


async def as_superuser(db, *statements):
    """Runs statements with every user trigger (the append-only ones) and FKs switched off."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for sql, *args in statements:
            await conn.execute(sql, *args)


def _swap_sql():
    return (
        "UPDATE audit_entries e SET entry = o.entry FROM audit_entries o"
        " WHERE (e.id, o.id) IN (($1::bigint, $2::bigint), ($2, $1))"
    )


async def test_untampered_log_verifies_with_the_cli(server, layout, de_token, tmp_path):
    kept = tmp_path / "checkpoint.txt"
    run = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "marketplace.cli",
            "audit",
            "verify",
            "--url",
            server,
            "--token",
            de_token,
            "--save-checkpoint",
            str(kept),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout)
    assert out["ok"] and out["tree_size"] == 40 and out["entries_checked"] == len(layout["de"])
    assert kept.read_text().startswith(f"{ORIGIN}\n40\n")


async def test_edited_entry_is_named(server, db, layout, de_token):
    leaf = layout["de"][5]
    entry_id = layout["entry_id"][leaf]
    await as_superuser(
        db,
        (
            "UPDATE audit_entries SET entry = replace(entry, 'denied', 'allowed') WHERE id = $1",
            entry_id,
        ),
    )
    try:
        report, _, details = verify(server, de_token)
        assert (report.ok, report.problem, report.first_bad_index) == (False, "leaf_mismatch", leaf)
        assert details["first_bad_entry"]["id"] == entry_id
    finally:
        await as_superuser(
            db,
            (
                "UPDATE audit_entries SET entry = replace(entry, 'allowed', 'denied') WHERE id = $1",
                entry_id,
            ),
        )
    assert verify(server, de_token)[0].ok


async def test_deleted_entry_row_is_named(server, db, layout, de_token):
    leaf = layout["de"][5]
    entry_id = layout["entry_id"][leaf]
    row = await db.fetchrow("SELECT * FROM audit_entries WHERE id = $1", entry_id)
    await as_superuser(db, ("DELETE FROM audit_entries WHERE id = $1", entry_id))
    try:
        report, _, _ = verify(server, de_token)
        assert (report.problem, report.first_bad_index) == ("entry_missing", leaf)
    finally:
        cols = list(row.keys())
        await as_superuser(
            db,
            (
                (
                    f"INSERT INTO audit_entries ({', '.join(cols)}) OVERRIDING SYSTEM VALUE"
                    f" VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"
                ),
                *row.values(),
            ),
        )
    assert verify(server, de_token)[0].ok


async def test_swapped_entries_name_the_first(server, db, layout, de_token):
    a, b = layout["de"][7], layout["de"][2]
    ids = layout["entry_id"][a], layout["entry_id"][b]
    await as_superuser(db, (_swap_sql(), *ids))
    try:
        report, _, _ = verify(server, de_token)
        assert (report.problem, report.first_bad_index) == ("leaf_mismatch", min(a, b))
    finally:
        await as_superuser(db, (_swap_sql(), *ids))
    assert verify(server, de_token)[0].ok


async def test_edited_leaf_hash_is_named(server, db, layout, de_token):
    leaf = layout["de"][9]
    await as_superuser(
        db, ("UPDATE audit_leaves SET leaf_hash = sha256(leaf_hash) WHERE leaf_index = $1", leaf)
    )
    report, _, _ = verify(server, de_token)
    assert (report.problem, report.first_bad_index) == ("leaf_hash_altered", leaf)
    # A stored hash of another jurisdiction's leaf: detected, located to a range.
    other = layout["fr"][1]
    await as_superuser(
        db, ("UPDATE audit_leaves SET leaf_hash = sha256(leaf_hash) WHERE leaf_index = $1", other)
    )
    report, _, _ = verify(server, de_token)
    assert not report.ok and report.first_bad_index <= other
    assert report.problem == "root_mismatch"
    await as_superuser(
        db,
        (
            (
                "UPDATE audit_leaves l SET leaf_hash = sha256(('\\x00' || convert_to(e.entry, 'UTF8')))"
                " FROM audit_entries e WHERE e.id = l.entry_id AND l.leaf_index IN ($1, $2)"
            ),
            leaf,
            other,
        ),
    )
    assert verify(server, de_token)[0].ok


async def test_deleted_leaf_row_is_named(server, db, layout, de_token):
    leaf = layout["fr"][2]
    row = await db.fetchrow("SELECT * FROM audit_leaves WHERE leaf_index = $1", leaf)
    await as_superuser(db, ("DELETE FROM audit_leaves WHERE leaf_index = $1", leaf))
    try:
        report, _, _ = verify(server, de_token)
        assert (report.problem, report.first_bad_index) == ("leaf_missing", leaf)
    finally:
        cols = ", ".join(row.keys())
        await as_superuser(
            db, (f"INSERT INTO audit_leaves ({cols}) VALUES ($1, $2, $3, $4)", *row.values())
        )
    assert verify(server, de_token)[0].ok


async def test_kept_checkpoint_detects_a_rewritten_history(server, db, layout, de_token, sealer):
    report, kept, _ = verify(server, de_token)
    assert report.ok
    async with db.acquire() as conn, conn.transaction():
        await AuditLog(conn).append("access.decision", jurisdictions=["DE"], outcome="allowed")
    await seal_everything(sealer, db)
    report, _, _ = verify(server, de_token, since=kept)
    assert report.ok and report.tree_size == 41, "an honest extension is consistent"

    # An insider with the signing key rewrites entry 0 and re-seals the whole log.
    await as_superuser(
        db,
        (
            "UPDATE audit_entries SET entry = replace(entry, 'denied', 'allowed') WHERE id = $1",
            layout["entry_id"][layout["de"][0]],
        ),
        ("DELETE FROM audit_leaves",),
        ("DELETE FROM audit_checkpoints",),
        (
            (
                "UPDATE audit_sealer_state SET tree_size = 0, frontier = '{}', watermark = '0',"
                " last_txid = '0', last_entry_id = 0"
            ),
        ),
    )
    await seal_everything(sealer, db)
    fresh, _, _ = verify(server, de_token)
    assert fresh.ok, "the rewritten log is self-consistent: only a kept checkpoint can tell"
    report, _, _ = verify(server, de_token, since=kept)
    assert not report.ok and report.problem == "inconsistent_with_earlier"


def verify_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", "audit", "verify", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


async def test_cli_exits_2_with_one_line_when_nothing_can_be_checked(
    server, layout, token, de_token, tmp_path
):
    """Exit 1 means a proven inconsistency; anything that prevents checking is 2."""
    expired = token("regulator", "reg_de", ["DE"], ttl=-120)
    partner = token("partner", "ptn_not_a_regulator")
    cases = [
        (("--url", server, "--token", expired), "401"),
        (("--url", server, "--token", partner), "403"),
        (
            ("--url", server, "--token", de_token, "--since-checkpoint", str(tmp_path / "gone")),
            "cannot read the kept checkpoint",
        ),
        (("--url", f"http://127.0.0.1:{free_port()}", "--token", de_token), "could not read"),
    ]
    not_a_checkpoint = tmp_path / "garbage.txt"
    not_a_checkpoint.write_text("hello\n")
    cases.append(
        (
            ("--url", server, "--token", de_token, "--since-checkpoint", str(not_a_checkpoint)),
            "is not a checkpoint",
        )
    )
    for args, reason in cases:
        run = await asyncio.to_thread(verify_cli, *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cannot verify: ") and reason in lines[0]
        assert run.stdout == ""  # no report: nothing was concluded


async def test_cli_exits_1_for_a_proven_inconsistency(server, db, layout, de_token):
    leaf = layout["de"][5]
    entry_id = layout["entry_id"][leaf]
    edit = "UPDATE audit_entries SET entry = replace(entry, 'denied', 'allowed') WHERE id = $1"
    undo = "UPDATE audit_entries SET entry = replace(entry, 'allowed', 'denied') WHERE id = $1"
    await as_superuser(db, (edit, entry_id))
    try:
        run = await asyncio.to_thread(verify_cli, "--url", server, "--token", de_token)
        assert run.returncode == 1, run.stdout + run.stderr
        assert json.loads(run.stdout)["first_bad_index"] == leaf
    finally:
        await as_superuser(db, (undo, entry_id))
