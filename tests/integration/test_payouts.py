"""Payouts through the recording fake Stripe: exactly once, retried, reversed, reconciled."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from ledger import PayoutService, UnknownParty
from marketplace.bootstrap import bootstrap, stripe_gateway


def payouts(world, fake, **settings) -> PayoutService:
    changed = replace(
        world.settings, stripe_api_key="sk_test_x", stripe_api_base=fake.url, **settings
    )
    return bootstrap(changed, world.pool).payouts


async def balance(pool, kind: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE kind = $1", kind
        )


async def test_settlement_pays_bill_credits_and_transfers_exactly_once(world, fake_stripe):
    discount = await world.offer("discount", 500, escrow=10_000)
    cash = await world.offer("cash", 300, escrow=10_000)
    anna = await world.earning_customer(discount, cash)
    jan = await world.earning_customer(cash)  # no payout account yet: his cash waits
    await world.money.set_payout_account(anna.id, "acct_anna123")
    service = payouts(world, fake_stripe)

    created = await service.settle()
    assert sorted((p.kind, p.amount) for p in created) == [("cash", 270), ("discount", 450)]
    assert await service.settle() == []  # nothing left to settle
    for p in created:
        assert (await service.pay_out(p.id)).status == "succeeded"
        assert (await service.pay_out(p.id)).status == "succeeded"  # a repeat does nothing

    effects = fake_stripe.effects_by_payout()
    assert {pid: len(objs) for pid, objs in effects.items()} == {p.id: 1 for p in created}
    by_kind = {p.kind: effects[p.id][0] for p in created}
    assert by_kind["discount"]["object"] == "customer_balance_transaction"
    assert by_kind["discount"]["amount"] == -450  # a credit on the bill
    assert by_kind["cash"]["destination"] == "acct_anna123" and by_kind["cash"]["amount"] == 270
    keys = {
        c.idempotency_key for c in fake_stripe.calls if "payout_id" in c.params.get("metadata", {})
    }
    assert keys == {f"payout-{p.id}" for p in created}

    earnings = await world.money.customer_earnings(anna.id)
    assert {(b.kind, b.earned, b.paid, b.pending, b.available) for b in earnings.balances} == {
        ("discount", 450, 450, 0, 0),
        ("cash", 270, 270, 0, 0),
    }
    assert {p.status for p in earnings.payouts} == {"succeeded"}
    jan_earnings = await world.money.customer_earnings(jan.id)
    assert jan_earnings.balances[0].available == 270 and jan_earnings.payouts == []
    assert await balance(world.pool, "payouts_in_transit") == 0
    assert await service.reconcile() == []
    async with world.pool.acquire() as conn:
        kinds = [
            r["kind"]
            for r in await conn.fetch(
                "SELECT kind FROM audit_entries WHERE kind LIKE 'payout.%' ORDER BY id"
            )
        ]
    assert (
        sorted(kinds) == ["payout.account_set"] + ["payout.created"] * 2 + ["payout.succeeded"] * 2
    )


async def test_failures_retry_with_backoff_then_reverse(world, fake_stripe):
    cash = await world.offer("cash", 1000, escrow=10_000)
    c1 = await world.earning_customer(cash)
    c2 = await world.earning_customer(cash)
    for c in (c1, c2):
        await world.money.set_payout_account(c.id, f"acct_{c.id[-8:]}")
    service = payouts(world, fake_stripe, payout_max_attempts=3, payout_backoff_seconds=2.0)
    first, second = sorted(await service.settle(), key=lambda p: p.customer_id != c1.id)

    fake_stripe.fail_next(2)
    p = await service.pay_out(first.id)
    assert (p.status, p.attempts) == ("pending", 1) and "503" in p.last_error
    async with world.pool.acquire() as conn:
        delays = await conn.fetch(
            "SELECT extract(epoch FROM execute_after - created) AS d FROM pgqueuer "
            "WHERE entrypoint = 'pay_out' AND payload = $1 ORDER BY id",
            first.id.encode(),
        )
    assert len(delays) == 2 and 1.5 < float(delays[-1]["d"]) < 3  # the settle job, then 2 s
    p = await service.pay_out(first.id)
    assert (p.status, p.attempts) == ("pending", 2)
    p = await service.pay_out(first.id)
    assert (p.status, p.attempts) == ("succeeded", 3)

    fake_stripe.fail_next(10)
    for expected in ("pending", "pending", "failed"):
        p = await service.pay_out(second.id)
        assert p.status == expected
    assert p.attempts == 3
    earnings = await world.money.customer_earnings(c2.id)
    assert earnings.balances[0].available == 900  # back where it was, by a reversal
    assert earnings.balances[0].paid == 0
    async with world.pool.acquire() as conn:
        rev = await conn.fetchrow(
            "SELECT kind, reverses FROM ledger_transactions WHERE idempotency_key = $1",
            f"payout-reversed:{second.id}",
        )
        assert rev["kind"] == "payout_reversal" and rev["reverses"] is not None
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_entries WHERE kind = 'payout.failed'")
            == 1
        )
    assert len(fake_stripe.effects_by_payout()) == 1
    assert await balance(world.pool, "payouts_in_transit") == 0
    assert await service.reconcile() == []
    # Settled again later, the reversed earnings make a new payout.
    assert [p.amount for p in await service.settle()] == [900]


async def test_reconcile_lists_every_difference_and_exits_non_zero(world, fake_stripe, fresh_db):
    cash = await world.offer("cash", 1000, escrow=10_000)
    c = await world.earning_customer(cash)
    await world.money.set_payout_account(c.id, "acct_recon1")
    service = payouts(world, fake_stripe)
    (p,) = await service.settle()
    await service.pay_out(p.id)
    # Stripe shows a second transfer for the same payout, and one the ledger never made.
    gw = stripe_gateway(
        replace(world.settings, stripe_api_key="sk_test_x", stripe_api_base=fake_stripe.url)
    )
    await gw.payouts.v1.transfers.create_async(
        {
            "amount": 900,
            "currency": "eur",
            "destination": "acct_recon1",
            "metadata": {"payout_id": p.id},
        }
    )
    await gw.payouts.v1.transfers.create_async(
        {
            "amount": 5,
            "currency": "eur",
            "destination": "acct_x",
            "metadata": {"payout_id": "po_unknown"},
        }
    )
    problems = sorted((d.problem, d.subject) for d in await service.reconcile())
    assert problems == [("duplicate_in_stripe", p.id), ("unknown_in_stripe", "po_unknown")]

    env = {
        **os.environ,
        "DATABASE_URL": fresh_db,
        # The key the world signed with: a command with another stops at start.
        "SIGNING_KEY_FILE": str(world.settings.key_file),
        "STRIPE_API_KEY": "sk_test_x",
        "STRIPE_API_BASE": fake_stripe.url,
        "LOG_FORMAT": "console",
    }
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
    assert r.returncode == 1, err.decode()
    assert "duplicate_in_stripe" in out.decode() and "2 difference(s)" in out.decode()


async def test_a_payout_account_for_an_unknown_customer_is_unknown_party(world):
    """The foreign key to customers refuses it; the unit of work names that the ledger's own
    error (a 404 at the edge), and nothing of the attempt is kept."""
    with pytest.raises(UnknownParty) as refused:
        await world.money.set_payout_account("cus_nobody", "acct_nobody1")
    assert refused.value.field == "customer_id"
    async with world.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_entries WHERE kind = 'payout.account_set'"
            )
            == 0
        )
