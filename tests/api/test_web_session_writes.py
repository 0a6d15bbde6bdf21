"""A browser session is stored again only when it changed or half its lifetime has passed: a
page view that changes nothing writes no session file and sends no new cookie, an active
person still stays signed in, and signing out still ends the session."""

from __future__ import annotations

import re

import pytest

from marketplace.web import sessions


@pytest.fixture(autouse=True)
def signed_out_after(client):
    yield
    client.cookies.clear()  # the suite's client is shared: no test after this one is signed in


def stored(settings) -> dict[str, bytes]:
    folder = settings.data_dir / "web-sessions"
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


async def signed_in(client, settings) -> tuple[str, str]:
    """Signs a demo customer in: the session's cookie and the name of the file it is in."""
    earlier = stored(settings).keys()
    page = await client.get("/app/signin")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = await client.post(
        "/app/signin/demo", data={"_csrf": csrf, "as": "demo-anna-de"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    (file,) = stored(settings).keys() - earlier
    return client.cookies[sessions.SESSION_COOKIE], file


async def test_a_page_view_that_changes_nothing_stores_nothing(client, settings):
    session_id, _ = await signed_in(client, settings)
    before = stored(settings)
    for path in ("/app", "/app/data", "/app/access-log"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert "set-cookie" not in r.headers, path
    assert stored(settings) == before
    assert client.cookies[sessions.SESSION_COOKIE] == session_id


async def test_a_session_half_through_its_life_is_stored_again(client, settings, monkeypatch):
    session_id, file = await signed_in(client, settings)
    before = stored(settings)
    later = sessions._now() + settings.web_session_seconds / 2 + 1
    monkeypatch.setattr(sessions, "_now", lambda: later)
    r = await client.get("/app")
    assert r.status_code == 200
    assert f"{sessions.SESSION_COOKIE}={session_id}" in r.headers["set-cookie"]
    assert f"Max-Age={settings.web_session_seconds}" in r.headers["set-cookie"]
    after = stored(settings)
    assert after.keys() == before.keys() and after[file] != before[file]
    r = await client.get("/app")  # stored just now: fresh again, nothing written
    assert "set-cookie" not in r.headers
    assert stored(settings) == after


async def test_signing_out_still_ends_the_session(client, settings):
    session_id, file = await signed_in(client, settings)
    page = await client.get("/app")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = await client.post("/app/signout", data={"_csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert file not in stored(settings)
    client.cookies.set(sessions.SESSION_COOKIE, session_id)  # the old cookie, kept by someone
    r = await client.get("/app", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/app/signin")
