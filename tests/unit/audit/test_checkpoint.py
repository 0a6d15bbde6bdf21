"""C2SP signed-note / tlog-checkpoint: round trip, tampering, key IDs, and Go's reference note."""

import base64
from hashlib import sha256

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.audit import (
    CheckpointInvalid,
    key_id,
    parse_checkpoint,
    sign_checkpoint,
    verifier_key_string,
    verify_checkpoint,
)

ORIGIN = "audit.marketplace.example/log"
ROOT = sha256(b"some root").digest()
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = verifier_key_string(ORIGIN, KEY.public_key())

# golang.org/x/mod/sumdb/note's documented example: an independent implementation's output.
GO_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def reason_of(text: str, vkey: str = VKEY) -> str:
    with pytest.raises(CheckpointInvalid) as info:
        verify_checkpoint(text, vkey)
    assert info.value.code == "checkpoint_invalid"
    return info.value.reason


def test_round_trip() -> None:
    text = sign_checkpoint(ORIGIN, 1234, ROOT, KEY, ORIGIN)
    body = f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    assert text.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert text.endswith("\n")
    checkpoint = verify_checkpoint(text, VKEY, origin=ORIGIN)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, 1234, ROOT)
    assert checkpoint.body == body
    assert parse_checkpoint(text) == checkpoint


def test_key_id_is_the_c2sp_definition() -> None:
    text = sign_checkpoint(ORIGIN, 1, ROOT, KEY, ORIGIN)
    expected = sha256(ORIGIN.encode() + b"\x0a" + b"\x01" + raw_public(KEY)).digest()[:4]
    sig = base64.b64decode(text.rstrip("\n").rsplit(" ", 1)[1])
    assert sig[:4] == expected == key_id(ORIGIN, raw_public(KEY))
    assert len(sig) == 4 + 64
    name, kid_hex, encoded = VKEY.split("+", 2)
    assert (name, bytes.fromhex(kid_hex)) == (ORIGIN, expected)
    assert base64.b64decode(encoded) == b"\x01" + raw_public(KEY)


def test_matches_go_sumdb_note_reference() -> None:
    go_key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(GO_SEED)[1:])
    assert verifier_key_string("PeterNeumann", go_key.public_key()) == GO_VKEY
    kid = key_id("PeterNeumann", raw_public(go_key))
    assert base64.b64encode(kid + go_key.sign(GO_TEXT.encode())).decode() == GO_SIG


def test_tampered_size_root_origin_are_rejected() -> None:
    text = sign_checkpoint(ORIGIN, 1234, ROOT, KEY, ORIGIN)
    other_root = base64.b64encode(sha256(b"other").digest()).decode()
    for tampered in (
        text.replace("\n1234\n", "\n1235\n"),
        text.replace(base64.b64encode(ROOT).decode(), other_root),
        text.replace(ORIGIN + "\n", "evil.example/log\n", 1),
    ):
        assert tampered != text
        assert reason_of(tampered) == "bad_signature"


def test_tampered_signature_and_wrong_key_are_rejected() -> None:
    text = sign_checkpoint(ORIGIN, 7, ROOT, KEY, ORIGIN)
    head, sig = text.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    assert reason_of(f"{head} {base64.b64encode(bytes(raw)).decode()}\n") == "bad_signature"
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    # Same name, different key: its key ID differs, so the note has no signature we know.
    assert reason_of(text, verifier_key_string(ORIGIN, other.public_key())) == "unknown_key"
    forged = sign_checkpoint(ORIGIN, 7, ROOT, other, ORIGIN)
    assert reason_of(forged) == "unknown_key"


def test_foreign_signatures_are_ignored_but_ours_must_verify() -> None:
    text = sign_checkpoint(ORIGIN, 7, ROOT, KEY, ORIGIN)
    witness = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    cosigned = text + sign_checkpoint(ORIGIN, 7, ROOT, witness, "witness.example").split("\n\n")[1]
    assert len(verify_checkpoint(cosigned, VKEY).signatures) == 2


def test_origin_mismatch() -> None:
    text = sign_checkpoint(ORIGIN, 7, ROOT, KEY, ORIGIN)
    with pytest.raises(CheckpointInvalid) as info:
        verify_checkpoint(text, VKEY, origin="other.example/log")
    assert info.value.reason == "origin_mismatch"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.rstrip("\n"),  # no final newline
        lambda t: t.replace("\n\n", "\n"),  # no blank line before signatures
        lambda t: t.replace("\n7\n", "\n07\n"),  # leading zero
        lambda t: t.replace("\n7\n", "\n-7\n"),
        lambda t: t.replace("\n7\n", "\n\n"),  # empty line in the body
        lambda t: t.replace("\u2014 ", "- "),  # ASCII dash instead of em dash
        lambda t: t.replace("\n7\n", "\n7\t\n"),  # control character
        lambda t: t.split("\n\n")[0] + "\n\n",  # no signature lines
        lambda t: t.replace(base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode()),
        lambda t: t.replace("=\n", "\n"),  # unpadded base64
    ],
)
def test_malformed_notes_are_rejected(mutate) -> None:
    text = sign_checkpoint(ORIGIN, 7, ROOT, KEY, ORIGIN)
    assert reason_of(mutate(text)) == "malformed"


@pytest.mark.parametrize(
    "vkey",
    [
        "no-plus-signs",
        VKEY.replace("+", "+0", 1),  # key ID not 8 hex digits
        VKEY.split("+")[0] + "x+" + VKEY.split("+", 1)[1],  # key ID does not match the name
        VKEY[:-4] + "AAAA",  # key ID does not match the key
    ],
)
def test_bad_verifier_keys_are_rejected(vkey: str) -> None:
    assert reason_of(sign_checkpoint(ORIGIN, 7, ROOT, KEY, ORIGIN), vkey) == "bad_verifier_key"
