"""A grant's compensation moves with the grant, in the same transaction, never overdrawing."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import asyncpg
import pytest

from ledger import InsufficientEscrow
from marketplace.bootstrap import bootstrap
from offers import (
    AlreadyGranted,
    Compensation,
    CustomerNotFound,
    NotEligible,
    OfferFull,
    OfferTerms,
)
from offers.repository import OffersRepository
from tests.conftest import backdate_grant


def terms(amount: int = 1000, kind: str = "cash") -> OfferTerms:
    return OfferTerms(
        title="t",
        description="d",
        categories=("data_usage",),
        purposes=("research",),
        duration_days=30,
        lookback_days=7,
        compensation=Compensation(kind=kind, amount=amount, currency="EUR"),
        jurisdictions=("FR",),
    )


async def setup_offer(
    consent, money, *, escrow: int, amount: int, max_grants: int = 1000, kind: str = "cash"
):
    partner = await consent.create_partner("Money Partner", "DE")
    if escrow:
        await money.adjust_escrow(partner.id, escrow, "EUR", idempotency_key=uuid.uuid4().hex)
    offer = await consent.create_offer(partner.id, terms(amount, kind), max_grants)
    await consent.change_offer_status(partner.id, offer.id, "publish")
    return partner, offer


async def new_customer(consent):
    c, _ = await consent.create_customer(f"ref-{uuid.uuid4().hex}", "FR", None)
    return c


async def test_acceptance_pays_the_customer_less_the_fee_in_the_same_transaction(
    consent_service, big_pool, settings
):
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(consent_service, money, escrow=5000, amount=1999)
    customer = await new_customer(consent_service)
    grant = await consent_service.accept_offer(customer.id, offer.id)

    assert [b.amount for b in await money.partner_balance(partner.id)] == [5000 - 1999]
    earnings = await money.customer_earnings(customer.id)
    (line,) = earnings.balances
    assert (line.kind, line.currency, line.earned, line.available) == ("cash", "EUR", 1800, 1800)
    async with big_pool.acquire() as conn:
        txn = await conn.fetchrow(
            "SELECT id, kind FROM ledger_transactions WHERE reference = $1", grant.id
        )
        postings = await conn.fetch(
            "SELECT a.kind, a.owner_id, p.amount FROM ledger_postings p JOIN ledger_accounts a "
            "ON a.id = p.account_id WHERE p.txn_id = $1",
            txn["id"],
        )
        kinds = [
            r["kind"]
            for r in await conn.fetch(
                "SELECT kind FROM audit_entries WHERE entry::jsonb->>'txn_id' = $1 "
                "OR entry::jsonb->>'grant_id' = $2 ORDER BY id",
                txn["id"],
                grant.id,
            )
        ]
    # 10% fee of 1999 is 199.9, rounded down in the customer's favour.
    # The fee is the platform's, kept in the paying partner's platform_fees account: no row
    # is locked by every acceptance.
    assert sorted((r["kind"], r["owner_id"], r["amount"]) for r in postings) == [
        ("customer_earnings_cash", customer.id, 1800),
        ("partner_escrow", partner.id, -1999),
        ("platform_fees", partner.id, 199),
    ]
    assert kinds == ["grant.accepted", "ledger.transaction"]

    # Revoking claws nothing back.
    await consent_service.change_grant(customer.id, grant.id, "revoke")
    assert (await money.customer_earnings(customer.id)).balances[0].available == 1800


async def test_insufficient_escrow_refuses_the_acceptance_and_writes_nothing(
    consent_service, big_pool, settings
):
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(consent_service, money, escrow=999, amount=1000)
    customer = await new_customer(consent_service)
    async with big_pool.acquire() as conn:
        audit_before = await conn.fetchval("SELECT count(*) FROM audit_entries")
    with pytest.raises(InsufficientEscrow) as e:
        await consent_service.accept_offer(customer.id, offer.id)
    assert e.value.code == "insufficient_escrow"
    async with big_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM grants WHERE offer_id = $1", offer.id) == 0
        assert await conn.fetchval("SELECT grant_count FROM offers WHERE id = $1", offer.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_entries") == audit_before
    assert [b.amount for b in await money.partner_balance(partner.id)] == [999]


async def test_a_free_offer_writes_no_ledger_transaction(consent_service, big_pool, settings):
    money = bootstrap(settings, big_pool).ledger
    _, offer = await setup_offer(consent_service, money, escrow=0, amount=0)
    customer = await new_customer(consent_service)
    grant = await consent_service.accept_offer(customer.id, offer.id)
    async with big_pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM ledger_transactions WHERE reference = $1", grant.id
            )
            == 0
        )


async def test_concurrent_acceptances_never_overdraw_the_escrow(
    consent_service, big_pool, settings
):
    n, amount = 8, 700
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(consent_service, money, escrow=n * amount, amount=amount)
    customers = [await new_customer(consent_service) for _ in range(3 * n)]

    async def accept(c):
        try:
            await consent_service.accept_offer(c.id, offer.id)
            return "ok"
        except InsufficientEscrow as e:
            return e.code

    results = await asyncio.gather(*(accept(c) for c in customers))
    assert results.count("ok") == n
    assert results.count("insufficient_escrow") == 2 * n
    assert [b.amount for b in await money.partner_balance(partner.id)] == [0]
    async with big_pool.acquire() as conn:
        assert await conn.fetchval("SELECT grant_count FROM offers WHERE id = $1", offer.id) == n


async def test_one_customer_accepting_many_offers_at_once_gets_one_earnings_account(
    consent_service, big_pool, settings
):
    """A new customer's earnings account is opened inside ledger_post by whichever acceptance
    comes first; the others, concurrent, wait on its unique key and then find it (a fresh
    snapshot per statement), so every acceptance is paid into the one account."""
    money = bootstrap(settings, big_pool).ledger
    offers = [
        (await setup_offer(consent_service, money, escrow=1000, amount=100))[1] for _ in range(6)
    ]
    customer = await new_customer(consent_service)
    await asyncio.gather(*(consent_service.accept_offer(customer.id, o.id) for o in offers))
    async with big_pool.acquire() as conn:
        accounts = await conn.fetch(
            "SELECT balance FROM ledger_accounts WHERE owner_id = $1 AND kind = $2",
            customer.id,
            "customer_earnings_cash",
        )
    assert [a["balance"] for a in accounts] == [6 * 90]


def receipt_grant(grant) -> dict:
    """The `grant` claim of a grant's signed receipt (signature checked in tests/unit)."""
    payload = grant.receipt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["grant"]


