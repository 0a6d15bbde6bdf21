"""Operator endpoints (`/v1/admin`): onboarding partners and customers, ingesting records,
payout accounts and escrow adjustments, importing a customer's package from another operator."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from ledger import LedgerService, PaymentAccounts
from offers import (
    ConsentService,
    ControllerProfile,
    Customer,
    Page,
    Partner,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookService,
)
from offers.dataspace import DataAccessService, DataSpaceService, ImportResult, IngestResult
from offers.obligations import ObligationService, PartnerSuspension

from ..auth import requires
from ..schemas import (
    CreateCustomer,
    CreateOperatorWebhookEndpoint,
    CreatePartner,
    EscrowAdjustment,
    IngestRecords,
    LiftSuspension,
    SetPayoutAccount,
)
from .params import Limit, StartingAfter

# A package may be large: the import endpoint streams its body instead of buffering it.
MAX_IMPORT_BODY_BYTES = 1_073_741_824


class AdminController(Controller):
    path = "/v1/admin"
    guards = [requires("operator")]
    tags = ["operator"]

    @post("/partners", operation_id="createPartner")
    async def create_partner(self, data: CreatePartner, consent: ConsentService) -> Partner:
        """Onboard a partner (advertiser), with the controller details its consent receipts
        carry: contact, address, email, phone, privacy policy URL and retention."""
        profile = ControllerProfile(
            contact=data.contact,
            address=data.address,
            email=data.email,
            phone=data.phone,
            policy_url=data.policy_url,
            retention_days=data.retention_days,
        )
        return await consent.create_partner(data.name, data.jurisdiction, profile)

    @post(
        "/customers",
        operation_id="createCustomer",
        status_code=201,
        responses={200: ResponseSpec(Customer, description="The customer already existed")},
    )
    async def create_customer(
        self, data: CreateCustomer, consent: ConsentService
    ) -> Response[Customer]:
        """Onboard a customer; an existing `external_ref` returns that customer with 200."""
        customer, created = await consent.create_customer(
            data.external_ref, data.jurisdiction, data.birth_date
        )
        return Response(customer, status_code=201 if created else 200)


def records_controller(max_body_bytes: int) -> type[Controller]:
    """The ingestion route, which may take a larger body than the rest of the API."""

    class AdminRecordsController(Controller):
        path = "/v1/admin/customers"
        guards = [requires("operator")]
        tags = ["operator"]

        @post(
            "/{customer_id:str}/records",
            operation_id="ingestRecords",
            status_code=201,
            request_max_body_size=max_body_bytes,
        )
        async def ingest_records(
            self, customer_id: str, data: IngestRecords, access: DataAccessService
        ) -> IngestResult:
            """Ingest a batch of records for one customer (all or nothing, ≤ 10,000)."""
            return await access.ingest(
                customer_id, [msgspec.structs.asdict(r) for r in data.records]
            )

    return AdminRecordsController


class AdminMoneyController(Controller):
    path = "/v1/admin"
    guards = [requires("operator")]
    tags = ["operator"]

    @post(
        "/customers/{customer_id:str}/payout-account",
        operation_id="setPayoutAccount",
        status_code=200,
    )
    async def payout_account(
        self, customer_id: str, data: SetPayoutAccount, money: LedgerService
    ) -> PaymentAccounts:
        """The Stripe connected account that receives the customer's cash payouts."""
        return await money.set_payout_account(customer_id, data.stripe_account)

    @post(
        "/partners/{partner_id:str}/escrow-adjustments",
        operation_id="adjustEscrow",
        status_code=201,
    )
    async def adjust_escrow(
        self, request: Request, partner_id: str, data: EscrowAdjustment, money: LedgerService
    ) -> dict:
        """Credit (or correct) a partner's escrow outside Stripe; `reference` makes it once."""
        txn = await money.adjust_escrow(
            partner_id,
            data.amount,
            data.currency,
            idempotency_key=f"adjustment:{partner_id}:{data.reference}",
            operator=request.user.sub,
        )
        return {"txn_id": txn.id, "amount": data.amount, "currency": data.currency}


