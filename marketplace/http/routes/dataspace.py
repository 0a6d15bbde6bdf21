"""The Personal Data Space over HTTP: `/v1/me/data…`, `/v1/me/exports…`, `/v1/admin/imports`."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.response import Stream

from offers import Page
from offers.dataspace import (
    MEDIA_TYPE,
    DataOverview,
    DataSpaceService,
    Erasure,
    Export,
    ImportedConsent,
    ImportResult,
    Record,
)

from ..auth import requires
from .params import Limit, StartingAfter

# A package may be large: the import endpoint streams its body instead of buffering it.
MAX_IMPORT_BODY_BYTES = 1_073_741_824
CategoryPath = Annotated[str, Parameter(max_length=64, description="a category code")]


async def open_account(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A closed account's tokens reach nothing: 404 customer_not_found."""
    user = connection.scope.get("user")
    if user is not None:  # None only for OPTIONS, which `requires` lets through
        await connection.app.state.dataspace.ensure_open(user.sub)


class MeDataController(Controller):
    path = "/v1/me"
    guards = [requires("customer"), open_account]
    tags = ["customer"]

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
