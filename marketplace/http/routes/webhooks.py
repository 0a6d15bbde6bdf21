"""Partner webhook endpoints: register, list, delete, and read the delivery log."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post

from offers import Page, WebhookDelivery, WebhookEndpoint, WebhookService

from ..auth import requires
from ..schemas import CreateWebhookEndpoint
from .params import Limit, StartingAfter


class PartnerWebhooksController(Controller):
    path = "/v1/partner/webhook-endpoints"
    guards = [requires("partner")]
    tags = ["partner"]

    @post("/")
    async def create_endpoint(
        self, request: Request, data: CreateWebhookEndpoint, webhooks: WebhookService
    ) -> WebhookEndpoint:
        """Register an http(s) endpoint for events; the signing `secret` is shown only here."""
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
