"""SQL access for offers and grants: the only place an asyncpg.Record exists here."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from sql import load_queries

from .models import Compensation, Customer, Grant, Offer, OfferTerms, Partner

Q = load_queries("offers.sql")


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


def _grant(r) -> Grant:
    return Grant(**{**dict(r), "categories": tuple(r["categories"]), "purposes": tuple(r["purposes"])})


class OpenOffer:
    """An offer's current version as seen by an accepting customer."""

    __slots__ = ("id", "partner_active", "partner_id", "status", "terms", "terms_hash", "version")

    def __init__(self, r: asyncpg.Record):
        self.id = r["id"]
        self.partner_id = r["partner_id"]
        self.status = r["status"]
        self.version = r["version"]
        self.terms = _terms(r)
        self.terms_hash = r["terms_hash"]
        self.partner_active = r["partner_status"] == "active"


class AcceptStart:
    """What an acceptance reads before it writes (see the `start_acceptance` query)."""

    __slots__ = ("audit_secret", "customer", "grant_id", "has_stale", "now", "offer", "partner",
                 "wants_event")  # fmt: skip

    def __init__(self, r: asyncpg.Record):
        self.customer = Customer(
            id=r["customer_id"], external_ref=r["external_ref"],
            jurisdiction=r["customer_jurisdiction"], birth_date=r["birth_date"],
            created_at=r["customer_created_at"],
        ) if r["customer_id"] is not None else None  # fmt: skip
        secret = r["audit_secret"]
        self.audit_secret = bytes(secret) if secret is not None else None
        self.offer = OpenOffer(r) if r["id"] is not None else None
        self.partner = Partner(
            id=r["partner_id"], name=r["partner_name"], jurisdiction=r["partner_jurisdiction"],
            status=r["partner_status"], created_at=r["partner_created_at"],
        ) if r["id"] is not None else None  # fmt: skip
        self.has_stale = r["has_stale"]
        self.wants_event = r["wants_event"]
        self.grant_id = r["grant_id"]
        self.now = r["now"]


