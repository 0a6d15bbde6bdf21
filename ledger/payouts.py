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
from typing import Any

import structlog

from sql import UnitOfWorkFactory

from .audit import AuditLog
from .books import Books
from .errors import PaymentGatewayError
from .models import EARNINGS_KIND, Account, Difference, Payout, Posting, StoredPayout
from .repository import PAY_OUT_JOB, LedgerRepository
from .stripe_gateway import StripeGateway

log = structlog.get_logger("ledger.payouts")

__all__ = ["PAY_OUT_JOB", "PayoutService"]

KIND_OF_EARNINGS = {v: k for k, v in EARNINGS_KIND.items()}


def _transit(currency: str) -> Account:
    return Account(kind="payouts_in_transit", currency=currency)


def _clearing(currency: str) -> Account:
    return Account(kind="stripe_clearing", currency=currency)


class PayoutService:
    """Settlement and payout processing: units of work, and one Stripe gateway called only
    between them."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        stripe: StripeGateway,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        stale_after_seconds: float = 900.0,
    ):
        self.uow = uow
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
        async with self.uow(transaction=False) as uow:
            candidates = await uow.repository(LedgerRepository).earnings_to_settle()
        created = []
        for c in candidates:
            kind = KIND_OF_EARNINGS[c.account.kind]
            if kind == "cash" and not c.stripe_account_id:
                continue
            payout = await self._create_payout(c.account.owner_id, kind, c.account.currency)
            if payout is not None:
                created.append(payout)
        async with self.uow() as uow:
            repo = uow.repository(LedgerRepository)
            for payout_id in await repo.stale_pending_payouts(self.stale_after_seconds):
                await repo.enqueue_payout(payout_id)
        return created

    async def _create_payout(self, customer_id: str, kind: str, currency: str) -> Payout | None:
        earnings = Account(kind=EARNINGS_KIND[kind], owner_id=customer_id, currency=currency)
        async with self.uow() as uow:
            repo = uow.repository(LedgerRepository)
            ids = await repo.ensure_accounts([earnings, _transit(currency)])
            # Both rows locked in id order before reading the amount: no deadlock, no race.
            locked = {a.account: a for a in await repo.lock_accounts(sorted(ids.values()))}
            amount = locked[earnings].balance
            if amount <= 0:
                return None
            payout_id = await repo.new_payout_id()
            jurisdiction = await repo.customer_jurisdiction(customer_id)
            audit: dict[str, Any] = {
                "jurisdictions": [jurisdiction] if jurisdiction else [],
                "customer_id": customer_id,
                "payout_id": payout_id,
            }
            txn, _ = await uow.repository(Books).post(
                "payout",
                f"payout:{payout_id}",
                [
                    Posting(account=earnings, amount=-amount),
                    Posting(account=_transit(currency), amount=amount),
                ],
                reference=payout_id,
                audit={**audit, "outcome": "posted"},
            )
            payout = await repo.insert_payout(
                payout_id, customer_id, kind, amount, currency, txn.id
            )
            await uow.repository(AuditLog).append(
                "payout.created",
                **audit,
                outcome="pending",
                payout_kind=kind,
                amount=amount,
                currency=currency,
                txn_id=txn.id,
            )
            await repo.enqueue_payout(payout_id)
            return payout

    # -- the worker's side ----------------------------------------------------------------

    async def pay_out(self, payout_id: str) -> Payout | None:
        """Pays one pending payout through Stripe and records the outcome. Safe to repeat."""
        async with self.uow(transaction=False) as uow:
            found = await uow.repository(LedgerRepository).get_payout(payout_id)
        if found is None or found.payout.status != "pending":
            return found.payout if found else None
        payout = found.payout
        try:
            stripe_id = await self._call_stripe(payout)
        except PaymentGatewayError as e:
            log.warning(
                "payout_attempt_failed", payout_id=payout_id, error=e.detail, retryable=e.retryable
            )
            return await self._record_failure(payout_id, e)
        return await self._record_success(payout_id, stripe_id)

    async def _call_stripe(self, payout: Payout) -> str:
        async with self.uow(transaction=False) as uow:
            accounts = await uow.repository(LedgerRepository).get_payment_accounts(
                payout.customer_id
            )
        if payout.kind == "cash":
            if accounts is None or not accounts.stripe_account_id:
                raise PaymentGatewayError("the customer has no payout account", retryable=False)
            return await self.stripe.transfer(
                destination=accounts.stripe_account_id,
                amount=payout.amount,
                currency=payout.currency,
                payout_id=payout.id,
            )
        stripe_customer = accounts.stripe_customer_id if accounts else None
        if not stripe_customer:
            # Created lazily, keyed by our customer id so a repeat finds the same one.
            created = await self.stripe.create_customer(payout.customer_id)
            async with self.uow(transaction=False) as uow:
                stripe_customer = await uow.repository(LedgerRepository).set_stripe_customer(
                    payout.customer_id, created
                )
        return await self.stripe.credit_customer_balance(
            stripe_customer=stripe_customer,
            amount=payout.amount,
            currency=payout.currency,
            payout_id=payout.id,
        )

    async def _record_success(self, payout_id: str, stripe_id: str) -> Payout:
        async with self.uow() as uow:
            repo = uow.repository(LedgerRepository)
            payout = (await _locked_payout(repo, payout_id)).payout
            if payout.status != "pending":
                return payout
            audit = await self._audit_fields(repo, payout)
            await uow.repository(Books).post(
                "payout_settled",
                f"payout-settled:{payout_id}",
                [
                    Posting(account=_transit(payout.currency), amount=-payout.amount),
                    Posting(account=_clearing(payout.currency), amount=payout.amount),
                ],
                reference=payout_id,
                audit={**audit, "outcome": "posted"},
            )
            payout = await repo.update_payout(
                payout_id,
                status="succeeded",
                attempts=payout.attempts + 1,
                stripe_object_id=stripe_id,
                last_error=None,
            )
            await uow.repository(AuditLog).append(
                "payout.succeeded", **audit, outcome="succeeded", attempts=payout.attempts
            )
            return payout

    async def _record_failure(self, payout_id: str, error: PaymentGatewayError) -> Payout:
        async with self.uow() as uow:
            repo = uow.repository(LedgerRepository)
            stored = await _locked_payout(repo, payout_id)
            payout = stored.payout
            if payout.status != "pending":
                return payout
            attempts = payout.attempts + 1
            if error.retryable and attempts < self.max_attempts:
                payout = await repo.update_payout(
                    payout_id,
                    status="pending",
                    attempts=attempts,
                    stripe_object_id=None,
                    last_error=error.detail,
                )
                delay = self.backoff_seconds * 2 ** (attempts - 1)
                await repo.enqueue_payout(payout_id, after=timedelta(seconds=delay))
                return payout
            # Final: the money goes back to the customer's earnings, by a reversing transaction.
            audit = await self._audit_fields(repo, payout)
            earnings = Account(
                kind=EARNINGS_KIND[payout.kind],
                owner_id=payout.customer_id,
                currency=payout.currency,
            )
            await uow.repository(Books).post(
                "payout_reversal",
                f"payout-reversed:{payout_id}",
                [
                    Posting(account=_transit(payout.currency), amount=-payout.amount),
                    Posting(account=earnings, amount=payout.amount),
                ],
                reference=payout_id,
                reverses=stored.txn_id,
                audit={**audit, "outcome": "posted"},
            )
            payout = await repo.update_payout(
                payout_id,
                status="failed",
                attempts=attempts,
                stripe_object_id=None,
                last_error=error.detail,
            )
            await uow.repository(AuditLog).append(
                "payout.failed", **audit, outcome="failed", attempts=attempts
            )
            return payout

    async def _audit_fields(self, repo: LedgerRepository, payout: Payout) -> dict[str, Any]:
        jurisdiction = await repo.customer_jurisdiction(payout.customer_id)
        return {
            "jurisdictions": [jurisdiction] if jurisdiction else [],
            "customer_id": payout.customer_id,
            "payout_id": payout.id,
        }

    # -- reconciliation: the ledger against what Stripe reports ---------------------------

    async def reconcile(self) -> list[Difference]:
        """Every payout in the ledger against Stripe's transfers and balance credits (matched
        by the payout id in their metadata), and the ledger against itself."""
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(LedgerRepository)
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
                diffs.append(
                    Difference(
                        problem="unknown_in_stripe",
                        subject=pid,
                        detail=f"Stripe objects {[o[0] for o in objects]}",
                    )
                )
                continue
            if len(objects) > 1:
                diffs.append(
                    Difference(
                        problem="duplicate_in_stripe",
                        subject=pid,
                        detail=f"{len(objects)} Stripe objects",
                    )
                )
            if p.status == "succeeded" and not objects:
                diffs.append(
                    Difference(
                        problem="missing_in_stripe",
                        subject=pid,
                        detail=f"ledger paid {p.amount} {p.currency}",
                    )
                )
            elif p.status != "succeeded" and objects:
                diffs.append(
                    Difference(
                        problem="unexpected_in_stripe",
                        subject=pid,
                        detail=f"ledger says {p.status}, Stripe has {[o[0] for o in objects]}",
                    )
                )
            for obj_id, amount, currency in objects:
                if (amount, currency) != (p.amount, p.currency):
                    diffs.append(
                        Difference(
                            problem="amount_mismatch",
                            subject=pid,
                            detail=f"ledger {p.amount} {p.currency}, Stripe "
                            f"{obj_id} {amount} {currency}",
                        )
                    )
            if (
                p.status == "succeeded"
                and objects
                and p.stripe_object_id not in {o[0] for o in objects}
            ):
                diffs.append(
                    Difference(
                        problem="object_mismatch",
                        subject=pid,
                        detail=f"ledger names {p.stripe_object_id}",
                    )
                )
        return diffs


async def _locked_payout(repo: LedgerRepository, payout_id: str) -> StoredPayout:
    """The payout's row, locked until the end of the unit of work; the worker's job names a
    payout that exists (job and row are written together)."""
    stored = await repo.get_payout(payout_id, lock=True)
    if stored is None:
        raise LookupError(f"no payout {payout_id}")
    return stored
