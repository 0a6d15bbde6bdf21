"""Customer endpoints (`/v1/me`): offers open to me and my grants, my Personal Data Space
(data, erasure, exports, imported consents), my earnings and who read my data."""

from __future__ import annotations

from typing import Annotated, Literal

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
from offers.insights import CustomerInsights, InsightService
from offers.obligations import (
    CustomerGrant,
    Notification,
    NotificationsRead,
    ObligationService,
)
from policies import CATEGORIES

from ..auth import requires
from ..schemas import AcceptOffer, MarkNotificationsRead
from .params import GrantStatusFilter, Limit, StartingAfter, created

# Published as the vocabulary's enum; another code is a 400 `unknown_category`.
CategoryPath = Annotated[
    str,
    Parameter(
        max_length=64,
        description="a category code (see /v1/vocabulary)",
        schema_extra={"enum": [t.code for t in CATEGORIES]},
    ),
]


async def open_account(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A closed account's tokens reach nothing: 404 customer_not_found."""
    user = connection.scope.get("user")
    if user is not None:  # None only for OPTIONS, which `requires` lets through
        await connection.app.state.dataspace.ensure_open(user.sub)


class MeController(Controller):
    path = "/"

    @get("/offers", operation_id="listAvailableOffers")
    async def offers(
        self,
        request: Request,
        consent: ConsentService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[CustomerOffer]:
        """Published offers, each with `eligible` and, if not, the reasons; the rules'
        sentences in the language Accept-Language asks for (es, de or en; else en, as in the
        grant and its receipt)."""
        return await consent.offers_for_customer(
            request.user.sub,
            starting_after=starting_after,
            limit=limit,
            accept_language=request.headers.get("accept-language"),
        )

    @post("/grants", operation_id="acceptOffer")
    async def accept(
        self, request: Request, data: AcceptOffer, consent: ConsentService
    ) -> Response[Grant]:
        """Accept an offer (optionally narrowed); the grant carries a signed consent receipt."""
        grant = await consent.accept_offer(
            request.user.sub,
            data.offer_id,
            categories=tuple(data.categories) if data.categories is not None else None,
            purposes=tuple(data.purposes) if data.purposes is not None else None,
            offer_version=data.offer_version,
        )
        return created(grant, f"/v1/me/grants/{grant.id}")

    @get("/grants", operation_id="listMyGrants")
    async def list_grants(
        self,
        request: Request,
        consent: ConsentService,
        status: GrantStatusFilter | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[Grant]:
        """My grants, newest first; filter by status."""
        return await consent.list_customer_grants(
            request.user.sub, status=status, starting_after=starting_after, limit=limit
        )

    @get("/grants/{grant_id:str}", operation_id="getMyGrant")
    async def get_grant(
        self, request: Request, grant_id: str, obligations: ObligationService
    ) -> CustomerGrant:
        """One of my grants, with its signed consent receipt; once it ended or narrowed,
        `deletion` says what the partner owes and whether it confirmed deletion, when and how
        (with the signed confirmation's URL)."""
        return await obligations.customer_grant(request.user.sub, grant_id)

    @get("/grants/{grant_id:str}/receipt", operation_id="getReceipt", media_type="application/jose")
    async def receipt(
        self, request: Request, grant_id: str, consent: ConsentService
    ) -> Response[str]:
        """The grant's latest consent receipt as a compact JWS, verifiable with
        /.well-known/jwks.json: the acceptance's, or after a pause, resume, revoke or expiry
        the signed receipt of that event. `/receipts` has the whole chain."""
        chain = await consent.customer_receipts(request.user.sub, grant_id)
        return Response(chain.data[-1].receipt, media_type="application/jose")

    @get("/grants/{grant_id:str}/receipts", operation_id="listMyReceipts")
    async def receipts(
        self, request: Request, grant_id: str, consent: ConsentService
    ) -> GrantReceipts:
        """Every signed receipt of the grant, oldest first: the acceptance's (index 0), then one
        per state change with its `event_type` and `event_state` (ISO/IEC TS 27560); each
        names the SHA-256 of the one before it (`previous_hash`). See docs/receipts.md."""
        return await consent.customer_receipts(request.user.sub, grant_id)

    @post("/grants/{grant_id:str}/revoke", operation_id="revokeGrant", status_code=200)
    async def revoke(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        """Withdraw consent; effective for every later request, on every worker."""
        return await consent.change_grant(request.user.sub, grant_id, "revoke")

    @post("/grants/{grant_id:str}/pause", operation_id="pauseGrant", status_code=200)
    async def pause(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        """Pause a grant: reads are refused until it is resumed."""
        return await consent.change_grant(request.user.sub, grant_id, "pause")

    @post("/grants/{grant_id:str}/resume", operation_id="resumeGrant", status_code=200)
    async def resume(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        """Resume a paused grant."""
        return await consent.change_grant(request.user.sub, grant_id, "resume")

    @get("/data", operation_id="getDataOverview")
    async def overview(self, request: Request, dataspace: DataSpaceService) -> DataOverview:
        """Every category held about me: counts, first and last dates, sources, and who may
        read it now (active grants)."""
        return await dataspace.overview(request.user.sub)

    @get("/insights", operation_id="getMyInsights")
    async def insights(
        self, request: Request, dataspace: DataSpaceService, insights: InsightService
    ) -> CustomerInsights:
        """The aggregate releases that counted me, for whom, and how much of my privacy budget
        (epsilon, across all partners) this period has spent; once it is spent, I am left out
        of every release until the period renews."""
        await dataspace.ensure_open(request.user.sub)
        return await insights.for_customer(request.user.sub)

    @get("/data/{category:str}", operation_id="listMyRecords")
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

    @delete("/data", operation_id="eraseAllData", status_code=200)
    async def erase_all(self, request: Request, dataspace: DataSpaceService) -> Erasure:
        """Erase everything (GDPR Art. 17): records gone, every grant revoked, partners told."""
        return await dataspace.erase(request.user.sub, None)

    @delete("/data/{category:str}", operation_id="eraseCategory", status_code=200)
    async def erase_category(
        self, request: Request, category: CategoryPath, dataspace: DataSpaceService
    ) -> Erasure:
        """Erase one category: its records are gone; a grant covering only it is revoked, a
        grant covering others too is narrowed (it loses the category); partners are told at
        once and owe the deletion of what they received of it."""
        return await dataspace.erase(request.user.sub, category)

    @delete("/", operation_id="closeAccount", status_code=200)
    async def close_account(self, request: Request, dataspace: DataSpaceService) -> Erasure:
        """Close my account: everything erased, the audit pseudonym key destroyed, no personal
        data left; tokens for this account stop working."""
        return await dataspace.close_account(request.user.sub)

    @post("/exports", operation_id="createExport", status_code=201)
    async def create_export(
        self, request: Request, dataspace: DataSpaceService
    ) -> Response[Export]:
        """Make a signed, portable package of my data (GDPR Art. 20); see docs/export-format.md."""
        export = await dataspace.create_export(request.user.sub)
        return created(export, f"/v1/me/exports/{export.id}")

    @get("/exports/{export_id:str}", operation_id="getExport")
    async def get_export(
        self, request: Request, export_id: str, dataspace: DataSpaceService
    ) -> Export:
        """An export of mine: its status, manifest signature and download link."""
        return await dataspace.get_export(request.user.sub, export_id)

    @get("/exports/{export_id:str}/download", operation_id="downloadExport", media_type=MEDIA_TYPE)
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

    @get("/imported-consents", operation_id="listImportedConsents")
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


class MeAfterlifeController(Controller):
    path = "/"

    @get("/notifications", operation_id="listMyNotifications")
    async def notifications(
        self,
        request: Request,
        obligations: ObligationService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        read_state: Annotated[
            Literal["read", "unread"] | None,
            Parameter(
                query="state", description="Only those marked read, or only those not read yet."
            ),
        ] = None,
    ) -> Page[Notification]:
        """What I should be told (consent ending, reminders, deletions confirmed or late,
        changed offers), newest first, in my language: the first of `es`, `de`, `en` that
        Accept-Language names, else my country's. `read_at` says when I marked one read."""
        return await obligations.notifications(
            request.user.sub,
            accept_language=request.headers.get("accept-language"),
            starting_after=starting_after,
            limit=limit,
            state=read_state,
        )

    @post("/notifications/read", operation_id="markMyNotificationsRead", status_code=200)
    async def mark_notifications_read(
        self, request: Request, data: MarkNotificationsRead, obligations: ObligationService
    ) -> NotificationsRead:
        """Marks my notification `up_to` and every earlier one read (name the newest to mark
        them all); repeating it changes nothing. One that is not mine is a 404
        `notification_not_found`."""
        return await obligations.mark_notifications_read(request.user.sub, data.up_to)

    @get(
        "/deletion-confirmations/{obligation_id:str}",
        operation_id="getDeletionConfirmation",
        media_type="application/jose",
    )
    async def deletion_confirmation(
        self, request: Request, obligation_id: str, obligations: ObligationService
    ) -> Response[str]:
        """A partner's signed deletion confirmation, a compact JWS verifiable with
        /.well-known/jwks.json."""
        receipt = await obligations.confirmation_receipt(request.user.sub, obligation_id)
        return Response(receipt, media_type="application/jose")


class MeHistoryController(Controller):
    path = "/"

    @get("/earnings", operation_id="getEarnings")
    async def earnings(self, request: Request, money: LedgerService) -> Earnings:
        """Earned, paid, pending and available per kind and currency, and recent payouts."""
        return await money.customer_earnings(request.user.sub)

    @get("/access-log", operation_id="getAccessLog")
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
    route_handlers=[MeController, MeAfterlifeController, MeHistoryController],
)
ROUTES = [ME]
