"""In-memory fakes of the repositories the consent service uses, for unit tests with
`FakeUnitOfWorkFactory`: the same methods and return types as the SQL ones, state in dicts.
Each has `snapshot`/`restore`, so a rolled-back unit of work leaves no trace."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from ledger import PreparedTransaction
from ledger.audit import AuditLog
from offers.models import (
    AcceptStart,
    Claimed,
    Customer,
    Grant,
    Offer,
    OfferHead,
    OfferTerms,
    OpenOffer,
    Partner,
)
from offers.obligations import ObligationsRepository
from offers.repository import CustomersRepository, OffersRepository
from offers.webhook_repository import WebhookRepository

from .unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class _Snapshots:
    """Copies every attribute's state; restoring puts it back."""

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.__dict__)

    def restore(self, state: dict[str, Any]) -> None:
        self.__dict__.clear()
        self.__dict__.update(state)


class FakeCustomers(_Snapshots):
    def __init__(self) -> None:
        self.customers: dict[str, Customer] = {}
        self._ids = itertools.count(1)

    def add(self, jurisdiction: str = "FR", birth_date: date | None = None) -> Customer:
        n = next(self._ids)
        customer = Customer(
            id=f"cus_{n}",
            external_ref=f"ref-{n}",
            jurisdiction=jurisdiction,
            birth_date=birth_date,
            created_at=NOW,
        )
        self.customers[customer.id] = customer
        return customer

    async def insert_customer(
        self, ref: str, jurisdiction: str, birth_date: date | None
    ) -> Customer | None:
        if any(c.external_ref == ref for c in self.customers.values()):
            return None
        n = next(self._ids)
        customer = Customer(
            id=f"cus_{n}",
            external_ref=ref,
            jurisdiction=jurisdiction,
            birth_date=birth_date,
            created_at=NOW,
        )
        self.customers[customer.id] = customer
        return customer

    async def get_customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_id)

    async def get_customer_by_ref(self, ref: str) -> Customer | None:
        return next((c for c in self.customers.values() if c.external_ref == ref), None)


class FakeOffers(_Snapshots):
    """Partners, offers (a head and its versions) and grants."""

    def __init__(self, customers: FakeCustomers, books: FakeBooks) -> None:
        self._customers = customers
        self._books = books
        self.partners: dict[str, Partner] = {}
        self.heads: dict[str, dict[str, Any]] = {}  # offer id -> status, version, max, count
        self.versions: dict[tuple[str, int], tuple[OfferTerms, str]] = {}
        self.grants: dict[str, Grant] = {}
        self.compensated: set[tuple[str, str]] = set()  # offer_compensations' primary key
        self._ids = itertools.count(1)

    def snapshot(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        shared = {k: state.pop(k) for k in ("_customers", "_books")}  # their own snapshots
        return {**copy.deepcopy(state), **shared}

    def add_partner(self, status: str = "active") -> Partner:
        partner = Partner(
            id=f"ptn_{next(self._ids)}",
            name="Acme",
            jurisdiction="FR",
            status=status,
            created_at=NOW,
        )
        self.partners[partner.id] = partner
        return partner

    def head(self, offer_id: str) -> dict[str, Any]:
        return self.heads[offer_id]

    async def get_partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    async def insert_offer(self, partner_id: str, max_grants: int) -> str:
        offer_id = f"ofr_{next(self._ids)}"
        self.heads[offer_id] = {
            "partner_id": partner_id,
            "status": "draft",
            "version": 1,
            "max_grants": max_grants,
            "grant_count": 0,
        }
        return offer_id

    async def insert_offer_version(
        self, offer_id: str, version: int, terms: OfferTerms, terms_hash: str
    ) -> None:
        if (offer_id, version) in self.versions:  # offer_versions' primary key
            raise AssertionError(f"version {version} of {offer_id} exists")
        self.versions[(offer_id, version)] = (terms, terms_hash)

    async def get_offer(self, offer_id: str, partner_id: str) -> Offer | None:
        h = self.heads.get(offer_id)
        if h is None or h["partner_id"] != partner_id:
            return None
        terms, terms_hash = self.versions[(offer_id, h["version"])]
        return Offer(
            id=offer_id,
            partner_id=partner_id,
            status=h["status"],
            version=h["version"],
            max_grants=h["max_grants"],
            grant_count=h["grant_count"],
            terms=terms,
            terms_hash=terms_hash,
            created_at=NOW,
            updated_at=NOW,
        )

    async def lock_offer(self, offer_id: str, partner_id: str) -> OfferHead | None:
        h = self.heads.get(offer_id)
        if h is None or h["partner_id"] != partner_id:
            return None
        return OfferHead(
            status=h["status"],
            version=h["version"],
            max_grants=h["max_grants"],
            grant_count=h["grant_count"],
        )

    async def update_offer_head(
        self, offer_id: str, partner_id: str, version: int, max_grants: int
    ) -> None:
        self.heads[offer_id].update(version=version, max_grants=max_grants)

    async def set_offer_status(self, offer_id: str, partner_id: str, status: str) -> None:
        self.heads[offer_id]["status"] = status

    async def share_lock_customer(self, customer_id: str) -> None:
        pass  # one test at a time: nothing to wait for

    async def start_acceptance(self, customer_id: str, offer_id: str) -> AcceptStart:
        customer = self._customers.customers.get(customer_id)
        h = self.heads.get(offer_id)
        offer = partner = None
        if h is not None:
            partner = self.partners[h["partner_id"]]
            terms, terms_hash = self.versions[(offer_id, h["version"])]
            offer = OpenOffer(
                id=offer_id,
                partner_id=partner.id,
                status=h["status"],
                version=h["version"],
                terms=terms,
                terms_hash=terms_hash,
                partner_active=partner.status == "active",
            )
        return AcceptStart(
            customer=customer,
            audit_secret=b"k" * 32,
            offer=offer,
            partner=partner,
            has_stale=False,
            wants_event=False,
            compensated_before=(customer_id, offer_id) in self.compensated,
            grant_id=f"gnt_{next(self._ids)}",
            now=NOW,
        )

    async def claim_slot_and_grant(
        self,
        *,
        grant_id: str,
        customer_id: str,
        partner_id: str,
        offer_id: str,
        offer_version: int,
        categories,
        purposes,
        granted_at: datetime,
        expires_at: datetime,
        terms_hash: str,
        receipt: str,
        audit_entry: tuple,
        jurisdiction: str,
        birth_date: date | None,
        compensation: PreparedTransaction | None = None,
        compensated: bool = True,
        not_compensated_reason: str | None = None,
        exclusions=(),
    ) -> Claimed:
        customer = self._customers.customers.get(customer_id)
        if customer is None or (customer.jurisdiction, customer.birth_date) != (
            jurisdiction,
            birth_date,
        ):
            return Claimed(grant=None, customer_unchanged=False)
        h = self.heads[offer_id]
        if h["status"] != "active" or h["version"] != offer_version:
            return Claimed(grant=None, customer_unchanged=True)
        if compensated:
            if h["grant_count"] >= h["max_grants"]:
                return Claimed(grant=None, customer_unchanged=True)
            if (customer_id, offer_id) in self.compensated:
                raise AssertionError("offer_compensations_once")
            self.compensated.add((customer_id, offer_id))
            h["grant_count"] += 1
        grant = Grant(
            id=grant_id,
            customer_id=customer_id,
            partner_id=partner_id,
            offer_id=offer_id,
            offer_version=offer_version,
            categories=tuple(categories),
            purposes=tuple(purposes),
            status="active",
            granted_at=granted_at,
            expires_at=expires_at,
            updated_at=granted_at,
            terms_hash=terms_hash,
            receipt=receipt,
            compensated=compensated,
            not_compensated_reason=not_compensated_reason,
            exclusions=tuple(exclusions),
        )
        self.grants[grant.id] = grant
        if compensation is not None:  # posted in the same statement, after the grant
            await self._books.post_prepared(compensation)
        return Claimed(grant=grant, customer_unchanged=True)


class FakeAuditLog(_Snapshots):
    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.keys: set[str] = set()

    async def create_customer_key(self, customer_id: str) -> None:
        self.keys.add(customer_id)

    async def append(self, kind: str, **fields: Any) -> None:
        self.entries.append((kind, fields))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.entries]


