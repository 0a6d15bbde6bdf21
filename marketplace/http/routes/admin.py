"""Operator endpoints: onboarding partners and customers."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.openapi import ResponseSpec

from offers import ConsentService, Customer, Partner

from ..auth import requires
from ..schemas import CreateCustomer, CreatePartner


class AdminController(Controller):
    path = "/v1/admin"
    guards = [requires("operator")]
    tags = ["operator"]

    @post("/partners")
    async def create_partner(self, data: CreatePartner, consent: ConsentService) -> Partner:
        """Onboard a partner (advertiser)."""
        return await consent.create_partner(data.name, data.jurisdiction)

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
