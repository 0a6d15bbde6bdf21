"""Partner endpoints (`/v1/partner`): offers and the grants made on them, data access (every
read through the policy engine), money (funding, balance, statement) and webhook endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from ledger import Balance, Funding, LedgerService, StatementLine
from offers import (
    SECRET_OVERLAP_SECONDS,
    Compensation,
    ConsentService,
    Grant,
    GrantReceipts,
    Offer,
    OfferTerms,
    Page,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookService,
)
from offers.dataspace import AccessDecision, DataAccessService, RecordsPage
from offers.insights import (
    Area,
    BoundingBox,
    InsightRequest,
    InsightService,
    Release,
    ReleasesPage,
)
from offers.obligations import DeletionObligation, ObligationService

from ..auth import requires
from ..schemas import (
    Category,
    ConfirmDeletion,
    CreateFunding,
    CreateInsight,
    CreateOffer,
    CreateWebhookEndpoint,
    Currency,
    DecisionQuery,
    Purpose,
    UpdateOffer,
)
from .params import GrantStatusFilter, Limit, StartingAfter, created

OfferStatusFilter = Literal["draft", "active", "paused", "closed"]
ObligationStateFilter = Literal["open", "confirmed", "not_required"]


def _compensation(c) -> Compensation:
    return Compensation(kind=c.kind, amount=c.amount, currency=c.currency)


class PartnerOffersController(Controller):
    path = "/v1/partner/offers"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/", operation_id="createOffer")
    async def create_offer(
        self, request: Request, data: CreateOffer, consent: ConsentService
    ) -> Response[Offer]:
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
        offer = await consent.create_offer(request.user.sub, terms, data.max_grants)
        return created(offer, f"/v1/partner/offers/{offer.id}")

    @get("/", operation_id="listOffers")
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

    @get("/{offer_id:str}", operation_id="getOffer")
    async def get_offer(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        """One of my offers, with its current terms."""
        return await consent.get_offer(request.user.sub, offer_id)

    @patch("/{offer_id:str}", operation_id="updateOffer")
    async def update_offer(
        self, request: Request, offer_id: str, data: UpdateOffer, consent: ConsentService
    ) -> Offer:
        """Change an offer; changed terms become a new version, existing grants keep theirs."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        for key in ("categories", "purposes", "jurisdictions"):
            if key in changes:
                changes[key] = tuple(changes[key])
        if "compensation" in changes:
            changes["compensation"] = _compensation(changes["compensation"])
        return await consent.update_offer(request.user.sub, offer_id, changes)

    @post("/{offer_id:str}/publish", operation_id="publishOffer", status_code=200)
    async def publish(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        """Publish a draft (or paused) offer: customers can accept it from now on."""
        return await consent.change_offer_status(request.user.sub, offer_id, "publish")

    @post("/{offer_id:str}/pause", operation_id="pauseOffer", status_code=200)
    async def pause(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        """Pause an offer: no new acceptances until it is published again."""
        return await consent.change_offer_status(request.user.sub, offer_id, "pause")

    @post("/{offer_id:str}/close", operation_id="closeOffer", status_code=200)
    async def close(self, request: Request, offer_id: str, consent: ConsentService) -> Offer:
        """Close to new acceptances; existing grants run until they expire."""
        return await consent.change_offer_status(request.user.sub, offer_id, "close")


class PartnerGrantsController(Controller):
    path = "/v1/partner/grants"
    guards = [requires("partner")]
    tags = ["partner"]

    @get("/", operation_id="listGrants")
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

    @get("/{grant_id:str}", operation_id="getGrant")
    async def get_grant(self, request: Request, grant_id: str, consent: ConsentService) -> Grant:
        """One grant on my offers."""
        return await consent.get_partner_grant(request.user.sub, grant_id)

    @get("/{grant_id:str}/receipts", operation_id="listGrantReceipts")
    async def receipts(
        self, request: Request, grant_id: str, consent: ConsentService
    ) -> GrantReceipts:
        """The grant's signed receipts, oldest first: the acceptance's, then one per pause,
        resume, revoke or expiry (`event_type`, `event_state`), each linked to the one before
        by its hash; verify each with /.well-known/jwks.json."""
        return await consent.partner_receipts(request.user.sub, grant_id)


class PartnerDataController(Controller):
    path = "/v1/partner"
    guards = [requires("partner")]
    tags = ["partner"]

    @get("/customers/{customer_id:str}/records", operation_id="readRecords")
    async def read_records(
        self,
        request: Request,
        customer_id: str,
        access: DataAccessService,
        category: Category,
        purpose: Purpose,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> RecordsPage:
        """Records of one category inside the grant's lookback window, newest first.

        Denied (no grant, ended or paused consent, a jurisdiction rule, …): 403 `access_denied`
        whose `decision` carries the reasons. Every decision is recorded before the response.
        """
        return await access.read_records(
            request.user.sub,
            customer_id,
            category,
            purpose,
            starting_after=starting_after,
            limit=limit,
        )

    @post("/decisions", operation_id="previewDecision", status_code=200)
    async def decide(
        self, request: Request, data: DecisionQuery, access: DataAccessService
    ) -> AccessDecision:
        """Dry run: the decision a read would get now, with its reasons (recorded), no data."""
        return await access.dry_run(request.user.sub, data.customer_id, data.category, data.purpose)


class PartnerInsightsController(Controller):
    path = "/v1/partner/insights"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/", operation_id="createInsight", status_code=201)
    async def create_insight(
        self, request: Request, data: CreateInsight, insights: InsightService
    ) -> Release:
        """Make an aggregate release: noisy counts per H3 cell and time bucket, each cell
        suppressed when it might stand for fewer than k people.

        Counts only customers whose active grant to you covers the metric's categories for
        `aggregated_analytics` and whom no rule forbids (in Germany, location is never traded,
        so German customers are in no area statistic). Spends `epsilon` from your budget and
        from each counted customer's; 409 `privacy_budget_exhausted` when yours is spent. The
        release is immutable and recorded in the audit log with a hash of its values.
        """
        box = data.area.bbox
        asked = InsightRequest(
            metric=data.metric,
            area=Area(
                cells=tuple(data.area.cells) if data.area.cells else None,
                bbox=BoundingBox(south=box.south, west=box.west, north=box.north, east=box.east)
                if box is not None
                else None,
                resolution=data.area.resolution,
            ),
            start=data.start,
            end=data.end,
            bucket=data.bucket,
            breakdown=data.breakdown,
            epsilon=data.epsilon,
        )
        return await insights.release(request.user.sub, asked)

    @get("/", operation_id="listInsights")
    async def list_insights(
        self,
        request: Request,
        insights: InsightService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> ReleasesPage:
        """My releases, newest first (parameters and values: GET one)."""
        return await insights.list(request.user.sub, starting_after, limit)

    @get("/{release_id:str}", operation_id="getInsight")
    async def get_insight(
        self, request: Request, release_id: str, insights: InsightService
    ) -> Release:
        """One release, exactly as it was published."""
        return await insights.get(request.user.sub, release_id)


class PartnerMoneyController(Controller):
    path = "/v1/partner"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/funding", operation_id="createFunding", status_code=201)
    async def fund(self, request: Request, data: CreateFunding, money: LedgerService) -> Funding:
        """Start a funding payment (a Stripe PaymentIntent); the escrow is credited when Stripe
        reports the payment succeeded."""
        key = request.headers.get("idempotency-key") or uuid.uuid4().hex
        return await money.create_funding(
            request.user.sub,
            data.amount,
            data.currency,
            idempotency_key=f"funding-{request.user.sub}-{key}",
            payment_method=data.payment_method,
        )

    @get("/balance", operation_id="getBalance")
    async def balance(self, request: Request, money: LedgerService) -> dict:
        """Escrow available per currency."""
        balances: list[Balance] = await money.partner_balance(request.user.sub)
        return {"escrow": balances}

    @get("/statement", operation_id="getStatement")
    async def statement(
        self,
        request: Request,
        money: LedgerService,
        currency: Currency | None = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[StatementLine]:
        """Escrow movements, newest first; the cursor is a transaction id."""
        lines, more = await money.partner_statement(
            request.user.sub, currency=currency, starting_after=starting_after, limit=limit
        )
        return Page(data=lines, has_more=more)


class PartnerWebhooksController(Controller):
    path = "/v1/partner/webhook-endpoints"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/", operation_id="createWebhookEndpoint")
    async def create_endpoint(
        self, request: Request, data: CreateWebhookEndpoint, webhooks: WebhookService
    ) -> WebhookEndpoint:
        """Register a public http(s) endpoint for events (see docs/webhooks.md for what is
        refused); the signing `secret` is shown only here."""
        return await webhooks.create_endpoint(request.user.sub, data.url, tuple(data.events))

    @get("/", operation_id="listWebhookEndpoints")
    async def list_endpoints(
        self,
        request: Request,
        webhooks: WebhookService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[WebhookEndpoint]:
        """My webhook endpoints (the signing secret is never shown again)."""
        return await webhooks.list_endpoints(
            request.user.sub, starting_after=starting_after, limit=limit
        )

    @post(
        "/{endpoint_id:str}/secret-rotations", operation_id="rotateWebhookSecret", status_code=201
    )
    async def rotate_secret(
        self,
        request: Request,
        endpoint_id: str,
        webhooks: WebhookService,
        overlap_seconds: Annotated[
            int, Parameter(ge=0, le=7 * 86_400, description="how long the old secret still signs")
        ] = SECRET_OVERLAP_SECONDS,
    ) -> WebhookEndpoint:
        """A new signing `secret` (shown only here). Until `previous_secret_expires_at`
        (`overlap_seconds` from now, default a day) each delivery carries two `v1=`
        signatures, one with the new secret and one with the old: switch the receiver over
        in that window."""
        return await webhooks.rotate_secret(request.user.sub, endpoint_id, overlap_seconds)

    @delete("/{endpoint_id:str}", operation_id="deleteWebhookEndpoint")
    async def delete_endpoint(
        self, request: Request, endpoint_id: str, webhooks: WebhookService
    ) -> None:
        """Stop deliveries to this endpoint (its log stays readable until then)."""
        await webhooks.delete_endpoint(request.user.sub, endpoint_id)

    @get("/{endpoint_id:str}/deliveries", operation_id="listWebhookDeliveries")
    async def deliveries(
        self,
        request: Request,
        endpoint_id: str,
        webhooks: WebhookService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[WebhookDelivery]:
        """Each event sent to this endpoint: status, attempts with status codes and times."""
        return await webhooks.list_deliveries(
            request.user.sub, endpoint_id, starting_after=starting_after, limit=limit
        )


class PartnerDeletionController(Controller):
    path = "/v1/partner/deletion-obligations"
    guards = [requires("partner")]
    tags = ["partner"]

    @get("/", operation_id="listDeletionObligations")
    async def list_obligations(
        self,
        request: Request,
        obligations: ObligationService,
        state_filter: Annotated[
            ObligationStateFilter | None, Parameter(query="state", description="by state")
        ] = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[DeletionObligation]:
        """What I must delete because consent ended or narrowed, newest first; filter by state
        (`open` is what is owed)."""
        return await obligations.list_for_partner(
            request.user.sub, state=state_filter, starting_after=starting_after, limit=limit
        )

    @get("/{obligation_id:str}", operation_id="getDeletionObligation")
    async def get_obligation(
        self, request: Request, obligation_id: str, obligations: ObligationService
    ) -> DeletionObligation:
        """One deletion obligation: what I received under the grant, by when I must delete it,
        and, once confirmed, how and the signed confirmation."""
        return await obligations.get_for_partner(request.user.sub, obligation_id)

    @post("/{obligation_id:str}/confirm", operation_id="confirmDeletion", status_code=200)
    async def confirm(
        self,
        request: Request,
        obligation_id: str,
        data: ConfirmDeletion,
        obligations: ObligationService,
    ) -> DeletionObligation:
        """Confirm the deletion (or de-identification) of what this obligation names, derived
        data included; the answer carries the signed confirmation receipt (`receipt`, a JWS
        verifiable with /.well-known/jwks.json)."""
        return await obligations.confirm(
            request.user.sub,
            obligation_id,
            method=data.method,
            statement=data.statement,
            completed_at=data.completed_at,
        )


ROUTES = [
    PartnerOffersController,
    PartnerGrantsController,
    PartnerDataController,
    PartnerInsightsController,
    PartnerMoneyController,
    PartnerWebhooksController,
    PartnerDeletionController,
]
