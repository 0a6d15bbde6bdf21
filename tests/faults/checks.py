"""What must hold after a fault, checked against what the clients saw and what the database
holds. Each check returns the failures it found (empty: it held), so one run reports them all.

Failures that only the idempotency record committed with its effect can remove are marked
IDEMPOTENCY_IN_EFFECT.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from tests.decisions import decisions_by_id

from .harness import Harness, Window
from .load import Accept, Exchange, MixedLoad

RECOVERY_REQUESTS = 50  # the first N requests after the dependency is back must all succeed
IDEMPOTENCY_IN_EFFECT = "[needs the key's record in the effect's transaction]"


@dataclass
class Outcome:
    fault: str
    requests: int
    classes: Counter
    window: Window
    in_window: int
    recovery: str
    failures: dict[str, list[str]] = field(default_factory=dict)

    def held(self, name: str, failures: list[str]) -> None:
        self.failures[name] = failures

    @property
    def broken(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.failures.items() if v}

    def row(self) -> str:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(self.classes.items()))
        held = [k for k, v in self.failures.items() if not v]
        broken = [f"{k} ({len(v)})" for k, v in self.failures.items() if v]
        invariants = f"{len(held)}/{len(self.failures)} held" + (
            f"; broken: {', '.join(broken)}" if broken else ""
        )
        return (
            f"| {self.fault} | {self.requests} | {classes} | "
            f"{self.window.back - self.window.start:.2f} s, {self.in_window} requests overlap | "
            f"{self.recovery} | {invariants} |"
        )


TABLE_HEADER = (
    "| fault | requests | status classes | outage window | recovery | invariants |\n"
    "|---|---|---|---|---|---|"
)


# -- what the clients saw ----------------------------------------------------------------


def no_server_errors(exchanges: list[Exchange]) -> list[str]:
    """No 500, nor any 5xx but 503."""
    return [
        f"{e.kind} {e.customer}: {e.status} {e.code} {e.error}"
        for e in exchanges
        if e.status is not None and e.status >= 500 and e.status != 503
    ]


def unavailable_only_in_window(exchanges: list[Exchange], window: Window) -> list[str]:
    return [
        f"{e.kind}: 503 {e.code} at {e.start - window.start:+.3f}..{e.end - window.start:+.3f} s"
        f" (window 0..{window.back - window.start:.3f} s)"
        for e in exchanges
        if e.status == 503 and not window.overlaps(e.start, e.end)
    ]


def connection_errors(exchanges: list[Exchange], window: Window | None) -> list[str]:
    """Connections lost: only while a killed API worker dies (`window`), never otherwise."""
    return [
        f"{e.kind}: {e.error} at {e.start:.3f}"
        for e in exchanges
        if e.status is None and (window is None or not window.overlaps(e.start, e.end))
    ]


def recovery(exchanges: list[Exchange], window: Window) -> tuple[str, list[str]]:
    after = sorted((e for e in exchanges if e.start >= window.back), key=lambda e: e.start)
    first = after[:RECOVERY_REQUESTS]
    bad = [f"{e.kind}: {e.status} {e.code} {e.error}" for e in first if e.failed]
    if len(first) < RECOVERY_REQUESTS:
        bad.append(f"only {len(first)} requests after the fault")
    return f"first {len(first)} after: {len(first) - len(bad)} ok", bad


def no_read_after_its_revoke(exchanges: list[Exchange]) -> list[str]:
    revoked = {e.grant: e.end for e in exchanges if e.kind == "revoke" and e.status == 200}
    return [
        f"read allowed on {e.grant} {e.start - revoked[e.grant]:.3f} s after its revoke returned"
        for e in exchanges
        if e.kind == "read"
        and e.status == 200
        and e.grant in revoked
        and e.start > revoked[e.grant]
    ]


# -- what the database holds -------------------------------------------------------------


async def acknowledged_accepts(pool: asyncpg.Pool, accepts: list[Accept]) -> list[str]:
    """Every 201: its grant, its audit entry, and (if it was compensated) its balanced
    acceptance in the ledger."""
    acked = {a.acknowledged.grant: a for a in accepts if a.acknowledged}
    rows = await pool.fetch(
        """
        SELECT g.id, g.customer_id, g.offer_id,
               EXISTS (SELECT 1 FROM audit_entries e WHERE e.kind = 'grant.accepted'
                       AND (e.entry::jsonb)->>'grant_id' = g.id) AS audited,
               (SELECT count(*) FROM ledger_transactions t
                WHERE t.kind = 'acceptance' AND t.reference = g.id) AS txns,
               (SELECT coalesce(sum(p.amount), 0) FROM ledger_transactions t
                JOIN ledger_postings p ON p.txn_id = t.id
                WHERE t.kind = 'acceptance' AND t.reference = g.id) AS net,
               (SELECT count(*) FROM ledger_transactions t
                JOIN ledger_postings p ON p.txn_id = t.id
                WHERE t.kind = 'acceptance' AND t.reference = g.id) AS postings
        FROM grants g WHERE g.id = ANY($1::text[])
        """,
        list(acked),
    )
    found = {r["id"]: r for r in rows}
    bad = []
    for grant, a in acked.items():
        r = found.get(grant)
        if r is None:
            bad.append(f"201 grant {grant} is not in the database")
            continue
        if (r["customer_id"], r["offer_id"]) != (a.customer["id"], a.offer):
            bad.append(f"grant {grant} is not the acceptance's customer and offer")
        if not r["audited"]:
            bad.append(f"grant {grant} has no grant.accepted audit entry")
        if r["txns"] != 1 or r["net"] != 0 or r["postings"] < 2:
            bad.append(f"grant {grant}: {r['txns']} acceptance txns, net {r['net']}")
    return bad


async def keys_replayed(load: MixedLoad, pool: asyncpg.Pool) -> list[str]:
    """Every accept whose client saw an error (or never an answer) is replayed with its key
    once the service is well: it returns the first answer, and commits exactly once."""
    bad = []
    for a in load.accepts:
        if not a.saw_error and a.answered:
            continue
        first = a.acknowledged
        await load.accept(a, kind="replay")
        replay = a.attempts[-1]
        if first is not None and (replay.status != 201 or replay.grant != first.grant):
            bad.append(
                f"{IDEMPOTENCY_IN_EFFECT} key {a.key}: first answer 201 {first.grant}, replay "
                f"{replay.status} {replay.code} {replay.grant}"
            )
        elif first is None and replay.status is not None and replay.status >= 500:
            bad.append(f"key {a.key}: replay failed {replay.status} {replay.code}")
    grants = Counter(
        (r["customer_id"], r["offer_id"])
        for r in await pool.fetch(
            "SELECT customer_id, offer_id FROM grants WHERE customer_id = ANY($1::text[])",
            sorted({a.customer["id"] for a in load.accepts}),
        )
    )
    for a in load.accepts:
        answered = {x.grant for x in a.attempts if x.status == 201}
        made = grants[(a.customer["id"], a.offer)]
        if made != len(answered) or len(answered) > 1:
            mark = IDEMPOTENCY_IN_EFFECT + " " if a.saw_error else ""
            codes = [f"{x.status}:{x.code or ''}" for x in a.attempts]
            bad.append(
                f"{mark}key {a.key}: {made} grants committed, answers {codes} "
                f"(grant ids {sorted(g or '' for g in answered)})"
            )
    return bad


async def reads_recorded(pool: asyncpg.Pool, exchanges: list[Exchange]) -> list[str]:
    """Every 200 read has its decision recorded (its audit entry: allowed, on its grant)."""
    reads = {e.decision: e for e in exchanges if e.kind == "read" and e.status == 200}
    found = await decisions_by_id(pool, list(reads))
    bad = []
    for decision, e in reads.items():
        entry = found.get(decision)
        if entry is None:
            bad.append(f"200 read's decision {decision} is not in the database")
        elif entry["outcome"] != "allowed" or entry.get("grant_id") != e.grant:
            bad.append(f"decision {decision} is not an allow on {e.grant}")
    return bad


async def money_balanced(pool: asyncpg.Pool) -> list[str]:
    """Escrow was never negative (its balance, and every running sum of its postings), and
    every ledger transaction balances."""
    bad = [
        f"escrow {r['id']}: balance {r['balance']}, postings {r['total']}, lowest {r['lowest']}"
        for r in await pool.fetch(
            """
            SELECT a.id, a.balance, coalesce(sum(p.amount), 0) AS total,
                   coalesce(min(p.running), 0) AS lowest
            FROM ledger_accounts a
            LEFT JOIN (SELECT account_id, amount,
                              sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
                       FROM ledger_postings) p ON p.account_id = a.id
            WHERE a.kind = 'partner_escrow'
            GROUP BY a.id, a.balance
            HAVING a.balance < 0 OR a.balance <> coalesce(sum(p.amount), 0)
                OR coalesce(min(p.running), 0) < 0
            """
        )
    ]
    unbalanced = await pool.fetchval(
        "SELECT count(*) FROM (SELECT txn_id FROM ledger_postings GROUP BY txn_id"
        " HAVING sum(amount) <> 0) t"
    )
    if unbalanced:
        bad.append(f"{unbalanced} ledger transactions do not balance")
    return bad


async def payouts_exactly_once(harness: Harness) -> list[str]:
    """Waits (while the worker lives) until no payout is pending; then each reached the
    Stripe fake exactly once, and nothing reached it that is not a payout."""
    assert harness.pool is not None and harness.worker is not None
    while await harness.pool.fetchval("SELECT count(*) FROM payouts WHERE status = 'pending'"):
        assert harness.worker.poll() is None, "the job worker exited with payouts pending"
        await asyncio.sleep(0.1)
    statuses = dict(await harness.pool.fetch("SELECT status, count(*) FROM payouts GROUP BY 1"))
    ids = {r["id"] for r in await harness.pool.fetch("SELECT id FROM payouts")}
    effects = harness.stripe.effects_by_payout()
    bad = [f"payouts not succeeded: {statuses}"] if set(statuses) - {"succeeded"} else []
    bad += [f"payout {p} never reached Stripe" for p in ids - set(effects)]
    bad += [f"Stripe holds an effect of unknown payout {p}" for p in set(effects) - ids]
    bad += [f"payout {p} reached Stripe {len(v)} times" for p, v in effects.items() if len(v) != 1]
    return bad


async def sealing_caught_up(harness: Harness) -> list[str]:
    """The worker seals every committed entry (asked as its schedule asks), while it lives."""
    assert harness.pool is not None and harness.worker is not None
    while True:
        await harness.ask_to_seal()
        unsealed = await harness.pool.fetchval(
            "SELECT count(*) FROM audit_entries e"
            " WHERE NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.entry_id = e.id)"
        )
        if unsealed == 0:
            return []
        assert harness.worker.poll() is None, f"the job worker exited, {unsealed} unsealed"
        await asyncio.sleep(0.2)


async def audit_verifies(harness: Harness) -> list[str]:
    done = await harness.audit_verify()
    return [] if done.returncode == 0 else [f"audit verify: {done.stdout}{done.stderr}"[-2000:]]


# -- what the operator reads -------------------------------------------------------------


def logs_an_operator_can_use(harness: Harness, since: dict[str, int]) -> list[str]:
    """Since the fault began (`since`: each log's size then): every line is whole JSON, from
    every process and library; no request left a traceback; and each API process said at
    most once that the database went away, and once that it came back."""
    bad: list[str] = []
    said: Counter = Counter()  # (event, writing process) -> lines
    for path in (harness.api_log, harness.worker_log):
        with open(path, "rb") as f:
            f.seek(since[path.name])
            lines = f.read().decode(errors="replace").splitlines()
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                bad.append(f"{path.name}: not JSON: {line[:160]}")
                continue
            if path == harness.api_log:
                said[event.get("event"), event.get("process")] += 1
            if event.get("exception") and path == harness.api_log:
                bad.append(f"{path.name}: a traceback: {event.get('event')}")
    bad += [
        f"process {process} said {event} {n} times"
        for (event, process), n in said.items()
        if event in ("database_unavailable", "database_back") and n > 1
    ]
    return bad


def log_sizes(harness: Harness) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (harness.api_log, harness.worker_log)}
