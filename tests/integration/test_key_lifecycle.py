"""The start check of the signing key, case by case, on databases of their own: a first key
only for a database without signatures; a database signed before the registry adopts the key
that signed it and refuses any other."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from marketplace.bootstrap import bootstrap
from marketplace.keys import KeyLifecycleError, KeyRing
from tests.conftest import scratch_database


@pytest.fixture
async def db(server_url):
    async with scratch_database(server_url, "mkt_keylife") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        yield pool
        await pool.close()


def _services(settings, db, key_file):
    ring = KeyRing.load(key_file, None, True)
    return bootstrap(replace(settings, signing_key_file=key_file), db, keys=ring), ring


async def test_a_first_key_is_made_only_when_allowed_and_the_database_is_unsigned(
    settings, db, tmp_path
):
    key_file = tmp_path / "keys" / "signing.pem"
    services, ring = _services(settings, db, key_file)
    with pytest.raises(KeyLifecycleError, match="no signing key at"):
        await services.key_lifecycle.settle(allow_create=False)
    assert not key_file.exists()
    await services.key_lifecycle.settle()
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    assert KeyRing.load(key_file, None, True).kid == ring.kid
    [registered] = await services.key_lifecycle.registered()
    assert (registered.kid, registered.status) == (ring.kid, "active")
    assert (await services.key_lifecycle.jwks())["keys"][0]["kid"] == ring.kid


async def test_a_database_signed_before_the_registry_adopts_only_its_own_key(
    settings, db, tmp_path
):
    signer_file, other_file = tmp_path / "signer.pem", tmp_path / "other.pem"
    KeyRing.load(signer_file, None, True, create=True)
    KeyRing.load(other_file, None, True, create=True)
    signer, _ = _services(settings, db, signer_file)
    await signer.audit.seal()  # a checkpoint signed before any registry existed
    assert await db.fetchval("SELECT count(*) FROM audit_checkpoints") >= 1

    other, _ = _services(settings, db, other_file)
    with pytest.raises(KeyLifecycleError, match="did not sign the database's audit checkpoints"):
        await other.key_lifecycle.settle()
    missing, _ = _services(settings, db, tmp_path / "typo.pem")
    with pytest.raises(KeyLifecycleError, match="restore the key that signed them"):
        await missing.key_lifecycle.settle()
    assert not (tmp_path / "typo.pem").exists()
    assert await db.fetchval("SELECT count(*) FROM signing_keys") == 0

    await signer.key_lifecycle.settle()
    [adopted] = await signer.key_lifecycle.registered()
    assert adopted.kid == signer.keys.kid and adopted.status == "active"
    # Once registered, the other key is refused as one that signed nothing here.
    with pytest.raises(KeyLifecycleError, match="which signed nothing here"):
        await other.key_lifecycle.settle()


async def test_an_interrupted_rotation_is_named_with_the_move_that_finishes_it(
    settings, db, tmp_path
):
    key_file = tmp_path / "signing.pem"
    services, _ = _services(settings, db, key_file)
    await services.key_lifecycle.settle()
    new_kid, old_kid = await services.key_lifecycle.rotate()
    # As if the process stopped after the commit, before the files moved.
    retired = key_file.with_name(f"{key_file.name}.retired-{old_kid[:16]}")
    key_file.rename(key_file.with_name(key_file.name + ".next"))
    retired.rename(key_file)
    stale, _ = _services(settings, db, key_file)
    with pytest.raises(KeyLifecycleError, match=r"a rotation was interrupted: move .*\.next"):
        await stale.key_lifecycle.settle()
    keys = await services.key_lifecycle.registered()
    assert [(k.kid, k.status) for k in keys] == [(new_kid, "active"), (old_kid, "retired")]
