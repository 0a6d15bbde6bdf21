"""The service's Ed25519 signing key and the public keys it publishes and trusts (JWKS)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt import PyJWK


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """Reads the PEM key at `path`, generating one (mode 0600) on first start."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: expected an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)  # two processes starting at once: the last rename wins, both valid
    return load_or_create_private_key(path)


def public_jwk(key: Ed25519PrivateKey) -> dict:
    """The public half as a JWK, with its RFC 7638 thumbprint as `kid`."""
    x = _b64url(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    thumbprint_input = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = _b64url(hashlib.sha256(thumbprint_input.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class KeyRing:
    """The service key (private) and every public key tokens may be signed with, by kid."""

    private_key: Ed25519PrivateKey
    kid: str
    published: tuple[dict, ...]  # what /.well-known/jwks.json serves
    trusted: dict[str, PyJWK]  # kid -> key accepted for bearer tokens

    @classmethod
    def load(cls, key_file: Path, trusted_jwks_file: Path | None, accept_local: bool) -> KeyRing:
        private_key = load_or_create_private_key(key_file)
        own = public_jwk(private_key)
        trusted: dict[str, PyJWK] = {}
        if accept_local:
            trusted[own["kid"]] = PyJWK(own)
        if trusted_jwks_file:
            for jwk in json.loads(trusted_jwks_file.read_text())["keys"]:
                if jwk.get("kty") not in ("OKP", "EC") or "kid" not in jwk:
                    raise ValueError(f"{trusted_jwks_file}: keys need kty OKP or EC and a kid")
                trusted[jwk["kid"]] = PyJWK(jwk)
        return cls(private_key=private_key, kid=own["kid"], published=(own,), trusted=trusted)

    def jwks(self) -> dict:
        return {"keys": list(self.published)}
