"""The service's Ed25519 signing keys, their life, and the public keys it publishes and trusts.

One key is active: it signs consent receipts, export manifests and audit checkpoints. Its
private half lives in SIGNING_KEY_FILE; the database's `signing_keys` registry holds the
public half of it and of every key it replaced (retired), so the JWKS and /v1/audit/keys keep
publishing them and everything signed earlier keeps verifying. `marketplace keys rotate`
makes a new active key. A start whose key file is missing, or holds another key than the
active one, stops (`KeyLifecycleError`) instead of signing with a key nobody can verify; only a
database that holds no signature at all may get a first, new key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt import PyJWK

from ledger.audit import (
    CheckpointInvalid,
    SigningKey,
    SigningKeyRepository,
    StoredSignatures,
    parse_checkpoint,
    verifier_key_string,
    verify_checkpoint,
)
from sql import UnitOfWorkFactory

log = logging.getLogger("marketplace.keys")


class KeyLifecycleError(Exception):
    """The signing key cannot be used as it is; the message says what was found and what to do."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyLifecycleError(f"{path}: expected an Ed25519 private key")
    return key


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Writes `key` as PEM (mode 0600), atomically: a reader sees the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """Reads the PEM key at `path`, generating one (mode 0600) if there is none."""
    if not path.exists():
        write_private_key(path, Ed25519PrivateKey.generate())
    return read_private_key(path)


def public_jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> dict:
    """The public half as a JWK, with its RFC 7638 thumbprint as `kid`."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    x = _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    thumbprint_input = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = _b64url(hashlib.sha256(thumbprint_input.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def jwk_public_key(jwk: dict) -> Ed25519PublicKey:
    x = jwk["x"] + "=" * (-len(jwk["x"]) % 4)
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x))


@dataclass
class KeyRing:
    """The service key (private) and every public key tokens may be signed with, by kid.

    `provisional`: the key file did not exist, so this key lives in memory only until
    `KeyLifecycle.settle` decides it may become the first key (and writes it) or refuses.
    `published` is what /.well-known/jwks.json serves when no registry is at hand; the app
    serves the registry's keys.
    """

    private_key: Ed25519PrivateKey
    kid: str
    published: tuple[dict, ...]
    trusted: dict[str, PyJWK]  # kid -> key accepted for bearer tokens
    key_file: Path | None = None
    provisional: bool = False
    accept_local: bool = True
    _own: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        key_file: Path,
        trusted_jwks_file: Path | None,
        accept_local: bool,
        *,
        create: bool = False,
    ) -> KeyRing:
        """The ring of the key at `key_file`. A missing file: with `create`, a new key is
        written there; without, a provisional one is held in memory (see `provisional`)."""
        provisional = False
        if key_file.exists() or create:
            private_key = load_or_create_private_key(key_file)
        else:
            private_key, provisional = Ed25519PrivateKey.generate(), True
        own = public_jwk(private_key)
        trusted: dict[str, PyJWK] = {}
        if accept_local:
            trusted[own["kid"]] = PyJWK(own)
        if trusted_jwks_file:
            for jwk in json.loads(trusted_jwks_file.read_text())["keys"]:
                if jwk.get("kty") not in ("OKP", "EC") or "kid" not in jwk:
                    raise ValueError(f"{trusted_jwks_file}: keys need kty OKP or EC and a kid")
                trusted[jwk["kid"]] = PyJWK(jwk)
        return cls(
            private_key=private_key,
            kid=own["kid"],
            published=(own,),
            trusted=trusted,
            key_file=key_file,
            provisional=provisional,
            accept_local=accept_local,
            _own=own,
        )

    def jwks(self) -> dict:
        return {"keys": list(self.published)}

    def signing_key(self, kid: str | None) -> PyJWK | None:
        """A key this service signs or signed with (its JWKS), for checking what it signed:
        receipts and confirmations. Never an identity provider's key, which `trusted` holds
        for bearer tokens only."""
        jwk = next((k for k in self.published if k.get("kid") == kid), None)
        return PyJWK(jwk) if jwk is not None else None

    def adopt_history(self, keys: list[SigningKey]) -> None:
        """Publishes every registered key; locally issued tokens signed with a retired key
        stay valid until they expire (at most TOKEN_MAX_LIFETIME_SECONDS after a rotation)."""
        self.published = tuple(k.public_jwk for k in keys) or (self._own,)
        if self.accept_local:
            for k in keys:
                self.trusted.setdefault(k.kid, PyJWK(k.public_jwk))


def _next_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".next")


def retired_file(key_file: Path, kid: str) -> Path:
    return key_file.with_name(f"{key_file.name}.retired-{kid[:16]}")


def _jws_kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def _signed_by(note: str, key: Ed25519PrivateKey) -> bool:
    """Whether `key` signed the checkpoint `note` (under the key name the note carries)."""
    try:
        names = {s.key_name for s in parse_checkpoint(note).signatures}
        for name in names:
            try:
                verify_checkpoint(note, verifier_key_string(name, key.public_key()))
                return True
            except CheckpointInvalid:
                continue
    except CheckpointInvalid:
        return False
    return False


def _made_by(signatures: StoredSignatures, ring: KeyRing) -> list[str]:
    """The kinds of stored signature NOT made by the ring's key (empty: all of them were)."""
    foreign = []
    if signatures.receipt is not None and _jws_kid(signatures.receipt) != ring.kid:
        foreign.append(f"consent receipts (kid {_jws_kid(signatures.receipt)})")
    if signatures.export_signature is not None and (
        _jws_kid(signatures.export_signature) != ring.kid
    ):
        foreign.append(f"export manifests (kid {_jws_kid(signatures.export_signature)})")
    if signatures.checkpoint is not None and not _signed_by(
        signatures.checkpoint, ring.private_key
    ):
        foreign.append("audit checkpoints")
    return foreign