async def test_compensation_is_earned_once_per_customer_and_offer_whatever_the_cycles(
    consent_service, big_pool, settings
):
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(
        consent_service, money, escrow=5000, amount=1000, max_grants=2
    )
    alice, bob, carol = [await new_customer(consent_service) for _ in range(3)]

    first = await consent_service.accept_offer(alice.id, offer.id)
    assert (first.compensated, first.not_compensated_reason) == (True, None)
    assert receipt_grant(first)["compensated"] is True
    await consent_service.change_grant(alice.id, first.id, "pause")
    await consent_service.change_grant(alice.id, first.id, "resume")
    await consent_service.change_grant(alice.id, first.id, "revoke")

    again = await consent_service.accept_offer(alice.id, offer.id)  # after a revoke
    await backdate_grant(big_pool, again.id, 31)  # and that one expires (30 days)
    third = await consent_service.accept_offer(alice.id, offer.id)  # after an expiry
    for grant in (again, third):
        assert grant.status == "active" and grant.id != first.id
        assert (grant.compensated, grant.not_compensated_reason) == (False, "already_compensated")
        claims = receipt_grant(grant)
        assert claims["compensated"] is False
        assert claims["not_compensated_reason"] == "already_compensated"

    await consent_service.accept_offer(bob.id, offer.id)  # the second customer: the last slot
    await consent_service.change_grant(alice.id, third.id, "revoke")
    # A returning customer needs no slot: the full offer still takes her back, unpaid.
    fourth = await consent_service.accept_offer(alice.id, offer.id)
    assert fourth.compensated is False
    with pytest.raises(OfferFull):
        await consent_service.accept_offer(carol.id, offer.id)

    # Escrow debited once per customer, grant_count counts customers, alice earned once.
    assert [b.amount for b in await money.partner_balance(partner.id)] == [5000 - 2 * 1000]
    assert (await money.customer_earnings(alice.id)).balances[0].earned == 900
    async with big_pool.acquire() as conn:
        assert await conn.fetchval("SELECT grant_count FROM offers WHERE id = $1", offer.id) == 2
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM ledger_transactions t JOIN grants g ON g.id = t.reference"
                " WHERE g.offer_id = $1",
                offer.id,
            )
            == 2
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM grants WHERE offer_id = $1 AND customer_id = $2",
                offer.id,
                alice.id,
            )
            == 4
        )


