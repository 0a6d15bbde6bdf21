"""Partner endpoints (`/v1/partner`): offers and the grants made on them, data access (every
read through the policy engine), money (funding, balance, statement) and webhook endpoints."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post

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

from ..auth import requires
from ..schemas import (
    Category,
    CreateFunding,
    CreateOffer,
    CreateWebhookEndpoint,
    Currency,
    DecisionQuery,
    Purpose,
    UpdateOffer,
)
from .params import GrantStatusFilter, Limit, StartingAfter

OfferStatusFilter = Literal["draft", "active", "paused", "closed"]


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
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
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

    @get("/{grant_id:str}/receipts")
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

    @get("/customers/{customer_id:str}/records")
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

    @post("/decisions", status_code=200)
    async def decide(
        self, request: Request, data: DecisionQuery, access: DataAccessService
    ) -> AccessDecision:
        """Dry run: the decision a read would get now, with its reasons (recorded), no data."""
        return await access.dry_run(request.user.sub, data.customer_id, data.category, data.purpose)


class PartnerMoneyController(Controller):
    path = "/v1/partner"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/funding", status_code=201)
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

    @get("/balance")
    async def balance(self, request: Request, money: LedgerService) -> dict:
        """Escrow available per currency."""
        balances: list[Balance] = await money.partner_balance(request.user.sub)
        return {"escrow": balances}

    @get("/statement")
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

    @post("/")
    async def create_endpoint(
        self, request: Request, data: CreateWebhookEndpoint, webhooks: WebhookService
    ) -> WebhookEndpoint:
        """Register a public http(s) endpoint for events (see docs/webhooks.md for what is
        refused); the signing `secret` is shown only here."""
        return await webhooks.create_endpoint(request.user.sub, data.url, tuple(data.events))

    @get("/")
    async def list_endpoints(
        self,
        request: Request,
        webhooks: WebhookService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[WebhookEndpoint]:
        return await webhooks.list_endpoints(
            request.user.sub, starting_after=starting_after, limit=limit
        )

    @post("/{endpoint_id:str}/secret-rotations", status_code=201)
    async def rotate_secret(
        self,
        request: Request,
        endpoint_id: str,
        webhooks: WebhookService,
        overlap_seconds: int = SECRET_OVERLAP_SECONDS,
    ) -> WebhookEndpoint:
        """A new signing `secret` (shown only here). Until `previous_secret_expires_at`
        (`overlap_seconds` from now, default a day) each delivery carries two `v1=`
        signatures, one with the new secret and one with the old: switch the receiver over
        in that window."""
        return await webhooks.rotate_secret(request.user.sub, endpoint_id, overlap_seconds)

    @delete("/{endpoint_id:str}")
    async def delete_endpoint(
        self, request: Request, endpoint_id: str, webhooks: WebhookService
    ) -> None:
        """Stop deliveries to this endpoint (its log stays readable until then)."""
        await webhooks.delete_endpoint(request.user.sub, endpoint_id)

    @get("/{endpoint_id:str}/deliveries")
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


ROUTES = [
    PartnerOffersController,
    PartnerGrantsController,
    PartnerDataController,
    PartnerMoneyController,
    PartnerWebhooksController,
]
