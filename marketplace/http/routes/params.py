"""Query parameters shared by list endpoints."""

from typing import Annotated, Literal

from litestar.params import Parameter

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
StartingAfter = Annotated[
    str | None,
    Parameter(
        max_length=64, pattern="^[A-Za-z0-9_]*$", description="the last id of the previous page"
    ),
]
GrantStatusFilter = Literal["active", "paused", "revoked", "expired"]
