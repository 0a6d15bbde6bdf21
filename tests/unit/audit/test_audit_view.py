"""The partial-view verifier and the sealer's proof from a compact tree, on pure data."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.audit import (
    CompactTree,
    MerkleTree,
    extension_consistency_proof,
    leaf_hash,
    sign_checkpoint,
    verifier_key_string,
    verify_consistency,
    verify_view,
)

KEY = Ed25519PrivateKey.generate()
NAME = "unit.test/audit"
VKEY = verifier_key_string(NAME, KEY.public_key())


@given(st.integers(0, 80), st.data())
def test_extension_proof_equals_the_full_tree_proof(n, data):
    m = data.draw(st.integers(0, n))
    leaves = [os.urandom(32) for _ in range(n)]
    compact = CompactTree()
    for h in leaves[:m]:
        compact.append(h)
    proof = extension_consistency_proof(m, compact.state(), leaves[m:])
    full = MerkleTree(leaves)
    assert proof == full.consistency_proof(m, n)
    assert verify_consistency(m, n, full.root(m), full.root(), proof)
    grown = MerkleTree(leaves[:m])
    grown.extend(leaves[m:])
    assert grown.root() == full.root()


def _log(n: int):
    entries = [f'{{"i":{i},"kind":"t"}}'.encode() for i in range(n)]
    hashes = [leaf_hash(e) for e in entries]
    note = sign_checkpoint(NAME, n, MerkleTree(hashes).root(), KEY, NAME)
    return entries, hashes, note


def test_intact_view_verifies_and_counts_visible_entries():
    entries, hashes, note = _log(12)
    visible = [(i, entries[i]) for i in range(0, 12, 3)]
    report = verify_view(note, VKEY, hashes, visible)
    assert report.ok and report.entries_checked == 4


def test_each_kind_of_fault_is_reported_at_its_leaf():
    entries, hashes, note = _log(12)
    visible = [(i, entries[i]) for i in range(0, 12, 2)]
    edited = [(i, e + b" " if i == 4 else e) for i, e in visible]
    r = verify_view(note, VKEY, hashes, edited)
    assert (r.problem, r.first_bad_index, r.entries_checked) == ("leaf_mismatch", 4, 2)
    altered = list(hashes)
    altered[6] = bytes(32)
    r = verify_view(note, VKEY, altered, visible)
    assert (r.problem, r.first_bad_index) == ("leaf_hash_altered", 6)
    altered = list(hashes)
    altered[7] = bytes(32)  # not visible: located to a range that holds it
    r = verify_view(note, VKEY, altered, visible)
    assert r.problem == "root_mismatch" and r.first_bad_index <= 7
    gone = list(hashes)
    gone[9] = None
    r = verify_view(note, VKEY, gone, visible)
    assert (r.problem, r.first_bad_index) == ("leaf_missing", 9)
    r = verify_view(note, VKEY, hashes, visible, missing_entries=[10])
    assert (r.problem, r.first_bad_index) == ("entry_missing", 10)
    r = verify_view(note, VKEY, hashes, visible[::-1])
    assert r.problem == "index_out_of_order"


def test_kept_checkpoint_catches_a_rewritten_history():
    _entries, hashes, kept = _log(8)
    rewritten = [leaf_hash(b"other")] + hashes[1:] + [leaf_hash(b"new")]
    note = sign_checkpoint(NAME, 9, MerkleTree(rewritten).root(), KEY, NAME)
    assert verify_view(note, VKEY, rewritten, []).ok
    r = verify_view(note, VKEY, rewritten, [], earlier_checkpoint=kept)
    assert r.problem == "inconsistent_with_earlier"
    proof = MerkleTree(rewritten).consistency_proof(8, 9)
    r = verify_view(note, VKEY, rewritten, [], earlier_checkpoint=kept, consistency_proof=proof)
    assert r.problem == "inconsistent_with_earlier"


def test_a_checkpoint_signed_by_another_key_is_refused():
    _entries, hashes, _ = _log(3)
    forged = sign_checkpoint(NAME, 3, MerkleTree(hashes).root(), Ed25519PrivateKey.generate(), NAME)
    assert verify_view(forged, VKEY, hashes, []).problem == "checkpoint_invalid"
