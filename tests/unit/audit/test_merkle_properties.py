"""Property tests: proofs against an RFC 9162 reference, and the compact tree against full roots."""

from hashlib import sha256

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.audit import (
    CompactTree,
    MerkleTree,
    TreeStateInvalid,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def _mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written as the RFC states it, over leaf hashes."""
    if not d:
        return sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if whole else [_mth(d)]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, d[:k], whole), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def leaves_of(seed: int, n: int) -> list[bytes]:
    return [leaf_hash(f"{seed}:{i}".encode()) for i in range(n)]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x80]) + h[1:]


sizes = st.integers(min_value=1, max_value=200)
seeds = st.integers(min_value=0, max_value=2**32)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes)
def test_every_inclusion_proof_verifies_and_binds_its_leaf(seed: int, n: int) -> None:
    leaves = leaves_of(seed, n)
    tree = MerkleTree(leaves)
    root = tree.root()
    assert root == _mth(leaves) == root_from_leaf_hashes(leaves)
    for i in range(n):
        proof = tree.inclusion_proof(i, n)
        assert proof == _path(i, leaves)
        assert verify_inclusion(leaves[i], i, n, proof, root)
        other = leaves[(i + 1) % n] if n > 1 else flip(leaves[i])
        assert not verify_inclusion(other, i, n, proof, root)
        assert not verify_inclusion(flip(leaves[i]), i, n, proof, root)


@settings(max_examples=200, deadline=None)
@given(seed=seeds, data=st.data())
def test_every_consistency_proof_verifies_and_binds_both_roots(seed: int, data) -> None:
    n = data.draw(sizes, label="second")
    m = data.draw(st.integers(min_value=1, max_value=n), label="first")
    leaves = leaves_of(seed, n)
    tree = MerkleTree(leaves)
    r1, r2 = tree.root(m), tree.root()
    proof = tree.consistency_proof(m, n)
    assert proof == ([] if m == n else _subproof(m, leaves, True))
    assert verify_consistency(m, n, r1, r2, proof)
    assert not verify_consistency(m, n, flip(r1), r2, proof)
    assert not verify_consistency(m, n, r1, flip(r2), proof)
    for i in range(len(proof)):
        assert not verify_consistency(m, n, r1, r2, [*proof[:i], flip(proof[i]), *proof[i + 1 :]])


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes, data=st.data())
def test_compact_tree_matches_full_root_and_resumes_from_state(seed: int, n: int, data) -> None:
    leaves = leaves_of(seed, n)
    cut = data.draw(st.integers(min_value=0, max_value=n), label="cut")
    compact = CompactTree()
    assert compact.root() == root_from_leaf_hashes([])
    for i, h in enumerate(leaves[:cut]):
        compact.append(h)
        assert compact.size == i + 1
        assert compact.root() == root_from_leaf_hashes(leaves[: i + 1])
    state = compact.state()
    assert len(state) == cut.bit_count()
    resumed = CompactTree.from_state(compact.size, state)
    for i in range(cut, n):
        resumed.append(leaves[i])
        assert resumed.root() == _mth(leaves[: i + 1])


def test_compact_state_that_cannot_fit_its_size_is_refused() -> None:
    compact = CompactTree()
    for h in leaves_of(1, 5):
        compact.append(h)
    state = compact.state()
    for size, hashes in [(7, state), (4, state), (-1, []), (5, [state[0], b"short"])]:
        try:
            CompactTree.from_state(size, hashes)
        except TreeStateInvalid as exc:
            assert exc.code == "tree_state_invalid"
        else:
            raise AssertionError(f"accepted size {size}")
