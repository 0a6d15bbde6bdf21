"""SQL access for offers, grants and customers: the only place an asyncpg.Record exists here.

`CustomersRepository` is the one writer of `customers` (onboarding, import, tombstone);
`OffersRepository` is the one writer of `offers`, `offer_versions` and `grants`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg
import msgspec

from ledger import PreparedTransaction
from sql import load_queries

from .models import (
    AcceptStart,
    Claimed,
    Compensation,
    ControllerProfile,
    Customer,
    Exclusion,
    Grant,
    GrantReceipt,
    Offer,
    OfferHead,
    OfferListing,
    OfferTerms,
    OpenOffer,
    Partner,
)

Q = load_queries("offers.sql")
_exclusions = msgspec.json.Decoder(tuple[Exclusion, ...]).decode
_encode = msgspec.json.Encoder().encode
_decode_profile = msgspec.json.Decoder(ControllerProfile).decode
# claim_slot_and_grant's ledger_post arguments ($25..$41, PreparedTransaction.arguments) when
# nothing is paid.
_NO_POSTING = (None,) * 17


def _terms(r: asyncpg.Record) -> OfferTerms:
    return OfferTerms(
        title=r["title"],
        description=r["description"],
        categories=tuple(r["categories"]),
        purposes=tuple(r["purposes"]),
        duration_days=r["duration_days"],
        lookback_days=r["lookback_days"],
        compensation=Compensation(
            kind=r["compensation_kind"],
            amount=r["compensation_amount"],
            currency=r["compensation_currency"],
        ),
        jurisdictions=tuple(r["jurisdictions"]),
    )


def _offer(r: asyncpg.Record) -> Offer:
    return Offer(
        id=r["id"],
        partner_id=r["partner_id"],
        status=r["status"],
        version=r["version"],
        max_grants=r["max_grants"],
        grant_count=r["grant_count"],
        terms=_terms(r),
        terms_hash=r["terms_hash"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def grant_from_row(r: asyncpg.Record) -> Grant:
    """A grant from a row holding the grant columns (`RETURNING id, customer_id, …`)."""
    return Grant(
        id=r["id"],
        customer_id=r["customer_id"],
        partner_id=r["partner_id"],
        offer_id=r["offer_id"],
        offer_version=r["offer_version"],
        categories=tuple(r["categories"]),
        purposes=tuple(r["purposes"]),
        status=r["status"],
        granted_at=r["granted_at"],
        expires_at=r["expires_at"],
        updated_at=r["updated_at"],
        terms_hash=r["terms_hash"],
        receipt=r["receipt"],
        compensated=r["compensated"],
        not_compensated_reason=r["not_compensated_reason"],
        exclusions=_exclusions(r["exclusions"]) if r["exclusions"] != "[]" else (),
    )


def _customer(r: asyncpg.Record) -> Customer:
    return Customer(
        id=r["id"],
        external_ref=r["external_ref"],
        jurisdiction=r["jurisdiction"],
        birth_date=r["birth_date"],
        created_at=r["created_at"],
    )


def _profile(text: str | None) -> ControllerProfile | None:
    return None if text is None else _decode_profile(text)


def _partner(r: asyncpg.Record) -> Partner:
    return Partner(
        id=r["id"],
        name=r["name"],
        jurisdiction=r["jurisdiction"],
        status=r["status"],
        created_at=r["created_at"],
        profile=_profile(r["profile"]),
    )


def _accept_start(r: asyncpg.Record) -> AcceptStart:
    customer = None
    if r["customer_id"] is not None:
        customer = Customer(
            id=r["customer_id"],
            external_ref=r["external_ref"],
            jurisdiction=r["customer_jurisdiction"],
            birth_date=r["birth_date"],
            created_at=r["customer_created_at"],
        )
    offer = partner = None
    if r["id"] is not None:
        offer = OpenOffer(
            id=r["id"],
            partner_id=r["partner_id"],
            status=r["status"],
            version=r["version"],
            terms=_terms(r),
            terms_hash=r["terms_hash"],
            partner_active=r["partner_status"] == "active",
        )
        partner = Partner(
            id=r["partner_id"],
            name=r["partner_name"],
            jurisdiction=r["partner_jurisdiction"],
            status=r["partner_status"],
            created_at=r["partner_created_at"],
            profile=_profile(r["partner_profile"]),
        )
    secret = r["audit_secret"]
    return AcceptStart(
        customer=customer,
        audit_secret=bytes(secret) if secret is not None else None,
        offer=offer,
        partner=partner,
        has_stale=r["has_stale"],
        wants_event=r["wants_event"],
        compensated_before=r["compensated_before"],
        grant_id=r["grant_id"],
        now=r["now"],
    )


class CustomersRepository:
    """The customers table, its one writer. Wraps one connection; the caller owns the
    transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def insert_customer(
        self, ref: str, jurisdiction: str, birth_date: date | None
    ) -> Customer | None:
        """The new customer, or None when the external_ref is taken."""
        r = await self.conn.fetchrow(Q["insert_customer"], ref, jurisdiction, birth_date)
        return _customer(r) if r else None

    async def get_customer(self, customer_id: str) -> Customer | None:
        r = await self.conn.fetchrow(Q["get_customer"], customer_id)
        return _customer(r) if r else None

    async def get_customer_by_ref(self, ref: str) -> Customer | None:
        r = await self.conn.fetchrow(Q["get_customer_by_ref"], ref)
        return _customer(r) if r else None

    async def open_customer(self, customer_id: str) -> Customer | None:
        """The customer if the account is open (not closed), else None."""
        r = await self.conn.fetchrow(Q["get_open_customer"], customer_id)
        return _customer(r) if r else None

    async def lock_open_customer(self, customer_id: str) -> Customer | None:
        """The open customer, locked FOR UPDATE (erasure, closure): acceptances, which share
        the lock, wait."""
        r = await self.conn.fetchrow(Q["lock_open_customer"], customer_id)
        return _customer(r) if r else None

    async def tombstone(self, customer_id: str) -> datetime:
        """Strips the closed account of its personal data; returns when it was closed."""
        closed_at: datetime = await self.conn.fetchval(Q["tombstone_customer"], customer_id)
        return closed_at


