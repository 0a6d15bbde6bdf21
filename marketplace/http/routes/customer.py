"""Customer endpoints (`/v1/me`): offers open to me and my grants, my Personal Data Space
(data, erasure, exports, imported consents), my earnings and who read my data."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, Router, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.response import Stream

from ledger import Earnings, LedgerService
from ledger.audit import AccessLogItem, AuditPage, AuditService
from offers import ConsentService, CustomerOffer, Grant, GrantReceipts, Page
from offers.dataspace import (
    MEDIA_TYPE,
    DataOverview,
    DataSpaceService,
    Erasure,
    Export,
    ImportedConsent,
    Record,
)

from ..auth import requires
from ..schemas import AcceptOffer
from .params import GrantStatusFilter, Limit, StartingAfter

CategoryPath = Annotated[str, Parameter(max_length=64, description="a category code")]


async def open_account(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A closed account's tokens reach nothing: 404 customer_not_found."""
    user = connection.scope.get("user")
    if user is not None:  # None only for OPTIONS, which `requires` lets through
        await connection.app.state.dataspace.ensure_open(user.sub)


class MeController(Controller):
    path = "/"

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
        """The grant's latest consent receipt as a compact JWS, verifiable with
        /.well-known/jwks.json: the acceptance's, or after a pause, resume, revoke or expiry
        the signed receipt of that event. `/receipts` has the whole chain."""
        chain = await consent.customer_receipts(request.user.sub, grant_id)
        return Response(chain.data[-1].receipt, media_type="application/jose")

    @get("/grants/{grant_id:str}/receipts")
    async def receipts(
        self, request: Request, grant_id: str, consent: ConsentService
    ) -> GrantReceipts:
        """Every signed receipt of the grant, oldest first: the acceptance's (index 0), then one
        per state change with its `event_type` and `event_state` (ISO/IEC TS 27560); each
        names the SHA-256 of the one before it (`previous_hash`). See docs/receipts.md."""
        return await consent.customer_receipts(request.user.sub, grant_id)

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

    @get("/data")
    async def overview(self, request: Request, dataspace: DataSpaceService) -> DataOverview:
        """Every category held about me: counts, first and last dates, sources, and who may
        read it now (active grants)."""
        return await dataspace.overview(request.user.sub)

    @get("/data/{category:str}")
    async def records(
        self,
        request: Request,
        category: CategoryPath,
        dataspace: DataSpaceService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[Record]:
        """My records of one category, newest first."""
        return await dataspace.records(
            request.user.sub, category, starting_after=starting_after, limit=limit
        )

    @delete("/data", status_code=200)
    async def erase_all(self, request: Request, dataspace: DataSpaceService) -> Erasure:
        """Erase everything (GDPR Art. 17): records gone, every grant revoked, partners told."""
        return await dataspace.erase(request.user.sub, None)

    @delete("/data/{category:str}", status_code=200)
    async def erase_category(
        self, request: Request, category: CategoryPath, dataspace: DataSpaceService
    ) -> Erasure:
        """Erase one category: its records are gone and every grant covering it is revoked
        (a grant that also covers other categories too), partners told at once."""
        return await dataspace.erase(request.user.sub, category)

    @delete("/", status_code=200)
    async def close_account(self, request: Request, dataspace: DataSpaceService) -> Erasure:
        """Close my account: everything erased, the audit pseudonym key destroyed, no personal
        data left; tokens for this account stop working."""
        return await dataspace.close_account(request.user.sub)

    @post("/exports", status_code=201)
    async def create_export(self, request: Request, dataspace: DataSpaceService) -> Export:
        """Make a signed, portable package of my data (GDPR Art. 20); see docs/export-format.md."""
        return await dataspace.create_export(request.user.sub)

    @get("/exports/{export_id:str}")
    async def get_export(
        self, request: Request, export_id: str, dataspace: DataSpaceService
    ) -> Export:
        return await dataspace.get_export(request.user.sub, export_id)

    @get("/exports/{export_id:str}/download", media_type=MEDIA_TYPE)
    async def download(
        self, request: Request, export_id: str, dataspace: DataSpaceService
    ) -> Stream:
        """The package as JSON Lines, streamed (records straight from a database cursor)."""
        body = await dataspace.open_download(request.user.sub, export_id)
        return Stream(
            body,
            media_type=MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{export_id}.jsonl"'},
        )

    @get("/imported-consents")
    async def imported_consents(
        self,
        request: Request,
        dataspace: DataSpaceService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[ImportedConsent]:
        """Grants I held at my former operator, to re-confirm here (never live grants)."""
        return await dataspace.imported_consents(
            request.user.sub, starting_after=starting_after, limit=limit
        )


class MeHistoryController(Controller):
    path = "/"

    @get("/earnings")
    async def earnings(self, request: Request, money: LedgerService) -> Earnings:
        """Earned, paid, pending and available per kind and currency, and recent payouts."""
        return await money.customer_earnings(request.user.sub)

    @get("/access-log")
    async def access_log(
        self,
        request: Request,
        audit: AuditService,
        limit: Limit = 20,
        starting_after: Annotated[int | None, Parameter(ge=1)] = None,
    ) -> AuditPage[AccessLogItem]:
        """Who read or asked for which of my data, when, allowed or denied and why; newest
        first. Empty after erasure (the pseudonym key is destroyed)."""
        return await audit.access_log(request.user.sub, starting_after=starting_after, limit=limit)


# Every customer route hangs under this one router, which carries the guards: a closed
# account reaches nothing, and a controller added here cannot forget it.
ME = Router(
    path="/v1/me",
    guards=[requires("customer"), open_account],
    tags=["customer"],
    route_handlers=[MeController, MeHistoryController],
)
ROUTES = [ME]
