"""Partner endpoints: offers and the grants made on them."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Request, get, patch, post

from offers import Compensation, ConsentService, Grant, Offer, OfferTerms, Page

from ..auth import requires
from ..schemas import CreateOffer, UpdateOffer
from .params import Limit, StartingAfter

OfferStatusFilter = Literal["draft", "active", "paused", "closed"]
GrantStatusFilter = Literal["active", "paused", "revoked", "expired"]


def _compensation(c) -> Compensation:
    return Compensation(kind=c.kind, amount=c.amount, currency=c.currency)


class PartnerOffersController(Controller):
    path = "/v1/partner/offers"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/")
    async def create_offer(
        self, request: Request, data: CreateOffer, consent: ConsentService
    ) -> Offer:
        """Create an offer as a draft; publish it to open it to customers."""
        terms = OfferTerms(
            title=data.title,
            description=data.description,
            categories=tuple(data.categories),
            purposes=tuple(data.purposes),
            duration_days=data.duration_days,
            lookback_days=data.lookback_days,
            compensation=_compensation(data.compensation),
            jurisdictions=tuple(data.jurisdictions),
        )
        return await consent.create_offer(request.user.sub, terms, data.max_grants)

    @get("/")
    async def list_offers(
        self,
        request: Request,
        consent: ConsentService,
        status: OfferStatusFilter | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[Offer]:
        """My offers, newest first."""
        return await consent.list_offers(
            request.user.sub, status=status, starting_after=starting_after, limit=limit
        )

    @get("/{offer_id:str}")
    async def get_offer(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        return await consent.get_offer(request.user.sub, offer_id)

    @patch("/{offer_id:str}")
    async def update_offer(
        self, request: Request, offer_id: str, data: UpdateOffer, consent: ConsentService
    ) -> Offer:
        """Change an offer; changed terms become a new version, existing grants keep theirs."""
        changes = {
            k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET
        }
        for key in ("categories", "purposes", "jurisdictions"):
            if key in changes:
                changes[key] = tuple(changes[key])
        if "compensation" in changes:
            changes["compensation"] = _compensation(changes["compensation"])
        return await consent.update_offer(request.user.sub, offer_id, changes)

    @post("/{offer_id:str}/publish", status_code=200)
    async def publish(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        return await consent.change_offer_status(request.user.sub, offer_id, "publish")

    @post("/{offer_id:str}/pause", status_code=200)
    async def pause(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        return await consent.change_offer_status(request.user.sub, offer_id, "pause")

    @post("/{offer_id:str}/close", status_code=200)
    async def close(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        """Close to new acceptances; existing grants run until they expire."""
        return await consent.change_offer_status(request.user.sub, offer_id, "close")


class PartnerGrantsController(Controller):
    path = "/v1/partner/grants"
    guards = [requires("partner")]
    tags = ["partner"]

    @get("/")
    async def list_grants(
        self,
        request: Request,
        consent: ConsentService,
        offer_id: str | None = None,
        status: GrantStatusFilter | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[Grant]:
        """Grants on my offers, newest first; filter by offer and status."""
        return await consent.list_partner_grants(
            request.user.sub,
            offer_id=offer_id,
            status=status,
            starting_after=starting_after,
            limit=limit,
        )

    @get("/{grant_id:str}")
    async def get_grant(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        return await consent.get_partner_grant(request.user.sub, grant_id)
