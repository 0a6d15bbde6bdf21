"""Signed tree heads as C2SP tlog-checkpoint bodies in C2SP signed-note envelopes, Ed25519 only.

See https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint; the verifier key string is
the golang.org/x/mod/sumdb/note form "<name>+<hex key ID>+<base64(0x01 ‖ public key)>".
"""

import base64
import binascii
import re
from collections.abc import Sequence
from hashlib import sha256

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import CheckpointInvalid

ED25519_TYPE = b"\x01"
# The spec requires accepting at least 16; more than this is treated as hostile input.
MAX_SIGNATURES = 100
_SIG_PREFIX = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteSignature(msgspec.Struct, frozen=True):
    """One signature line: the key's name, its 4-byte key ID, and the raw signature bytes."""

    key_name: str
    key_id: bytes
    signature: bytes


class Checkpoint(msgspec.Struct, frozen=True):
    """A parsed checkpoint; `body` is the exact signed note text, final newline included."""

    origin: str
    size: int
    root: bytes
    body: str
    signatures: tuple[NoteSignature, ...]
    extensions: tuple[str, ...] = ()


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte Ed25519 public key)[:4]."""
    return sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes:
    # Strict: no stray characters, and only the canonical (padded, zero-tail) encoding passes.
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64")
    return raw


def verifier_key_string(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key a regulator pins: "<name>+<hex key ID>+<base64(0x01 ‖ public key)>"."""
    if not _valid_name(name):
        raise ValueError(f"invalid key name {name!r}")
    raw = _raw_public(public_key)
    encoded = base64.b64encode(ED25519_TYPE + raw).decode()
    return f"{name}+{key_id(name, raw).hex()}+{encoded}"


def sign_checkpoint(
    origin: str, size: int, root: bytes, private_key: Ed25519PrivateKey, key_name: str
) -> str:
    """The signed note "<origin>\\n<size>\\n<base64 root>\\n\\n— <key name> <base64 sig>\\n"."""
    if not origin or any(c < " " for c in origin):
        raise ValueError("origin must be non-empty, one line, without control characters")
    if size < 0 or len(root) != 32:
        raise ValueError("size must be ≥ 0 and root 32 bytes")
    if not _valid_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}")
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    kid = key_id(key_name, _raw_public(private_key.public_key()))
    sig = base64.b64encode(kid + private_key.sign(body.encode())).decode()
    return f"{body}\n{_SIG_PREFIX}{key_name} {sig}\n"


def _malformed(message: str) -> CheckpointInvalid:
    return CheckpointInvalid("malformed", message)


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise _malformed("signature line must start with an em dash and a space")
    name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not _valid_name(name) or not encoded:
        raise _malformed("signature line needs a valid key name and a signature")
    try:
        raw = _b64decode(encoded)
    except ValueError:
        raise _malformed("signature is not canonical base64") from None
    if len(raw) < 5:
        raise _malformed("signature too short for a key ID and a signature")
    return NoteSignature(key_name=name, key_id=raw[:4], signature=raw[4:])


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a signed checkpoint without checking signatures; raises CheckpointInvalid."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise _malformed("a signed note ends with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise _malformed("control characters other than newline are not allowed")
    split = text.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line between the note text and its signatures")
    body, sig_block = text[: split + 1], text[split + 2 :]
    sig_lines = sig_block[:-1].split("\n")
    if not sig_block or len(sig_lines) > MAX_SIGNATURES:
        raise _malformed(f"a note needs 1..{MAX_SIGNATURES} signature lines")
    signatures = tuple(_parse_signature(line) for line in sig_lines)

    lines = body[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise _malformed("a checkpoint body is at least three non-empty lines")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text) or len(size_text) > 20 or int(size_text) >= 1 << 64:
        raise _malformed("tree size must be a uint64 decimal without leading zeros")
    try:
        root = _b64decode(root_text)
    except ValueError:
        raise _malformed("root hash is not canonical base64") from None
    if len(root) != 32:
        raise _malformed("root hash must be 32 bytes")
    return Checkpoint(
        origin=origin,
        size=int(size_text),
        root=root,
        body=body,
        signatures=signatures,
        extensions=tuple(extensions),
    )


def _parse_verifier_key(verifier_key: str) -> tuple[str, bytes, Ed25519PublicKey]:
    def bad(message: str) -> CheckpointInvalid:
        return CheckpointInvalid("bad_verifier_key", message)

    name, sep1, rest = verifier_key.partition("+")
    kid_hex, sep2, encoded = rest.partition("+")
    if not (sep1 and sep2) or not _valid_name(name):
        raise bad("verifier key must be <name>+<hex key ID>+<base64 key>")
    try:
        raw = _b64decode(encoded)
        kid = bytes.fromhex(kid_hex)
    except ValueError:
        raise bad("verifier key has a bad key ID or key encoding") from None
    if len(kid_hex) != 8 or len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise bad("verifier key must be an Ed25519 key with a 4-byte key ID")
    if kid != key_id(name, raw[1:]):
        raise bad("verifier key ID does not match its name and key")
    return name, kid, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_checkpoint(
    text: str, verifier_key: str | Sequence[str], *, origin: str | None = None
) -> Checkpoint:
    """Parse and check that a pinned key signed it (and, if given, that the origin matches).

    `verifier_key` may be several keys (a log's keys over its rotations): a signature by any
    of them is enough. Signatures by other keys are ignored as signed-note requires; a
    signature by a pinned key that does not verify rejects the whole note.
    """
    keys = [verifier_key] if isinstance(verifier_key, str) else list(verifier_key)
    parsed = [_parse_verifier_key(k) for k in keys]
    checkpoint = parse_checkpoint(text)
    signed = False
    for name, kid, public_key in parsed:
        ours = [s for s in checkpoint.signatures if s.key_name == name and s.key_id == kid]
        for sig in ours:
            try:
                public_key.verify(sig.signature, checkpoint.body.encode())
            except InvalidSignature:
                raise CheckpointInvalid(
                    "bad_signature", f"signature by {name} does not verify"
                ) from None
        signed = signed or bool(ours)
    if not signed:
        names = sorted({name for name, _, _ in parsed})
        raise CheckpointInvalid("unknown_key", f"no signature by {', '.join(names) or 'any key'}")
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointInvalid("origin_mismatch", f"origin {checkpoint.origin!r} != {origin!r}")
    return checkpoint
