"""A consent's page says a receipt of its chain is verified only when its signature holds, it
names the grant and its place, and it names the hash of the receipt before it: a receipt
left out, reordered or signed by another key shows as not verified."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.keys import KeyRing, public_jwk
from marketplace.web.customer import verify_chain
from offers import GrantReceipt, GrantReceipts, ReceiptSigner, receipt_hash

GRANT = "gnt_1"
EVENTS = (("given", "active"), ("paused", "paused"), ("withdrawn", "revoked"))
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _chain(signer: ReceiptSigner) -> list[GrantReceipt]:
    out: list[GrantReceipt] = []
    for index, (event_type, event_state) in enumerate(EVENTS):
        claims = {"consentReceiptID": GRANT, "receiptIndex": index, "event_type": event_type}
        previous = receipt_hash(out[-1].receipt) if out else None
        if previous:
            claims["previousReceiptHash"] = previous
        out.append(
            GrantReceipt(
                index=index,
                event_type=event_type,
                event_state=event_state,
                previous_hash=previous,
                created_at=AT,
                receipt=signer.sign(claims),
            )
        )
    return out


def _checked(keys: KeyRing, receipts: list[GrantReceipt]) -> list[bool]:
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(keyring=keys)))
    chain = GrantReceipts(grant_id=GRANT, data=receipts)
    return [ok for _, ok in verify_chain(request, chain)]  # type: ignore[arg-type]


def test_a_whole_chain_verifies_and_a_broken_one_shows_where(tmp_path):
    keys = KeyRing.load(tmp_path / "key.pem", None, True, create=True)
    receipts = _chain(ReceiptSigner(keys.private_key, keys.kid, "marketplace-local"))
    assert _checked(keys, receipts) == [True, True, True]

    first, paused, withdrawn = receipts
    assert _checked(keys, [first, withdrawn]) == [True, False]  # one left out
    assert _checked(keys, [first, withdrawn, paused]) == [True, False, False]  # reordered
    other = ReceiptSigner(Ed25519PrivateKey.generate(), keys.kid, "marketplace-local")
    forged = _chain(other)  # the same claims, another key under the service's kid
    assert _checked(keys, [first, forged[1], withdrawn]) == [True, False, False]
    assert _checked(keys, [first, paused, forged[2]]) == [True, True, False]


def test_only_the_service_own_keys_make_a_receipt_verified(tmp_path):
    """An identity provider's key is trusted for sign-in tokens, never for what the service
    signs; and with local tokens refused (production), the service's receipts still verify."""
    idp = Ed25519PrivateKey.generate()
    idp_jwk = {**public_jwk(idp), "kid": "idp-key"}
    jwks = tmp_path / "idp.json"
    jwks.write_text(json.dumps({"keys": [idp_jwk]}))
    keys = KeyRing.load(tmp_path / "key.pem", jwks, False, create=True)
    assert "idp-key" in keys.trusted and keys.kid not in keys.trusted
    ours = _chain(ReceiptSigner(keys.private_key, keys.kid, "marketplace"))
    assert _checked(keys, ours) == [True, True, True]
    by_the_idp = _chain(ReceiptSigner(idp, "idp-key", "marketplace"))
    assert _checked(keys, by_the_idp) == [False, False, False]
