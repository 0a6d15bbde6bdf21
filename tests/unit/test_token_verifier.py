"""Tokens from the operator's identity provider (ES256, from a trusted JWKS) are accepted."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from marketplace.http.auth import InvalidToken, TokenVerifier, issue_token
from marketplace.keys import KeyRing


def _idp(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="idp-1", alg="ES256", use="sig")
    path = tmp_path / "idp-jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


def _claims(**extra):
    now = int(time.time())
    return {
        "iss": "https://idp.example",
        "aud": "marketplace",
        "sub": "ptn_1",
        "role": "partner",
        "exp": now + 60,
        **extra,
    }


def test_es256_tokens_from_a_trusted_jwks(tmp_path):
    key, jwks = _idp(tmp_path)
    ring = KeyRing.load(tmp_path / "own.pem", jwks, accept_local=False)
    verifier = TokenVerifier(ring, ("https://idp.example",), "marketplace")
    token = jwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "idp-1"})
    assert verifier.verify(token).sub == "ptn_1"


def test_local_tokens_are_refused_when_not_accepted(tmp_path):
    _, jwks = _idp(tmp_path)
    ring = KeyRing.load(tmp_path / "own.pem", jwks, accept_local=False)
    verifier = TokenVerifier(ring, ("marketplace-local",), "marketplace")
    local = issue_token(
        ring, issuer="marketplace-local", audience="marketplace", role="operator", sub="op"
    )
    with pytest.raises(InvalidToken, match="unknown signing key"):
        verifier.verify(local)


def test_only_es256_among_ec_algorithms(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "idp-384"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    ring = KeyRing.load(tmp_path / "own.pem", tmp_path / "jwks.json", accept_local=False)
    verifier = TokenVerifier(ring, ("https://idp.example",), "marketplace")
    token = jwt.encode(_claims(), key, algorithm="ES384", headers={"kid": "idp-384"})
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(token)


def test_the_signing_key_survives_restarts(tmp_path):
    first = KeyRing.load(tmp_path / "k.pem", None, accept_local=True, create=True)
    again = KeyRing.load(tmp_path / "k.pem", None, accept_local=True)
    assert first.kid == again.kid
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600


def test_a_verified_token_is_remembered_until_it_expires(tmp_path, monkeypatch):
    key, jwks = _idp(tmp_path)
    ring = KeyRing.load(tmp_path / "own.pem", jwks, accept_local=False)
    verifier = TokenVerifier(ring, ("https://idp.example",), "marketplace")
    token = jwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "idp-1"})
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # no second signature check
    # A different text (one signature byte changed) is checked in full, never matched.
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    # Past exp plus the allowed skew, the remembered answer is not used: the token is checked
    # in full again (PyJWT reads its own clock, so count the full checks instead).
    full_checks = []
    real = TokenVerifier._verify
    monkeypatch.setattr(
        TokenVerifier, "_verify", lambda self, t: full_checks.append(t) or real(self, t)
    )
    verifier.verify(token)
    assert full_checks == []
    later = time.time() + 60 + 31
    monkeypatch.setattr(time, "time", lambda: later)
    verifier.verify(token)
    assert full_checks == [token]