class OffersRepository:
    """Wraps one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def insert_partner(self, name: str, jurisdiction: str) -> Partner:
        return Partner(**dict(await self.conn.fetchrow(Q["insert_partner"], name, jurisdiction)))

    async def get_partner(self, partner_id: str) -> Partner | None:
        r = await self.conn.fetchrow(Q["get_partner"], partner_id)
        return Partner(**dict(r)) if r else None

    async def insert_customer(self, ref: str, jurisdiction: str, birth_date) -> Customer | None:
        r = await self.conn.fetchrow(Q["insert_customer"], ref, jurisdiction, birth_date)
        return Customer(**dict(r)) if r else None

    async def get_customer(self, customer_id: str) -> Customer | None:
        r = await self.conn.fetchrow(Q["get_customer"], customer_id)
        return Customer(**dict(r)) if r else None

    async def lock_customer_for_consent(self, customer_id: str) -> Customer | None:
        r = await self.conn.fetchrow(Q["lock_customer_for_consent"], customer_id)
        return Customer(**dict(r)) if r else None

    async def get_customer_by_ref(self, ref: str) -> Customer | None:
        r = await self.conn.fetchrow(Q["get_customer_by_ref"], ref)
        return Customer(**dict(r)) if r else None

    async def insert_offer(self, partner_id: str, max_grants: int) -> str:
        return await self.conn.fetchval(Q["insert_offer"], partner_id, max_grants)

    async def insert_offer_version(
        self, offer_id: str, version: int, terms: OfferTerms, terms_hash: str
    ) -> None:
        c = terms.compensation
        await self.conn.execute(
            Q["insert_offer_version"], offer_id, version, terms.title, terms.description,
            list(terms.categories), list(terms.purposes), terms.duration_days,
            terms.lookback_days, c.kind, c.amount, c.currency, list(terms.jurisdictions),
            terms_hash,
        )  # fmt: skip

    async def get_offer(self, offer_id: str, partner_id: str) -> Offer | None:
        r = await self.conn.fetchrow(Q["get_offer"], offer_id, partner_id)
        return _offer(r) if r else None

    async def lock_offer(self, offer_id: str, partner_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(Q["lock_offer"], offer_id, partner_id)

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
        self, customer_id: str, starting_after: str | None, limit: int
    ) -> list[tuple[asyncpg.Record, OfferTerms]]:
        rows = await self.conn.fetch(Q["list_customer_offers"], customer_id, starting_after, limit)
        return [(r, _terms(r)) for r in rows]

    async def get_open_offer(self, offer_id: str) -> OpenOffer | None:
        r = await self.conn.fetchrow(Q["get_open_offer"], offer_id)
        return OpenOffer(r) if r else None

    async def claim_grant_slot(self, offer_id: str, version: int) -> bool:
        return await self.conn.fetchval(Q["claim_grant_slot"], offer_id, version) is not None

    async def expire_stale_grants(self, customer_id: str, offer_id: str) -> list[Grant]:
        rows = await self.conn.fetch(Q["expire_stale_grants"], customer_id, offer_id)
        return [_grant(r) for r in rows]

    async def new_grant_id(self) -> tuple[str, datetime]:
        r = await self.conn.fetchrow(Q["new_grant_id"])
        return r["id"], r["now"]

    async def insert_grant(self, *, grant_id: str, customer_id: str, partner_id: str,
                           offer_id: str, offer_version: int, categories, purposes,
                           granted_at: datetime, expires_at: datetime, terms_hash: str,
                           receipt: str) -> Grant:  # fmt: skip
        r = await self.conn.fetchrow(
            Q["insert_grant"], grant_id, customer_id, partner_id, offer_id, offer_version,
            list(categories), list(purposes), granted_at, expires_at, terms_hash, receipt,
        )  # fmt: skip
        return _grant(r)

    async def start_acceptance(self, customer_id: str, offer_id: str) -> AcceptStart:
        return AcceptStart(await self.conn.fetchrow(Q["start_acceptance"], customer_id, offer_id))

    async def claim_slot_and_grant(self, *, grant_id: str, customer_id: str, partner_id: str,
                                   offer_id: str, offer_version: int, categories, purposes,
                                   granted_at: datetime, expires_at: datetime, terms_hash: str,
                                   receipt: str, audit_entry: tuple) -> Grant | None:  # fmt: skip
        """The grant with its audit entry, or None when the offer has no place left."""
        r = await self.conn.fetchrow(
            Q["claim_slot_and_grant"], grant_id, customer_id, partner_id, offer_id,
            offer_version, list(categories), list(purposes), granted_at, expires_at, terms_hash,
            receipt, *audit_entry,
        )  # fmt: skip
        return _grant(r) if r else None

    async def get_customer_grant(self, grant_id: str, customer_id: str) -> Grant | None:
        r = await self.conn.fetchrow(Q["get_customer_grant"], grant_id, customer_id)
        return _grant(r) if r else None

    async def list_customer_grants(
        self, customer_id: str, status: str | None, starting_after: str | None, limit: int
    ) -> list[Grant]:
        rows = await self.conn.fetch(
            Q["list_customer_grants"], customer_id, status, starting_after, limit
        )
        return [_grant(r) for r in rows]

    async def get_partner_grant(self, grant_id: str, partner_id: str) -> Grant | None:
        r = await self.conn.fetchrow(Q["get_partner_grant"], grant_id, partner_id)
        return _grant(r) if r else None

    async def list_partner_grants(self, partner_id: str, offer_id: str | None,
                                  status: str | None, starting_after: str | None,
                                  limit: int) -> list[Grant]:  # fmt: skip
        rows = await self.conn.fetch(
            Q["list_partner_grants"], partner_id, offer_id, status, starting_after, limit
        )
        return [_grant(r) for r in rows]

    async def transition_grant(
        self, grant_id: str, customer_id: str, from_statuses: list[str], to_status: str
    ) -> Grant | None:
        r = await self.conn.fetchrow(
            Q["transition_grant"], grant_id, customer_id, from_statuses, to_status
        )
        return _grant(r) if r else None

    async def expire_due_grants(self, batch: int) -> list[tuple[Grant, str]]:
        """The grants just expired, each with its customer's jurisdiction."""
        rows = await self.conn.fetch(Q["expire_due_grants"], batch)
        return [(_grant({k: r[k] for k in r.keys() if k != "jurisdiction"}), r["jurisdiction"])
                for r in rows]  # fmt: skip
