"""RFC 6962/9162 published test vectors (transparency-dev/merkle), and mutations of them."""

import json
from pathlib import Path

import pytest

from ledger.audit import (
    EMPTY_ROOT,
    MerkleTree,
    ProofInvalid,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc9162.json").read_text())
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaf_inputs_hex"]]
ROOTS = {int(n): bytes.fromhex(r) for n, r in VECTORS["roots_hex_by_tree_size"].items()}
INCLUSION = [
    (c["leaf_index"], c["tree_size"], [bytes.fromhex(p) for p in c["proof_hex"]])
    for c in VECTORS["inclusion"]
]
CONSISTENCY = [
    (c["first"], c["second"], [bytes.fromhex(p) for p in c["proof_hex"]])
    for c in VECTORS["consistency"]
]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def test_vectors_cover_sizes_0_to_8() -> None:
    assert sorted(ROOTS) == list(range(9))


@pytest.mark.parametrize("size", range(9))
def test_root_for_each_tree_size(size: int) -> None:
    assert root_from_leaf_hashes(LEAVES[:size]) == ROOTS[size]
    assert MerkleTree(LEAVES).root(size) == ROOTS[size]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == EMPTY_ROOT == root_from_leaf_hashes([])


def test_leaf_hash_vector() -> None:
    case = VECTORS["inclusion"][0]
    assert LEAVES[case["leaf_index"]].hex() == case["leaf_hash_hex"]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vector(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAVES, index, size) == proof
    assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vector_mutations_fail(index: int, size: int, proof: list[bytes]) -> None:
    root, leaf = ROOTS[size], LEAVES[index]
    for other in range(size + 2):
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, root), other
    # A bare proof does not bind the tree size: a size whose audit path has the same shape (7
    # for leaf 5 of 8) rebuilds the same root. The signed checkpoint binds size to root, so a
    # wrong size is checked against the root a checkpoint of that size carries.
    for other_size in range(size + 4):
        if other_size != size:
            other_root = ROOTS.get(other_size, root)
            assert not verify_inclusion(leaf, index, other_size, proof, other_root), other_size
    for i in range(len(proof)):
        tampered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, size, tampered, root)
    assert not verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, size, [*proof, proof[-1]], root)
    assert not verify_inclusion(leaf, index, size, [*proof, bytes(32)], root)
    assert not verify_inclusion(leaf, index, size, [], root)
    assert not verify_inclusion(flip(leaf), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip(root))
    assert not verify_inclusion(leaf, index, size, list(reversed(proof)), root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vector(first: int, second: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAVES, first, second) == proof
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vector_mutations_fail(first: int, second: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[first], ROOTS[second]
    assert not verify_consistency(second, first, r2, r1, proof)  # swapped sizes and roots
    assert not verify_consistency(first, second, r2, r1, proof)  # swapped roots
    assert not verify_consistency(first, second, flip(r1), r2, proof)
    assert not verify_consistency(first, second, r1, flip(r2), proof)
    for other in range(12):  # wrong sizes, each with the root its checkpoint would carry
        if other != first:
            assert not verify_consistency(other, second, ROOTS.get(other, r1), r2, proof), other
        if other != second:
            assert not verify_consistency(first, other, r1, ROOTS.get(other, r2), proof), other
    for i in range(len(proof)):
        tampered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
        assert not verify_consistency(first, second, r1, r2, tampered)
    assert not verify_consistency(first, second, r1, r2, proof[:-1])
    assert not verify_consistency(first, second, r1, r2, [*proof, proof[-1]])
    assert not verify_consistency(first, second, r1, r2, [])


def test_consistency_edge_sizes() -> None:
    assert consistency_proof(LEAVES, 8, 8) == []
    assert verify_consistency(8, 8, ROOTS[8], ROOTS[8], [])
    assert not verify_consistency(8, 8, ROOTS[8], ROOTS[7], [])
    assert not verify_consistency(8, 8, ROOTS[8], ROOTS[8], [ROOTS[8]])
    assert consistency_proof(LEAVES, 0, 8) == []
    assert verify_consistency(0, 8, ROOTS[0], ROOTS[8], [])
    assert not verify_consistency(0, 8, ROOTS[0], ROOTS[8], [ROOTS[8]])


def test_out_of_range_proof_requests_are_refused() -> None:
    with pytest.raises(ProofInvalid):
        inclusion_proof(LEAVES, 8, 8)
    with pytest.raises(ProofInvalid):
        inclusion_proof(LEAVES, 0, 9)
    with pytest.raises(ProofInvalid):
        consistency_proof(LEAVES, 5, 4)
    with pytest.raises(ProofInvalid):
        consistency_proof(LEAVES, 1, 9)
    assert not verify_inclusion(LEAVES[0], 0, 0, [], ROOTS[0])
    assert ProofInvalid.code == "proof_invalid"