class FakeBooks(_Snapshots):
    """The ledger as the acceptance statement posts to it (FakeOffers.claim_slot_and_grant)."""

    def __init__(self) -> None:
        self.compensations: list[PreparedTransaction] = []

    async def post_prepared(self, txn: PreparedTransaction) -> None:
        self.compensations.append(txn)


class FakeWebhooks(_Snapshots):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def grant_event(self, event_type: str, grant: Grant, **extra: Any) -> list[str]:
        self.events.append((event_type, grant.id))
        return []


class FakeObligations(_Snapshots):
    """Consent's afterlife as the consent rules see it: who holds a grant on an offer (none
    here), and the notifications stored."""

    def __init__(self) -> None:
        self.notifications: list[Any] = []

    async def live_grants_of_offer(self, offer_id: str) -> list[tuple[str, str, str]]:
        return []

    async def insert_notifications(self, rows: list[Any], at: Any) -> list[Any]:
        self.notifications.extend(rows)
        return []


class ConsentFakes(msgspec.Struct, kw_only=True):
    """The fakes of one test, and the factory that serves them."""

    uow: FakeUnitOfWorkFactory
    customers: FakeCustomers
    offers: FakeOffers
    audit: FakeAuditLog
    books: FakeBooks
    webhooks: FakeWebhooks
    obligations: FakeObligations


def consent_fakes() -> ConsentFakes:
    customers, books = FakeCustomers(), FakeBooks()
    fakes = ConsentFakes(
        uow=FakeUnitOfWorkFactory(),
        customers=customers,
        offers=FakeOffers(customers, books),
        audit=FakeAuditLog(),
        books=books,
        webhooks=FakeWebhooks(),
        obligations=FakeObligations(),
    )
    fakes.uow.register(CustomersRepository, fakes.customers)
    fakes.uow.register(OffersRepository, fakes.offers)
    fakes.uow.register(AuditLog, fakes.audit)
    fakes.uow.register(WebhookRepository, fakes.webhooks)
    fakes.uow.register(ObligationsRepository, fakes.obligations)
    return fakes