class AdminImportsController(Controller):
    path = "/v1/admin/imports"
    guards = [requires("operator")]
    tags = ["operator"]

    @post(
        "/",
        operation_id="importPackage",
        status_code=201,
        request_max_body_size=MAX_IMPORT_BODY_BYTES,
    )
    async def import_package(
        self,
        request: Request,
        dataspace: DataSpaceService,
        external_ref: Annotated[str, Parameter(min_length=1, max_length=200)],
        jurisdiction: Annotated[str | None, Parameter(pattern="^[A-Z]{2}$")] = None,
    ) -> ImportResult:
        """Import a customer's package from another operator (body: the package as exported).

        The signature is checked against the issuer's keys in `trusted_exporters`, every part
        against its signed hash; a tampered package is refused (422) and nothing is written.
        """
        return await dataspace.import_package(
            request.stream(), external_ref=external_ref, jurisdiction=jurisdiction
        )


class AdminDeletionController(Controller):
    path = "/v1/admin/partners"
    guards = [requires("operator")]
    tags = ["operator"]

    @get("/{partner_id:str}/suspension", operation_id="getPartnerSuspension")
    async def standing(self, partner_id: str, obligations: ObligationService) -> PartnerSuspension:
        """Whether the partner is suspended for overdue deletions, and its open and overdue
        obligations."""
        return await obligations.partner_standing(partner_id)

    @post(
        "/{partner_id:str}/suspension/lift", operation_id="liftPartnerSuspension", status_code=200
    )
    async def lift(
        self,
        request: Request,
        partner_id: str,
        data: LiftSuspension,
        obligations: ObligationService,
    ) -> PartnerSuspension:
        """Reinstate the partner; the sweep does not suspend it again before `until`."""
        return await obligations.lift_suspension(partner_id, request.user.sub, data.until)


class AdminWebhooksController(Controller):
    """The operator's own webhook endpoints: `notification.created` carries what a customer
    is told, in their language, for the operator's channels (SMS, app push)."""

    path = "/v1/admin/webhook-endpoints"
    guards = [requires("operator")]
    tags = ["operator"]

    @post("/", operation_id="createOperatorWebhookEndpoint")
    async def create_endpoint(
        self, data: CreateOperatorWebhookEndpoint, webhooks: WebhookService
    ) -> WebhookEndpoint:
        """Register an endpoint; the signing `secret` is shown only here."""
        return await webhooks.create_endpoint(None, data.url, tuple(data.events))

    @get("/", operation_id="listOperatorWebhookEndpoints")
    async def list_endpoints(
        self, webhooks: WebhookService, limit: Limit = 20, starting_after: StartingAfter = None
    ) -> Page[WebhookEndpoint]:
        """The operator's webhook endpoints, newest first."""
        return await webhooks.list_endpoints(None, starting_after=starting_after, limit=limit)

    @delete("/{endpoint_id:str}", operation_id="deleteOperatorWebhookEndpoint")
    async def delete_endpoint(self, endpoint_id: str, webhooks: WebhookService) -> None:
        """Stop sending to this endpoint."""
        await webhooks.delete_endpoint(None, endpoint_id)

    @get("/{endpoint_id:str}/deliveries", operation_id="listOperatorWebhookDeliveries")
    async def deliveries(
        self,
        endpoint_id: str,
        webhooks: WebhookService,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> Page[WebhookDelivery]:
        """Each delivery to this endpoint: its event, attempts and outcome."""
        return await webhooks.list_deliveries(
            None, endpoint_id, starting_after=starting_after, limit=limit
        )


def routes(max_ingest_body_bytes: int) -> list[type[Controller]]:
    """The operator's controllers; ingestion takes a larger body than the rest of the API."""
    return [
        AdminController,
        records_controller(max_ingest_body_bytes),
        AdminMoneyController,
        AdminImportsController,
        AdminDeletionController,
        AdminWebhooksController,
    ]
