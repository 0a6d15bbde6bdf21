"""The session cookie's attributes: HttpOnly and SameSite=Lax always, Secure exactly when the
public URL is https."""

from __future__ import annotations

from marketplace.config import Settings
from marketplace.web import web_router


def cookie_config(public_url: str):
    (middleware,) = web_router(Settings(public_url=public_url)).middleware
    return middleware.kwargs["backend"].config  # type: ignore[union-attr]


def test_secure_exactly_when_the_public_url_is_https():
    for url, secure in (("https://pds.example", True), ("http://127.0.0.1:8000", False)):
        config = cookie_config(url)
        assert (config.secure, config.httponly, config.samesite) == (secure, True, "lax")
        assert config.max_age == Settings().web_session_seconds
