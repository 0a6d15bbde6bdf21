"""Server-side sessions whose id changes at sign-in, so an id planted before it (session
fixation) never becomes a signed-in session."""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)

SESSION_STORE = "web_sessions"
SESSION_COOKIE = "mkt_session"
_ROTATE = "mkt.session_rotate"  # in the request's scope: "pending", then the new id


class RotatingSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection) -> str:
        scope: dict = connection.scope  # type: ignore[assignment]
        rotated = scope.get(_ROTATE)
        if rotated == "pending":
            rotated = scope[_ROTATE] = self.generate_session_id()
        return str(rotated) if rotated else super().get_session_id(connection)


class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


async def rotate(request: Request) -> None:
    """Drops the current session from the store and has the response set a fresh id."""
    old = request.cookies.get(SESSION_COOKIE)
    if old and old != "null":
        await request.app.stores.get(SESSION_STORE).delete(old)
    scope: dict = request.scope  # type: ignore[assignment]
    scope[_ROTATE] = "pending"
