"""What every page shares: who is signed in (from the server-side session), the CSRF token
every form carries, the language, and rendering a template."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect, Template

from ..http import Principal
from .i18n import LANGUAGE_NAMES, LANGUAGES, current_language, gettext, negotiate

CSRF_FIELD = "_csrf"


class SignInNeeded(NotAuthorizedException):
    """No session, or one of another role: the person is sent to the sign-in page."""


def session_of(request: Request) -> dict:
    """The session's data; {} when there is none or it was just cleared (signed out)."""
    data = request.scope.get("session")
    return data if isinstance(data, dict) else {}


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a session exists before sign-in too)."""
    token = session_of(request).get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.set_session({**session_of(request), "csrf": token})
    return token


async def check_csrf(request: Request) -> None:
    """Every form POST carries the session's token; anything else is refused (403)."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = session_of(request).get("csrf")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise PermissionDeniedException("the form is out of date; reload the page and try again")


def signed_in(request: Request, role: str) -> Principal:
    who = session_of(request).get("who")
    if not who or who.get("role") != role:
        raise SignInNeeded("sign in first")
    return Principal(role=who["role"], sub=who["sub"], jurisdictions=tuple(who.get("j", ())))


def choose_language(request: Request) -> str:
    """Sets the request's language: `?lang=` (remembered in the session), the session's, else
    the browser's Accept-Language."""
    asked = request.query_params.get("lang")
    session = session_of(request)
    if asked in LANGUAGES and session.get("lang") != asked:
        request.set_session({**session, "lang": asked})
    language = negotiate(asked or session.get("lang"), request.headers.get("accept-language", ""))
    current_language.set(language)
    return language


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    language = choose_language(request)
    who = session_of(request).get("who")
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "lang": language,
            "languages": LANGUAGE_NAMES,
            "csrf": csrf_token(request),
            "who": who,
            "path": request.url.path,
            **context,
        },
        headers={"Cache-Control": "no-store"},
    )


def pager(request: Request, page, *, cursor=lambda item: item.id, **filters: str) -> dict:
    """What `_pager.html` links to: the next page (the last item's `cursor` and the
    filters), if there is one, and the first page's query when this is a later one."""
    kept = {k: v for k, v in filters.items() if v}
    return {
        "older": urlencode({**kept, "after": cursor(page.data[-1])}) if page.has_more else None,
        "paged": bool(request.query_params.get("after")),
        "newest": urlencode(kept),
    }


def redirect(path: str) -> Response:
    return Redirect(path, status_code=303)


def t(message: str) -> str:
    return gettext(message)
