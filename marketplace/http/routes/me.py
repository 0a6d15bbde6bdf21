"""Customer endpoints (`/v1/me`): offers open to me and my grants."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, Request, Response, get, post

from offers import ConsentService, CustomerOffer, Grant, Page

from ..auth import requires
from ..schemas import AcceptOffer
from .dataspace import open_account
from .params import Limit, StartingAfter

GrantStatusFilter = Literal["active", "paused", "revoked", "expired"]


class MeController(Controller):
    path = "/v1/me"
    guards = [requires("customer"), open_account]
    tags = ["customer"]

    @get("/offers")
    async def offers(
        self,
        request: Request,
        consent: ConsentService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[CustomerOffer]:
        """Published offers, each with `eligible` and, if not, the reasons."""
        return await consent.offers_for_customer(
            request.user.sub, starting_after=starting_after, limit=limit
        )

    @post("/grants")
    async def accept(self, request: Request, data: AcceptOffer, consent: ConsentService) -> Grant:
        """Accept an offer (optionally narrowed); the grant carries a signed consent receipt."""
        return await consent.accept_offer(
            request.user.sub,
            data.offer_id,
            categories=tuple(data.categories) if data.categories is not None else None,
            purposes=tuple(data.purposes) if data.purposes is not None else None,
            offer_version=data.offer_version,
        )

    @get("/grants")
    async def list_grants(
        self,
        request: Request,
        consent: ConsentService,
        status: GrantStatusFilter | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[Grant]:
        return await consent.list_customer_grants(
            request.user.sub, status=status, starting_after=starting_after, limit=limit
        )

    @get("/grants/{grant_id:str}")
    async def get_grant(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        return await consent.get_customer_grant(request.user.sub, grant_id)

    @get("/grants/{grant_id:str}/receipt", media_type="application/jose")
    async def receipt(
        self, request: Request, grant_id: str, consent: ConsentService
    ) -> Response[str]:
        """The consent receipt as a compact JWS, verifiable with /.well-known/jwks.json."""
        grant = await consent.get_customer_grant(request.user.sub, grant_id)
        return Response(grant.receipt, media_type="application/jose")

    @post("/grants/{grant_id:str}/revoke", status_code=200)
    async def revoke(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        """Withdraw consent; effective for every later request, on every worker."""
        return await consent.change_grant(request.user.sub, grant_id, "revoke")

    @post("/grants/{grant_id:str}/pause", status_code=200)
    async def pause(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        return await consent.change_grant(request.user.sub, grant_id, "pause")

    @post("/grants/{grant_id:str}/resume", status_code=200)
    async def resume(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        return await consent.change_grant(request.user.sub, grant_id, "resume")
