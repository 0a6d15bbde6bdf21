"""Signing in: OpenID Connect (authorization code + PKCE, authlib as the client) against the
operator's identity provider, or, in demo mode only, "sign in as" a demo customer or the
demo regulator. Signing out deletes the server-side session."""

from __future__ import annotations

import secrets
import warnings

import httpx
import jwt

# authlib warns, at import, that its httpx module will move (authlib's own deprecation, about
# its future layout): the warning would be a plain-text line in every process's JSON log.
# authlib sets an "always" filter for its warnings when imported: ours must come after it.
with warnings.catch_warnings():
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException

from offers import ConsentService

from ..config import Settings
from ..demo import DEMO_CUSTOMERS
from .common import redirect, render, session_of
from .sessions import rotate

DEMO_REGULATOR = {"role": "regulator", "sub": "reg_de_bfdi", "j": ["DE"]}
ROLES = ("customer", "regulator")


def _home(who: dict) -> str:
    return "/app/regulator" if who["role"] == "regulator" else "/app"


async def _start_session(request: Request, who: dict) -> Response:
    # A new session id at sign-in (no fixation): the old one is deleted, a fresh CSRF token made.
    lang = session_of(request).get("lang")
    await rotate(request)
    request.set_session({"who": who, "csrf": secrets.token_urlsafe(32), "lang": lang})
    return redirect(_home(who))


@get("/app/signin", name="signin")
async def signin_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    demo = settings.accept_local_tokens
    return render(
        request,
        "signin.html",
        oidc=bool(settings.oidc_issuer),
        demo_customers=[ref for ref, _, _ in DEMO_CUSTOMERS] if demo else [],
        demo_regulator=demo,
    )


@post("/app/signin/demo")
async def signin_demo(request: Request, consent: ConsentService) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.accept_local_tokens:
        raise NotAuthorizedException("demo sign-in is off")
    form = await request.form()
    as_who = form.get("as")
    if as_who == "regulator":
        return await _start_session(request, dict(DEMO_REGULATOR))
    known = {ref: (j, born) for ref, j, born in DEMO_CUSTOMERS}
    if as_who not in known:
        raise NotAuthorizedException("not a demo customer")
    jurisdiction, born = known[as_who]
    # Idempotent: finds the demo customer `make run` made (or makes it, in an empty database).
    customer, _ = await consent.create_customer(as_who, jurisdiction, born)
    return await _start_session(request, {"role": "customer", "sub": customer.id, "j": []})


async def _discovery(settings: Settings) -> dict:
    assert settings.oidc_issuer
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url)
        r.raise_for_status()
        return r.json()


def _client(settings: Settings, redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope="openid",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def _callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/app/signin/callback"


@get("/app/signin/oidc")
async def signin_oidc(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.oidc_issuer:
        raise NotAuthorizedException("no identity provider is configured")
    meta = await _discovery(settings)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    async with _client(settings, _callback_url(settings)) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    request.set_session(
        {**session_of(request), "oidc": {"state": state, "nonce": nonce, "verifier": verifier}}
    )
    return redirect(url)


@get("/app/signin/callback")
async def signin_callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    pending = session_of(request).get("oidc")
    code, state = request.query_params.get("code"), request.query_params.get("state")
    if not settings.oidc_issuer or not pending or not code or state != pending["state"]:
        raise NotAuthorizedException("the sign-in did not match; start again")
    meta = await _discovery(settings)
    async with _client(settings, _callback_url(settings)) as client:
        token = await client.fetch_token(
            meta["token_endpoint"], code=code, code_verifier=pending["verifier"]
        )
    async with httpx.AsyncClient(timeout=10) as plain:
        jwks = (await plain.get(meta["jwks_uri"])).json()
    try:
        id_token = token["id_token"]
        kid = jwt.get_unverified_header(id_token).get("kid")
        keys = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if kid is None or k.key_id == kid]
        claims = jwt.decode(
            id_token,
            keys[0].key,
            algorithms=["RS256", "ES256", "EdDSA"],
            audience=settings.oidc_client_id,
            issuer=meta["issuer"],
            leeway=30,
            options={"require": ["exp", "iat", "sub", "nonce"]},
        )
        if claims["nonce"] != pending["nonce"]:
            raise ValueError("the nonce does not match")
    except (jwt.PyJWTError, KeyError, IndexError, ValueError) as e:
        raise NotAuthorizedException(f"the identity provider's answer did not verify: {e}") from e
    role = claims.get("role", "customer")
    if role not in ROLES:
        raise NotAuthorizedException("this account has no customer or regulator role")
    jurisdictions = claims.get("jurisdictions") or []
    if role == "regulator" and not jurisdictions:
        raise NotAuthorizedException("a regulator account needs jurisdictions")
    return await _start_session(
        request, {"role": role, "sub": claims["sub"], "j": list(jurisdictions)}
    )


@post("/app/signout")
async def signout(request: Request) -> Response:
    request.clear_session()  # deletes the server-side session: the cookie is worthless now
    return redirect("/app/signin")


ROUTES = [signin_page, signin_demo, signin_oidc, signin_callback, signout]