async def test_the_database_refuses_a_second_compensation_of_a_customer_for_an_offer(
    consent_service, big_pool, settings
):
    money = bootstrap(settings, big_pool).ledger
    _, offer = await setup_offer(consent_service, money, escrow=5000, amount=100)
    customer = await new_customer(consent_service)
    grant = await consent_service.accept_offer(customer.id, offer.id)
    await consent_service.change_grant(customer.id, grant.id, "revoke")
    again = await consent_service.accept_offer(customer.id, offer.id)
    async with big_pool.acquire() as conn:
        with pytest.raises(asyncpg.UniqueViolationError) as e:
            await conn.execute(
                "INSERT INTO offer_compensations (customer_id, offer_id, grant_id)"
                " VALUES ($1, $2, $3)",
                customer.id,
                offer.id,
                again.id,
            )
    assert e.value.constraint_name == "offer_compensations_once"


async def test_concurrent_re_acceptances_pay_nothing_and_one_wins(
    consent_service, big_pool, settings
):
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(consent_service, money, escrow=1000, amount=1000)
    customer = await new_customer(consent_service)
    grant = await consent_service.accept_offer(customer.id, offer.id)
    await consent_service.change_grant(customer.id, grant.id, "revoke")

    async def accept():
        try:
            return (await consent_service.accept_offer(customer.id, offer.id)).compensated
        except AlreadyGranted as e:
            return e.code

    results = await asyncio.gather(*(accept() for _ in range(6)))
    assert sorted(map(str, results)) == ["False"] + ["already_granted"] * 5
    assert [b.amount for b in await money.partner_balance(partner.id)] == [0]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ("jurisdiction = 'DE'", NotEligible),  # the offer is for FR only
        ("closed_at = now()", CustomerNotFound),
    ],
)
async def test_a_customer_changed_after_the_read_gets_nothing_written_and_is_decided_again(
    consent_service, big_pool, settings, monkeypatch, change, refusal
):
    """The acceptance's one statement re-checks, under the customer's share lock, that the
    customer is still open and as the eligibility was decided; when not, it writes nothing
    (no slot, grant, money or audit entry) and the acceptance runs again under the lock."""
    money = bootstrap(settings, big_pool).ledger
    partner, offer = await setup_offer(consent_service, money, escrow=5000, amount=1000)
    customer = await new_customer(consent_service)
    read = OffersRepository.start_acceptance
    reads = 0

    async def read_then_change(self, customer_id, offer_id):
        nonlocal reads
        start = await read(self, customer_id, offer_id)
        reads += 1
        if reads == 1:
            await big_pool.execute(f"UPDATE customers SET {change} WHERE id = $1", customer_id)
        return start

    monkeypatch.setattr(OffersRepository, "start_acceptance", read_then_change)
    async with big_pool.acquire() as conn:
        audit_before = await conn.fetchval("SELECT count(*) FROM audit_entries")
    with pytest.raises(refusal):
        await consent_service.accept_offer(customer.id, offer.id)
    assert reads == 2
    async with big_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM grants WHERE offer_id = $1", offer.id) == 0
        assert await conn.fetchval("SELECT grant_count FROM offers WHERE id = $1", offer.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_entries") == audit_before
    assert [b.amount for b in await money.partner_balance(partner.id)] == [5000]
