"""The web edge: the customer's Personal Data Space and the regulator's view, rendered on the
server (Jinja2 templates, Babel catalogs for EN/ES/DE), on the same services as the JSON API.
Sessions are server-side (a file store under the data directory, shared by the workers of one
machine); the cookie holds only the session id."""

from __future__ import annotations

from pathlib import Path

import structlog
from jinja2 import Environment
from litestar import Request, Response, Router, get
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.stores.file import FileStore
from litestar.template.config import TemplateConfig

from ..config import Settings
from ..http import EXCEPTION_HANDLERS
from . import customer, regulator, signin
from .common import SignInNeeded, check_csrf, render, t
from .formatting import FILTERS
from .i18n import gettext, ngettext
from .sessions import SESSION_COOKIE, SESSION_STORE, WebSessionConfig

HERE = Path(__file__).parent
log = structlog.get_logger("marketplace.web")
# Paths the bearer-token middleware leaves alone: the pages authenticate by session.
UNAUTHENTICATED_PATHS = ["^/app", "^/static/", "^/$"]


def template_config() -> TemplateConfig:
    def setup(engine: JinjaTemplateEngine) -> None:
        env: Environment = engine.engine
        env.auto_reload = False  # the templates ship with the package: no stat per render
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(FILTERS)

    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=setup
    )


def web_stores(settings: Settings) -> dict:
    return {SESSION_STORE: FileStore(Path(settings.data_dir) / "web-sessions")}


def _html_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInNeeded | NotAuthorizedException) and request.method == "GET":
        return Redirect("/app/signin", status_code=303)
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail
    elif isinstance(exc, ValidationException):
        status, message = 400, str(exc)
    elif hasattr(exc, "code") and hasattr(exc, "status"):  # a domain error: its own words
        status, message = exc.status, getattr(exc, "detail", None) or str(exc)
    else:
        log.exception("page_fault", path=request.url.path, error=type(exc).__name__)
        status, message = 500, "something went wrong on our side"
    if isinstance(exc, NotFoundException):
        message = t("This page does not exist.")
    return render(request, "error.html", status_code=status, message=t(message))


@get("/", include_in_schema=False)
async def root() -> Response:
    return Redirect("/app", status_code=303)


def web_router(settings: Settings) -> Router:
    secure = settings.public_url.startswith("https://")
    sessions = WebSessionConfig(
        store=SESSION_STORE,
        key=SESSION_COOKIE,
        max_age=settings.web_session_seconds,
        httponly=True,
        secure=secure,
        samesite="lax",
        renew_on_access=False,
    )
    return Router(
        path="/",
        route_handlers=[*signin.ROUTES, *customer.ROUTES, *regulator.ROUTES],
        middleware=[sessions.middleware],
        before_request=check_csrf,
        # Every error the API answers as problem+json is a page here (the nearest layer wins).
        exception_handlers={
            **dict.fromkeys(EXCEPTION_HANDLERS, _html_error),
            Exception: _html_error,
            NotAuthorizedException: _html_error,
        },
        include_in_schema=False,
    )


def static_router() -> Router:
    return create_static_files_router(
        path="/static", directories=[HERE / "static"], include_in_schema=False
    )


__all__ = [
    "UNAUTHENTICATED_PATHS",
    "root",
    "static_router",
    "template_config",
    "web_router",
    "web_stores",
]