class OffersRepository:
    """Offers, their versions and grants. Wraps one connection; the caller owns the
    transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    # -- the receipt chain ------------------------------------------------------------------

    async def last_receipt(self, customer_id: str, grant_id: str) -> tuple[int, str]:
        r = await self.conn.fetchrow(Q["last_receipt"], customer_id, grant_id)
        assert r is not None  # the grant exists: the caller just changed it
        return r["seq"], r["receipt"]

    async def append_receipt(
        self,
        customer_id: str,
        grant_id: str,
        index: int,
        event_type: str,
        event_state: str,
        previous_hash: str,
        receipt: str,
        at: datetime,
    ) -> None:
        await self.conn.execute(
            Q["append_receipt"], customer_id, grant_id, index, event_type, event_state,
            previous_hash, receipt, at,
        )  # fmt: skip

    async def receipt_chain(self, customer_id: str, grant_id: str) -> list[GrantReceipt]:
        return [
            GrantReceipt(
                index=r["seq"],
                event_type=r["event_type"],
                event_state=r["event_state"],
                previous_hash=r["previous_hash"],
                created_at=r["created_at"],
                receipt=r["receipt"],
            )
            for r in await self.conn.fetch(Q["receipt_chain"], customer_id, grant_id)
        ]

    async def insert_partner(
        self, name: str, jurisdiction: str, profile: ControllerProfile | None
    ) -> Partner:
        profile_json = None if profile is None else _encode(profile).decode()
        r = await self.conn.fetchrow(Q["insert_partner"], name, jurisdiction, profile_json)
        assert r is not None  # INSERT … RETURNING always returns its row
        return _partner(r)

    async def get_partner(self, partner_id: str) -> Partner | None:
        r = await self.conn.fetchrow(Q["get_partner"], partner_id)
        return _partner(r) if r else None

    async def insert_offer(self, partner_id: str, max_grants: int) -> str:
        offer_id: str = await self.conn.fetchval(Q["insert_offer"], partner_id, max_grants)
        return offer_id

    async def insert_offer_version(
        self, offer_id: str, version: int, terms: OfferTerms, terms_hash: str
    ) -> None:
        c = terms.compensation
        await self.conn.execute(
            Q["insert_offer_version"],
            offer_id,
            version,
            terms.title,
            terms.description,
            list(terms.categories),
            list(terms.purposes),
            terms.duration_days,
            terms.lookback_days,
            c.kind,
            c.amount,
            c.currency,
            list(terms.jurisdictions),
            terms_hash,
        )

    async def get_offer(self, offer_id: str, partner_id: str) -> Offer | None:
        r = await self.conn.fetchrow(Q["get_offer"], offer_id, partner_id)
        return _offer(r) if r else None

    async def lock_offer(self, offer_id: str, partner_id: str) -> OfferHead | None:
        r = await self.conn.fetchrow(Q["lock_offer"], offer_id, partner_id)
        if r is None:
            return None
        return OfferHead(
            status=r["status"],
            version=r["current_version"],
            max_grants=r["max_grants"],
            grant_count=r["grant_count"],
        )

    async def list_partner_offers(
        self, partner_id: str, status: str | None, starting_after: str | None, limit: int
    ) -> list[Offer]:
        rows = await self.conn.fetch(
            Q["list_partner_offers"], partner_id, status, starting_after, limit
        )
        return [_offer(r) for r in rows]

    async def update_offer_head(
        self, offer_id: str, partner_id: str, version: int, max_grants: int
    ) -> None:
        await self.conn.execute(Q["update_offer_head"], offer_id, partner_id, version, max_grants)

    async def set_offer_status(self, offer_id: str, partner_id: str, status: str) -> None:
        await self.conn.execute(Q["set_offer_status"], offer_id, partner_id, status)

    async def list_customer_offers(
        self, customer_id: str, starting_after: str | None, limit: int, offer_id: str | None
    ) -> list[OfferListing]:
        rows = await self.conn.fetch(
            Q["list_customer_offers"], customer_id, starting_after, limit, offer_id
        )
        return [
            OfferListing(
                id=r["id"],
                partner_id=r["partner_id"],
                partner_name=r["partner_name"],
                version=r["version"],
                max_grants=r["max_grants"],
                grant_count=r["grant_count"],
                terms=_terms(r),
                terms_hash=r["terms_hash"],
                already_granted=r["already_granted"],
                already_compensated=r["already_compensated"],
                escrow_balance=r["escrow_balance"],
            )
            for r in rows
        ]

    async def expire_stale_grants(self, customer_id: str, offer_id: str) -> list[Grant]:
        rows = await self.conn.fetch(Q["expire_stale_grants"], customer_id, offer_id)
        return [grant_from_row(r) for r in rows]

    async def share_lock_customer(self, customer_id: str) -> None:
        await self.conn.execute(Q["share_lock_customer"], customer_id)

    async def start_acceptance(self, customer_id: str, offer_id: str) -> AcceptStart:
        r = await self.conn.fetchrow(Q["start_acceptance"], customer_id, offer_id)
        assert r is not None  # the query always returns one row
        return _accept_start(r)

    async def claim_slot_and_grant(
        self,
        *,
        grant_id: str,
        customer_id: str,
        partner_id: str,
        offer_id: str,
        offer_version: int,
        categories: Sequence[str],
        purposes: Sequence[str],
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
        exclusions: Sequence[Exclusion] = (),
    ) -> Claimed:
        """The acceptance's writes in one statement: the grant with its audit entry and its
        `compensation` posted (ledger_post), if the customer is as read (`jurisdiction`,
        `birth_date`, open) and the offer has a place.

        `compensated`: a first acceptance, which takes a slot and records the (customer,
        offer) pair as compensated (its primary key refuses a second); else neither."""
        r = await self.conn.fetchrow(
            Q["claim_slot_and_grant"],
            grant_id,
            customer_id,
            partner_id,
            offer_id,
            offer_version,
            list(categories),
            list(purposes),
            granted_at,
            expires_at,
            terms_hash,
            receipt,
            *audit_entry,
            compensated,
            not_compensated_reason,
            _encode(tuple(exclusions)).decode(),
            jurisdiction,
            birth_date,
            *(compensation.arguments() if compensation else _NO_POSTING),
        )
        return Claimed(
            grant=grant_from_row(r) if r["id"] is not None else None,
            customer_unchanged=r["customer_unchanged"],
        )

    async def get_customer_grant(self, grant_id: str, customer_id: str) -> Grant | None:
        r = await self.conn.fetchrow(Q["get_customer_grant"], grant_id, customer_id)
        return grant_from_row(r) if r else None

    async def list_customer_grants(
        self, customer_id: str, status: str | None, starting_after: str | None, limit: int
    ) -> list[Grant]:
        rows = await self.conn.fetch(
            Q["list_customer_grants"], customer_id, status, starting_after, limit
        )
        return [grant_from_row(r) for r in rows]

    async def customer_partners(self, customer_id: str, limit: int) -> dict[str, str]:
        rows = await self.conn.fetch(Q["customer_partners"], customer_id, limit)
        return {r["id"]: r["name"] for r in rows}

    async def get_partner_grant(self, grant_id: str, partner_id: str) -> Grant | None:
        r = await self.conn.fetchrow(Q["get_partner_grant"], grant_id, partner_id)
        return grant_from_row(r) if r else None

    async def list_partner_grants(
        self,
        partner_id: str,
        offer_id: str | None,
        status: str | None,
        starting_after: str | None,
        limit: int,
    ) -> list[Grant]:
        rows = await self.conn.fetch(
            Q["list_partner_grants"], partner_id, offer_id, status, starting_after, limit
        )
        return [grant_from_row(r) for r in rows]

    async def current_txid(self) -> str:
        return await self.conn.fetchval(Q["current_txid"])

    async def transition_grant(
        self, grant_id: str, customer_id: str, from_statuses: Sequence[str], to_status: str
    ) -> Grant | None:
        """Pause or resume (a revoke goes through `revoke_grants`)."""
        r = await self.conn.fetchrow(
            Q["transition_grant"], grant_id, customer_id, list(from_statuses), to_status
        )
        return grant_from_row(r) if r else None

    async def revoke_grants(
        self,
        customer_id: str,
        *,
        grant_id: str | None = None,
        categories: Sequence[str] | None = None,
    ) -> list[Grant]:
        """Ends live grants of the customer now, whatever the cause: the one grant `grant_id`
        (the customer's revoke) or every grant covering one of `categories` (erasure,
        account closure). Returns the grants it revoked."""
        if (grant_id is None) == (categories is None):
            raise ValueError("revoke by grant_id or by categories, not both or neither")
        rows = await self.conn.fetch(
            Q["revoke_grants"],
            customer_id,
            grant_id,
            list(categories) if categories is not None else None,
        )
        return [grant_from_row(r) for r in rows]

    async def expire_due_grants(self, batch: int, now: datetime) -> list[tuple[Grant, str]]:
        """The grants ended by `now`, just expired, each with its customer's jurisdiction."""
        rows = await self.conn.fetch(Q["expire_due_grants"], batch, now)
        return [(grant_from_row(r), r["jurisdiction"]) for r in rows]