class KeyLifecycle:
    """The signing keys' registry as this process uses it: the start check, publishing, and
    rotation (for `marketplace keys rotate`)."""

    def __init__(self, uow: UnitOfWorkFactory, ring: KeyRing, *, checkpoint_origin: str):
        self.uow = uow
        self.ring = ring
        self.checkpoint_origin = checkpoint_origin

    async def registered(self) -> list[SigningKey]:
        async with self.uow(transaction=False) as uow:
            return await uow.repository(SigningKeyRepository).list()

    async def settle(self, *, allow_create: bool = True) -> None:
        """Checks that the ring's key is the database's active key, or makes it the first one.

        Raises KeyLifecycleError when the key file is missing or holds another key while the
        database's signatures were made with a registered (or, before the registry, an
        unregistered) key. `allow_create=False` also refuses to make a first key.
        """
        ring, key_file = self.ring, self.ring.key_file
        assert key_file is not None, "settle needs a ring loaded from a key file"
        keys = await self.registered()
        if not keys:
            async with self.uow(transaction=False) as uow:
                signatures = await uow.repository(SigningKeyRepository).latest_signatures()
            if signatures.empty:
                if ring.provisional:
                    if not allow_create:
                        raise KeyLifecycleError(
                            f"no signing key at {key_file} (SIGNING_KEY_FILE) and none "
                            "registered; create the first one with `marketplace keys rotate`"
                        )
                    write_private_key(key_file, ring.private_key)
                    ring.provisional = False
                    log.warning("signing_key_created", extra={"kid": ring.kid})
            else:
                # A database signed before the registry existed: adopt the key that signed it.
                if ring.provisional:
                    raise KeyLifecycleError(
                        f"no signing key at {key_file} (SIGNING_KEY_FILE), but the database "
                        "holds signed receipts, exports or checkpoints: restore the key that "
                        "signed them from a backup (a new key would leave them unverifiable)"
                    )
                foreign = _made_by(signatures, ring)
                if foreign:
                    raise KeyLifecycleError(
                        f"the key in {key_file} (kid {ring.kid}) did not sign the database's "
                        f"{', '.join(foreign)}: point SIGNING_KEY_FILE at the key that did"
                    )
            async with self.uow() as uow:
                await uow.repository(SigningKeyRepository).register_first(ring.kid, ring._own)
            keys = await self.registered()
        active = next((k for k in keys if k.status == "active"), None)
        if active is None:  # the registry lost its active key: only an operator can say which
            raise KeyLifecycleError("the signing key registry has no active key")
        if ring.kid != active.kid:
            retired = next((k for k in keys if k.kid == ring.kid), None)
            where = f"{key_file} (SIGNING_KEY_FILE)"
            if ring.provisional:
                found = f"there is no key file at {where}"
            elif retired is not None:
                found = f"{where} holds key {ring.kid}, retired at {retired.retired_at}"
            else:
                found = f"{where} holds key {ring.kid}, which signed nothing here"
            hint = self._interrupted_rotation(active) or (
                "; restore the active key's file from a backup (a new key would leave every "
                "earlier receipt, export and checkpoint unverifiable)"
            )
            raise KeyLifecycleError(
                f"the database's active signing key is {active.kid} (since "
                f"{active.created_at}), but {found}{hint}"
            )
        ring.adopt_history(keys)

    def _interrupted_rotation(self, active: SigningKey) -> str:
        """A hint when a rotation committed but stopped before moving the new key into place."""
        key_file = self.ring.key_file
        assert key_file is not None
        pending = _next_file(key_file)
        if pending.exists() and public_jwk(read_private_key(pending))["kid"] == active.kid:
            return f"; a rotation was interrupted: move {pending} to {key_file}"
        return ""

    def _use(self, key: Ed25519PrivateKey) -> None:
        own = public_jwk(key)
        self.ring.private_key, self.ring.kid, self.ring._own = key, own["kid"], own
        self.ring.provisional = False
        if self.ring.accept_local:
            self.ring.trusted[own["kid"]] = PyJWK(own)

    async def rotate(self) -> tuple[str, str | None]:
        """Makes a new active key: written beside the key file, registered (the old key
        retired, still published), then moved into place; the retired private key is kept
        as `<key file>.retired-<kid>` for the operator to archive or destroy. Returns the
        (new kid, retired kid)."""
        await self.settle()
        key_file = self.ring.key_file
        assert key_file is not None
        new = Ed25519PrivateKey.generate()
        jwk = public_jwk(new)
        pending = _next_file(key_file)
        write_private_key(pending, new)
        try:
            async with self.uow() as uow:
                retired = await uow.repository(SigningKeyRepository).rotate(jwk["kid"], jwk)
        except BaseException:
            pending.unlink(missing_ok=True)
            raise
        if retired is not None and key_file.exists():
            os.replace(key_file, retired_file(key_file, retired))
        os.replace(pending, key_file)
        self._use(new)
        self.ring.adopt_history(await self.registered())
        log.warning("signing_key_rotated", extra={"kid": jwk["kid"], "retired": retired})
        return jwk["kid"], retired

    async def jwks(self) -> dict:
        """Every registered public key, the active one first (this process's key if the
        registry is somehow empty)."""
        keys = await self.registered()
        self.ring.adopt_history(keys)
        return self.ring.jwks()

    async def verifier_keys(self) -> list[dict]:
        """The checkpoint verifier key of every registered key, the active one first."""
        return [
            {
                "verifier_key": verifier_key_string(
                    self.checkpoint_origin, jwk_public_key(k.public_jwk)
                ),
                "kid": k.kid,
                "status": k.status,
                "created_at": k.created_at.isoformat(),
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
            }
            for k in await self.registered()
        ]
