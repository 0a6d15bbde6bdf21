"""Kill the payout worker (SIGKILL) at random points of settlement, 20+ times: every payout
reaches Stripe exactly once, the ledger balances, and `marketplace reconcile` agrees."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys

import pytest

KILLS = 20


def worker_env(database_url: str, fake_url: str, data_dir, key_file) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        # The key the world's receipts were signed with: a worker with another stops at start.
        "SIGNING_KEY_FILE": str(key_file),
        "STRIPE_API_KEY": "sk_test_x",
        "STRIPE_API_BASE": fake_url,
        "JOB_HEARTBEAT_SECONDS": "1",
        "JOB_POLL_SECONDS": "0.5",
        "PAYOUT_BACKOFF_SECONDS": "0.2",
        "LOG_FORMAT": "json",
    }


async def pending(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM payouts WHERE status = 'pending'")


@pytest.mark.timeout(900)  # 20 kills and restarts of a real worker: slow on a busy machine
async def test_sigkilled_worker_pays_every_payout_exactly_once(
    world, fake_stripe, fresh_db, tmp_path, settings
):
    rng = random.Random(20260)
    # Slow enough Stripe calls that a kill usually lands mid-batch, even on a busy machine.
    fake_stripe.delay = (0.05, 0.15)
    discount = await world.offer("discount", 250, escrow=1_000_000, max_grants=10_000)
    cash = await world.offer("cash", 400, escrow=1_000_000, max_grants=10_000)
    env = worker_env(fresh_db, fake_stripe.url, tmp_path, settings.key_file)
    cmd = [sys.executable, "-m", "marketplace.cli", "worker"]

    async def more_earnings(n: int):
        for _ in range(n):
            c = await world.earning_customer(discount, cash)
            await world.money.set_payout_account(c.id, f"acct_{c.id[-10:]}")
        return await world.payouts.settle()

    created = len(await more_earnings(4))
    killed_with_work = 0
    for _ in range(KILLS):
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # New work arrives as the worker starts; once it is talking to Stripe, the kill
        # lands at a random point of the batch.
        created += len(await more_earnings(4))
        seen = len(fake_stripe.calls)
        for _ in range(100):
            if len(fake_stripe.calls) > seen:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(rng.uniform(0.0, 0.15))
        killed_with_work += await pending(world.pool) > 0
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # Wait by behaviour, not a clock: until nothing is pending, for as long as the worker
        # lives (pytest-timeout bounds a worker that hangs).
        while await pending(world.pool) > 0:
            assert proc.returncode is None, "the worker exited with payouts pending"
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async with world.pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM payouts GROUP BY status"))
        ids = {r["id"] for r in await conn.fetch("SELECT id FROM payouts")}
        in_transit = await conn.fetchval(
            "SELECT coalesce(sum(balance), 0) FROM ledger_accounts "
            "WHERE kind = 'payouts_in_transit'"
        )
    assert statuses == {"succeeded": created}
    effects = fake_stripe.effects_by_payout()
    assert set(effects) == ids  # every payout reached Stripe...
    assert all(len(objs) == 1 for objs in effects.values())  # ...exactly once
    assert in_transit == 0
    replays = sum(c.replayed for c in fake_stripe.calls)
    print(
        f"\ncrash test: {created} payouts, {KILLS} kills ({killed_with_work} with work "
        f"pending), {replays} idempotent replays by Stripe"
    )
    assert killed_with_work >= KILLS // 2

    r = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "marketplace.cli",
        "reconcile",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await r.communicate()
    assert r.returncode == 0, out.decode() + err.decode()
    assert "0 difference(s)" in out.decode()
