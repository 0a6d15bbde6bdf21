"""Query parameters shared by list endpoints, and the answer to a creating request."""

from typing import Annotated, Any, Literal

from litestar import Response
from litestar.params import Parameter

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
StartingAfter = Annotated[
    str | None,
    Parameter(
        max_length=64, pattern="^[A-Za-z0-9_]*$", description="the last id of the previous page"
    ),
]
GrantStatusFilter = Literal["active", "paused", "revoked", "expired"]


def created(obj: Any, location: str) -> Response:
    """201 with `Location`: where the new object is read again."""
    return Response(obj, status_code=201, headers={"Location": location})
