"""Faults injected one at a time while a mixed load runs against the real processes (two API
workers and the job worker) on a cluster of their own. After each: no 500; 503 only while the
fault lasted; the first requests after it all succeed; and every promise the service made
holds in the database (see checks.py)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable

from marketplace.bootstrap import open_services
from tests.conftest import wait_until_ready

from . import checks
from .harness import Harness, Window
from .load import MixedLoad
from .world import make_customers

WARM_UP = 60  # requests answered before the fault, so it lands on a busy service


async def _settle(harness: Harness) -> int:
    """Customers' earnings so far become payouts: the worker pays them during the fault."""
    async with open_services(harness.settings, max_size=2) as services:
        return len(await services.payouts.settle())


async def _healthy(harness: Harness) -> None:
    """Every process up before the next fault, whatever the last one left."""
    if harness.worker is None or harness.worker.poll() is not None:
        harness.start_worker()
        await harness.wait_for_worker()
    await harness.wait_for_api_workers()
    assert harness.api is not None
    wait_until_ready(harness.api, harness.url)


async def run_fault(
    harness: Harness,
    fault_table,
    inject: Callable[[MixedLoad], Awaitable[Window]],
    *,
    connections_may_drop: bool = False,
) -> checks.Outcome:
    await _healthy(harness)
    async with harness.client() as http:
        customers = await make_customers(harness, http)
        load = MixedLoad(http, harness.partner, customers, harness.offers)
        async with load:
            await load.until_completed(WARM_UP)
            await _settle(harness)
            logs_before = checks.log_sizes(harness)
            window = await inject(load)
            await load.until_completed(checks.RECOVERY_REQUESTS + 20, started_after=window.back)
        assert harness.pool is not None
        replays = await checks.keys_replayed(load, harness.pool)
    exchanges = load.exchanges
    summary, not_recovered = checks.recovery(exchanges, window)
    outcome = checks.Outcome(
        fault=window.name,
        requests=len(exchanges),
        classes=Counter(e.status_class for e in exchanges),
        window=window,
        in_window=sum(window.overlaps(e.start, e.end) for e in exchanges),
        recovery=summary,
    )
    outcome.held("no 500", checks.no_server_errors(exchanges))
    outcome.held("503 only in the window", checks.unavailable_only_in_window(exchanges, window))
    outcome.held(
        "no lost connection" + (" outside the kill" if connections_may_drop else ""),
        checks.connection_errors(exchanges, window if connections_may_drop else None),
    )
    outcome.held("recovered", not_recovered)
    outcome.held(
        "201 has grant, audit, postings",
        await checks.acknowledged_accepts(harness.pool, load.accepts),
    )
    outcome.held("key replay: first answer, once", replays)
    outcome.held(
        "200 read has decision, audit", await checks.reads_recorded(harness.pool, exchanges)
    )
    outcome.held("no read after its revoke", checks.no_read_after_its_revoke(exchanges))
    outcome.held(
        "escrow never negative, ledger balanced", await checks.money_balanced(harness.pool)
    )
    outcome.held("payouts exactly once at Stripe", await checks.payouts_exactly_once(harness))
    outcome.held("sealing caught up", await checks.sealing_caught_up(harness))
    outcome.held("audit verify", await checks.audit_verifies(harness))
    outcome.held(
        "logs: whole JSON, an outage said once",
        checks.logs_an_operator_can_use(harness, logs_before),
    )
    fault_table(outcome.row())
    print("\n" + checks.TABLE_HEADER + "\n" + outcome.row())
    assert not outcome.broken, _explain(outcome)
    return outcome


def _explain(outcome: checks.Outcome) -> str:
    lines = [f"{outcome.fault}: {outcome.row()}"]
    for name, failures in outcome.broken.items():
        lines.append(f"- {name}: {len(failures)}")
        lines += [f"    {f}" for f in failures[:8]]
    return "\n".join(lines)


async def test_a_fast_restart_of_the_database(harness, fault_table):
    async def inject(load):
        return await harness.restart_database("fast")

    await run_fault(harness, fault_table, inject)


async def test_a_crash_of_the_database(harness, fault_table):
    async def inject(load):
        return await harness.crash_database(down_for=1.0)

    await run_fault(harness, fault_table, inject)


async def test_every_connection_terminated(harness, fault_table):
    async def inject(load):
        return await harness.terminate_backends()

    await run_fault(harness, fault_table, inject)


async def test_a_lock_held_on_the_table_every_request_needs(harness, fault_table):
    async def inject(load):
        return await harness.hold_lock("grants", seconds=4.0)

    await run_fault(harness, fault_table, inject)


async def test_an_api_worker_killed(harness, fault_table):
    async def inject(load):
        return await harness.kill_api_worker()

    await run_fault(harness, fault_table, inject, connections_may_drop=True)


async def test_the_job_worker_killed_during_payouts(harness, fault_table):
    """Killed after Stripe carried out a payout but before the worker heard back: the next
    worker pays it again with the same key, and Stripe holds it once (payouts_exactly_once)."""

    replays_before = sum(c.replayed for c in harness.stripe.calls)

    async def inject(load):
        harness.stripe.hold_next_payout()
        while not harness.stripe.holding.is_set():
            if not await _pending_payouts(harness) and not await _settle(harness):
                await load.until_completed(len(load.exchanges) + 20)  # more earnings first
            await asyncio.sleep(0.01)
        try:
            return await harness.kill_job_worker()
        finally:
            harness.stripe.release()

    await run_fault(harness, fault_table, inject)
    replays = sum(c.replayed for c in harness.stripe.calls) - replays_before
    assert replays >= 1, "the payout whose answer was lost was not retried with its key"


async def _pending_payouts(harness: Harness) -> int:
    assert harness.pool is not None
    return await harness.pool.fetchval("SELECT count(*) FROM payouts WHERE status = 'pending'")


async def test_two_job_workers_at_once(harness, fault_table):
    """Each job runs once and sealing has one leader, with both workers taking jobs: payouts
    reach Stripe once each, and the log both sealed verifies (the checks after every fault)."""
    since = harness.worker_log.stat().st_size

    async def inject(load):
        async def share_the_work():
            for _ in range(2):
                await load.until_completed(len(load.exchanges) + 40)  # more earnings
                await _settle(harness)
                await harness.ask_to_seal()
                await harness.ask_to_seal()
                while await _pending_payouts(harness):
                    await asyncio.sleep(0.05)

        return await harness.second_job_worker(share_the_work)

    await run_fault(harness, fault_table, inject)
    paying = {e.get("process") for e in _worker_events(harness, since) if e["event"] == "payout"}
    assert len(paying) == 2, paying


def _worker_events(harness: Harness, since: int) -> list[dict]:
    with open(harness.worker_log, "rb") as f:
        f.seek(since)
        return [json.loads(line) for line in f.read().splitlines() if line.strip()]
