"""Customer payouts: the outbox (settlement), the worker's Stripe call, and reconciliation.

A payout is a row written in the same database transaction as its ledger transaction
(earnings → payouts in transit) and its job. The job calls Stripe outside any database
transaction, with an idempotency key derived from the row, then posts the outcome back:
in transit → Stripe clearing on success; after the last failed attempt, a reversal
(in transit → earnings). A crash anywhere repeats the call with the same key, never a second
payout.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import asyncpg
import structlog
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from .audit import AuditLog
from .books import Books
from .errors import PaymentGatewayError
from .models import EARNINGS_KIND, Account, Difference, Payout, Posting
from .repository import LedgerRepository
from .stripe_gateway import StripeGateway

log = structlog.get_logger("ledger.payouts")

PAY_OUT_JOB = "pay_out"
KIND_OF_EARNINGS = {v: k for k, v in EARNINGS_KIND.items()}


def _transit(currency: str) -> Account:
    return Account(kind="payouts_in_transit", currency=currency)


def _clearing(currency: str) -> Account:
    return Account(kind="stripe_clearing", currency=currency)


class PayoutService:
    """Settlement and payout processing over one pool and one Stripe gateway."""

    def __init__(self, pool: asyncpg.Pool, stripe: StripeGateway | None, *,
                 max_attempts: int = 5, backoff_seconds: float = 2.0,
                 stale_after_seconds: float = 900.0):  # fmt: skip
        self.pool = pool
        self.stripe = stripe
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.stale_after_seconds = stale_after_seconds

    # -- settlement: earnings become payouts (outbox rows with their jobs) ----------------

    async def settle(self) -> list[Payout]:
        """Creates one payout per customer earnings account with money in it.

        Cash needs the customer's connected account; without one the earnings wait. Pending
        payouts untouched for `stale_after_seconds` get their job enqueued again.
        """
        async with self.pool.acquire() as conn:
            candidates = await LedgerRepository(conn).earnings_to_settle()
        created = []
        for r in candidates:
            kind = KIND_OF_EARNINGS[r["kind"]]
            if kind == "cash" and not r["stripe_account_id"]:
                continue
            payout = await self._create_payout(r["owner_id"], kind, r["currency"])
            if payout is not None:
                created.append(payout)
        async with self.pool.acquire() as conn, conn.transaction():
            for payout_id in await LedgerRepository(conn).stale_pending_payouts(
                self.stale_after_seconds
            ):
                await _enqueue(conn, payout_id)
        return created

    async def _create_payout(self, customer_id: str, kind: str, currency: str) -> Payout | None:
        earnings = Account(kind=EARNINGS_KIND[kind], owner_id=customer_id, currency=currency)
        async with self.pool.acquire() as conn, conn.transaction():
            repo = LedgerRepository(conn)
            books = Books(conn)
            ids = await repo.ensure_accounts([earnings, _transit(currency)])
            # Both rows locked in id order before reading the amount: no deadlock, no race.
            locked = {a.account: a for a in await repo.lock_accounts(sorted(ids.values()))}
            amount = locked[earnings].balance
            if amount <= 0:
                return None
            payout_id = await repo.new_payout_id()
            jurisdiction = await repo.customer_jurisdiction(customer_id)
            audit = {"jurisdictions": [jurisdiction] if jurisdiction else [],
                     "customer_id": customer_id, "payout_id": payout_id}  # fmt: skip
            txn, _ = await books.post(
                "payout",
                f"payout:{payout_id}",
                [Posting(account=earnings, amount=-amount),
                 Posting(account=_transit(currency), amount=amount)],
                reference=payout_id,
                audit={**audit, "outcome": "posted"},
            )  # fmt: skip
            payout = await repo.insert_payout(payout_id, customer_id, kind, amount, currency,
                                              txn.id)  # fmt: skip
            await AuditLog(conn).append(
                "payout.created", **audit, outcome="pending", payout_kind=kind, amount=amount,
                currency=currency, txn_id=txn.id,
            )  # fmt: skip
            await _enqueue(conn, payout_id)
            return payout

    # -- the worker's side ----------------------------------------------------------------

    async def pay_out(self, payout_id: str) -> Payout | None:
        """Pays one pending payout through Stripe and records the outcome. Safe to repeat."""
        async with self.pool.acquire() as conn:
            found = await LedgerRepository(conn).get_payout(payout_id)
        if found is None or found[0].status != "pending":
            return found[0] if found else None
        payout = found[0]
        try:
            stripe_id = await self._call_stripe(payout)
        except PaymentGatewayError as e:
            log.warning("payout_attempt_failed", payout_id=payout_id, error=e.detail,
                        retryable=e.retryable)  # fmt: skip
            return await self._record_failure(payout_id, e)
        return await self._record_success(payout_id, stripe_id)

    async def _call_stripe(self, payout: Payout) -> str:
        async with self.pool.acquire() as conn:
            accounts = await LedgerRepository(conn).get_payment_accounts(payout.customer_id)
        if payout.kind == "cash":
            if accounts is None or not accounts.stripe_account_id:
                raise PaymentGatewayError("the customer has no payout account", retryable=False)
            return await self.stripe.transfer(
                destination=accounts.stripe_account_id, amount=payout.amount,
                currency=payout.currency, payout_id=payout.id,
            )  # fmt: skip
        stripe_customer = accounts.stripe_customer_id if accounts else None
        if not stripe_customer:
            # Created lazily, keyed by our customer id so a repeat finds the same one.
            created = await self.stripe.create_customer(payout.customer_id)
            async with self.pool.acquire() as conn:
                stripe_customer = await LedgerRepository(conn).set_stripe_customer(
                    payout.customer_id, created
                )
        return await self.stripe.credit_customer_balance(
            stripe_customer=stripe_customer, amount=payout.amount, currency=payout.currency,
            payout_id=payout.id,
        )  # fmt: skip

    async def _record_success(self, payout_id: str, stripe_id: str) -> Payout:
        async with self.pool.acquire() as conn, conn.transaction():
            repo = LedgerRepository(conn)
            payout, _ = await repo.get_payout(payout_id, lock=True)
            if payout.status != "pending":
                return payout
            audit = await self._audit_fields(repo, payout)
            await Books(conn).post(
                "payout_settled",
                f"payout-settled:{payout_id}",
                [Posting(account=_transit(payout.currency), amount=-payout.amount),
                 Posting(account=_clearing(payout.currency), amount=payout.amount)],
                reference=payout_id,
                audit={**audit, "outcome": "posted"},
            )  # fmt: skip
            payout = await repo.update_payout(
                payout_id, status="succeeded", attempts=payout.attempts + 1,
                stripe_object_id=stripe_id, last_error=None,
            )  # fmt: skip
            await AuditLog(conn).append("payout.succeeded", **audit, outcome="succeeded",
                                        attempts=payout.attempts)  # fmt: skip
            return payout

    async def _record_failure(self, payout_id: str, error: PaymentGatewayError) -> Payout:
        async with self.pool.acquire() as conn, conn.transaction():
            repo = LedgerRepository(conn)
            payout, txn_id = await repo.get_payout(payout_id, lock=True)
            if payout.status != "pending":
                return payout
            attempts = payout.attempts + 1
            if error.retryable and attempts < self.max_attempts:
                payout = await repo.update_payout(
                    payout_id, status="pending", attempts=attempts, stripe_object_id=None,
                    last_error=error.detail,
                )  # fmt: skip
                delay = self.backoff_seconds * 2 ** (attempts - 1)
                await _enqueue(conn, payout_id, after=timedelta(seconds=delay))
                return payout
            # Final: the money goes back to the customer's earnings, by a reversing transaction.
            audit = await self._audit_fields(repo, payout)
            earnings = Account(kind=EARNINGS_KIND[payout.kind], owner_id=payout.customer_id,
                               currency=payout.currency)  # fmt: skip
            await Books(conn).post(
                "payout_reversal",
                f"payout-reversed:{payout_id}",
                [Posting(account=_transit(payout.currency), amount=-payout.amount),
                 Posting(account=earnings, amount=payout.amount)],
                reference=payout_id,
                reverses=txn_id,
                audit={**audit, "outcome": "posted"},
            )  # fmt: skip
            payout = await repo.update_payout(
                payout_id, status="failed", attempts=attempts, stripe_object_id=None,
                last_error=error.detail,
            )  # fmt: skip
            await AuditLog(conn).append("payout.failed", **audit, outcome="failed",
                                        attempts=attempts)  # fmt: skip
            return payout

    async def _audit_fields(self, repo: LedgerRepository, payout: Payout) -> dict:
        jurisdiction = await repo.customer_jurisdiction(payout.customer_id)
        return {"jurisdictions": [jurisdiction] if jurisdiction else [],
                "customer_id": payout.customer_id, "payout_id": payout.id}  # fmt: skip

    # -- reconciliation: the ledger against what Stripe reports ---------------------------

    async def reconcile(self) -> list[Difference]:
        """Every payout in the ledger against Stripe's transfers and balance credits (matched
        by the payout id in their metadata), and the ledger against itself."""
        async with self.pool.acquire() as conn:
            repo = LedgerRepository(conn)
            diffs = await repo.ledger_differences()
            payouts = {p.id: p for p in await repo.all_payouts()}
            accounts = await repo.all_payment_accounts()
        seen: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        async for t in self.stripe.transfers():
            pid = (t.get("metadata") or {}).get("payout_id")
            if pid:
                seen[pid].append((t["id"], t["amount"], t["currency"].upper()))
        for a in accounts:
            if not a.stripe_customer_id:
                continue
            async for t in self.stripe.balance_transactions(a.stripe_customer_id):
                pid = (t.get("metadata") or {}).get("payout_id")
                if pid:
                    seen[pid].append((t["id"], -t["amount"], t["currency"].upper()))
        for pid in sorted(set(payouts) | set(seen)):
            p, objects = payouts.get(pid), seen.get(pid, [])
            if p is None:
                diffs.append(Difference(problem="unknown_in_stripe", subject=pid,
                                        detail=f"Stripe objects {[o[0] for o in objects]}"))  # fmt: skip
                continue
            if len(objects) > 1:
                diffs.append(Difference(problem="duplicate_in_stripe", subject=pid,
                                        detail=f"{len(objects)} Stripe objects"))  # fmt: skip
            if p.status == "succeeded" and not objects:
                diffs.append(Difference(problem="missing_in_stripe", subject=pid,
                                        detail=f"ledger paid {p.amount} {p.currency}"))  # fmt: skip
            elif p.status != "succeeded" and objects:
                diffs.append(Difference(problem="unexpected_in_stripe", subject=pid,
                                        detail=f"ledger says {p.status}, Stripe has "
                                        f"{[o[0] for o in objects]}"))  # fmt: skip
            for obj_id, amount, currency in objects:
                if (amount, currency) != (p.amount, p.currency):
                    diffs.append(Difference(problem="amount_mismatch", subject=pid,
                                            detail=f"ledger {p.amount} {p.currency}, Stripe "
                                            f"{obj_id} {amount} {currency}"))  # fmt: skip
            if p.status == "succeeded" and objects and p.stripe_object_id not in {
                o[0] for o in objects
            }:
                diffs.append(Difference(problem="object_mismatch", subject=pid,
                                        detail=f"ledger names {p.stripe_object_id}"))  # fmt: skip
        return diffs


async def _enqueue(conn: asyncpg.Connection, payout_id: str, after: timedelta | None = None):
    """The payout's job, in the caller's transaction: it exists iff the payout does."""
    await Queries(AsyncpgDriver(conn)).enqueue(PAY_OUT_JOB, payout_id.encode(), execute_after=after)
