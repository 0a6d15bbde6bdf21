"""Operator endpoints (`/v1/admin`): onboarding partners and customers, ingesting records,
payout accounts and escrow adjustments, importing a customer's package from another operator."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from ledger import LedgerService, PaymentAccounts
from offers import ConsentService, ControllerProfile, Customer, Partner
from offers.dataspace import DataAccessService, DataSpaceService, ImportResult, IngestResult

from ..auth import requires
from ..schemas import (
    CreateCustomer,
    CreatePartner,
    EscrowAdjustment,
    IngestRecords,
    SetPayoutAccount,
)

# A package may be large: the import endpoint streams its body instead of buffering it.
MAX_IMPORT_BODY_BYTES = 1_073_741_824


class AdminController(Controller):
    path = "/v1/admin"
    guards = [requires("operator")]
    tags = ["operator"]

    @post("/partners")
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

        @post("/{customer_id:str}/records", status_code=201, request_max_body_size=max_body_bytes)
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

    @post("/customers/{customer_id:str}/payout-account", status_code=200)
    async def payout_account(
        self, customer_id: str, data: SetPayoutAccount, money: LedgerService
    ) -> PaymentAccounts:
        """The Stripe connected account that receives the customer's cash payouts."""
        return await money.set_payout_account(customer_id, data.stripe_account)

    @post("/partners/{partner_id:str}/escrow-adjustments", status_code=201)
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

    @post("/", status_code=201, request_max_body_size=MAX_IMPORT_BODY_BYTES)
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


def routes(max_ingest_body_bytes: int) -> list[type[Controller]]:
    """The operator's controllers; ingestion takes a larger body than the rest of the API."""
    return [
        AdminController,
        records_controller(max_ingest_body_bytes),
        AdminMoneyController,
        AdminImportsController,
    ]
