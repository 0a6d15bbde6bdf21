"""Bearer tokens: only asymmetric, unexpired tokens from a trusted issuer for us get in."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import bearer, partner_body


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(settings, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": settings.local_issuer,
        "aud": settings.jwt_audience,
        "sub": "op_1",
        "role": "operator",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


def _signed(app, claims: dict) -> str:
    keys = app.state.keyring
    return jwt.encode(claims, keys.private_key, algorithm="EdDSA", headers={"kid": keys.kid})


async def _status(client, token: str | None) -> tuple[int, dict]:
    headers = bearer(token) if token is not None else {}
    r = await client.post("/v1/admin/partners", json=partner_body(name="X"), headers=headers)
    return r.status_code, r.json()


async def test_a_valid_token_is_accepted(client, app, settings):
    status, _ = await _status(client, _signed(app, _claims(settings)))
    assert status == 201


@pytest.mark.parametrize(
    "forge",
    [
        "missing",
        "alg_none",
        "hs256_with_public_key",
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "tampered_payload",
        "unknown_key",
        "unknown_role",
        "garbage",
    ],
)
async def test_forged_or_invalid_tokens_are_401(client, app, settings, forge):
    keys = app.state.keyring
    good = _signed(app, _claims(settings))
    if forge == "missing":
        token = None
    elif forge == "alg_none":
        header = {"alg": "none", "typ": "JWT", "kid": keys.kid}
        token = f"{_b64(header)}.{_b64(_claims(settings))}."
    elif forge == "hs256_with_public_key":
        # The classic key-confusion attack: HMAC keyed with the published public key.
        public = keys.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": keys.kid}
        import hashlib
        import hmac

        signing_input = f"{_b64(header)}.{_b64(_claims(settings))}"
        sig = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        token = signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    elif forge == "expired":
        token = _signed(app, _claims(settings, exp=int(time.time()) - 3600))
    elif forge == "not_yet_valid":
        token = _signed(app, _claims(settings, nbf=int(time.time()) + 3600))
    elif forge == "wrong_audience":
        token = _signed(app, _claims(settings, aud="someone-else"))
    elif forge == "wrong_issuer":
        token = _signed(app, _claims(settings, iss="https://evil.example"))
    elif forge == "tampered_payload":
        head, _, sig = good.split(".")
        token = f"{head}.{_b64(_claims(settings, role='operator', sub='root'))}.{sig}"
    elif forge == "unknown_key":
        stranger = Ed25519PrivateKey.generate()
        token = jwt.encode(_claims(settings), stranger, algorithm="EdDSA", headers={"kid": "x"})
    elif forge == "unknown_role":
        token = _signed(app, _claims(settings, role="admin"))
    else:
        token = "not.a.jwt"
    status, body = await _status(client, token)
    assert status == 401, body
    assert body["code"] == "unauthenticated"


async def test_a_token_signed_by_an_untrusted_key_with_our_kid_is_refused(client, app, settings):
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(
        _claims(settings), stranger, algorithm="EdDSA", headers={"kid": app.state.keyring.kid}
    )
    status, _ = await _status(client, token)
    assert status == 401


async def test_regulator_token_needs_jurisdictions(client, app, settings):
    token = _signed(app, _claims(settings, role="regulator"))
    status, _ = await _status(client, token)
    assert status == 401


@pytest.mark.parametrize("role", ["partner", "customer", "regulator"])
async def test_wrong_role_is_403(client, token, role):
    status, body = await _status(client, token(role, "someone", jurisdictions=["DE"]))
    assert status == 403 and body["code"] == "forbidden"


async def test_jwks_publishes_the_signing_key(client, app):
    jwks = (await client.get("/.well-known/jwks.json")).json()
    (key,) = jwks["keys"]
    assert key["kid"] == app.state.keyring.kid and key["kty"] == "OKP" and "d" not in key


def _raw(app, header: dict, claims: dict) -> str:
    """A token signed by our key, built by hand: PyJWT refuses to encode odd members."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = app.state.keyring.private_key.sign(signing_input.encode())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _with_header(app, claims: dict, **header) -> str:
    return _raw(app, {"alg": "EdDSA", "typ": "JWT", "kid": app.state.keyring.kid, **header}, claims)


@pytest.mark.parametrize(
    "header",
    [
        {"kid": ["a", "b"]},
        {"kid": 7},
        {"kid": {"k": 1}},
        {"kid": None},
        {"crit": ["exp"]},
        {"crit": "b64"},
        {"b64": False, "crit": ["b64"]},
    ],
    ids=repr,
)
async def test_tokens_with_odd_headers_are_401_problems(client, app, settings, header):
    status, body = await _status(client, _with_header(app, _claims(settings), **header))
    assert status == 401, body
    assert body["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "tomorrow"},
        {"iat": "yesterday"},
        {"exp": 10**30},
        {"nbf": "later"},
        {"aud": {"x": 1}},
        {"iss": ["a"]},
        {"sub": 5},
    ],
    ids=repr,
)
async def test_claims_of_the_wrong_type_are_401(client, app, settings, claims):
    status, body = await _status(client, _with_header(app, _claims(settings, **claims)))
    assert status == 401, body


async def test_a_token_may_not_live_longer_than_the_maximum(client, app, settings):
    now = int(time.time())
    longest = app.state.verifier.max_lifetime_seconds
    status, body = await _status(
        client, _signed(app, _claims(settings, iat=now, exp=now + longest + 3600))
    )
    assert status == 401 and "lifetime" in body["detail"]
    # Without iat, the lifetime counts from now.
    no_iat = _claims(settings, exp=now + longest + 3600)
    del no_iat["iat"]
    assert (await _status(client, _signed(app, no_iat)))[0] == 401
    assert (await _status(client, _signed(app, _claims(settings, iat=now, exp=now + longest))))[
        0
    ] == 201


async def test_a_token_not_yet_valid_by_nbf_is_refused(client, app, settings):
    later = int(time.time()) + 3600
    status, body = await _status(client, _signed(app, _claims(settings, nbf=later)))
    assert status == 401 and body["detail"] == "token not yet valid"


async def test_two_authorization_headers_are_401_whichever_comes_first(client, token):
    """Servers and proxies disagree on which of two credentials wins: neither does here."""
    operator, partner = token("operator", "op_two"), token("partner", "ptn_two")
    for first, second in ((operator, partner), (partner, operator), (operator, operator)):
        r = await client.post(
            "/v1/admin/partners",
            json={"name": "X", "jurisdiction": "DE"},
            headers=[("authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}")],
        )
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
