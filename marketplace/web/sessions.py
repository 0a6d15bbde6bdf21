"""Server-side sessions whose id changes at sign-in, so an id planted before it (session
fixation) never becomes a signed-in session. A session is stored again (and its cookie sent
again) only when its data changed or half its lifetime has passed since it was last stored:
it lasts at least half its lifetime after its last use, and a page view that changes nothing
writes no file."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Empty, Message, ScopeSession

SESSION_STORE = "web_sessions"
SESSION_COOKIE = "mkt_session"
_ROTATE = "mkt.session_rotate"  # in the request's scope: "pending", then the new id
_LOADED = "mkt.session_loaded"  # in the request's scope: the session as loaded, serialised
_STORED_AT = "_stored_at"  # in the session: when it was last stored (Unix seconds)
_now = time.time


class RotatingSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection) -> str:
        scope: dict = connection.scope  # type: ignore[assignment]
        rotated = scope.get(_ROTATE)
        if rotated == "pending":
            rotated = scope[_ROTATE] = self.generate_session_id()
        return str(rotated) if rotated else super().get_session_id(connection)

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        session = await super().load_from_connection(connection)
        if session:  # kept to tell, at the response, whether anything changed
            loaded = self.serialize_data(session, connection.scope)
            connection.scope[_LOADED] = loaded  # type: ignore[literal-required]
        return session

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        scope: dict = connection.scope  # type: ignore[assignment]
        if scope_session is not Empty:
            session: dict[str, Any] = scope_session  # type: ignore[assignment]
            loaded = scope.get(_LOADED)
            if (
                loaded is not None
                and scope.get(_ROTATE) is None
                and _now() - session.get(_STORED_AT, 0) < self.config.max_age / 2
                and self.serialize_data(session, connection.scope) == loaded
            ):
                return  # unchanged and fresh: the stored session and its cookie stand
            session[_STORED_AT] = int(_now())
        await super().store_in_message(scope_session, message, connection)


class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


async def rotate(request: Request) -> None:
    """Drops the current session from the store and has the response set a fresh id."""
    old = request.cookies.get(SESSION_COOKIE)
    if old and old != "null":
        await request.app.stores.get(SESSION_STORE).delete(old)
    scope: dict = request.scope  # type: ignore[assignment]
    scope[_ROTATE] = "pending"
