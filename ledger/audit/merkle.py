"""RFC 9162 §2.1 Merkle tree (SHA-256): hashes, inclusion and consistency proofs, compact tree.

Pure functions over leaf hashes; nothing here reads or writes anything.
"""

from collections.abc import Sequence
from hashlib import sha256

from .errors import ProofInvalid, TreeStateInvalid

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 ‖ data)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """A tree over a fixed list of leaf hashes, with every perfect aligned subtree cached.

    Building costs n-1 node hashes once; afterwards any root of a prefix, and any inclusion or
    consistency proof, costs O(log n) hashes. Level k holds the roots of the aligned subtrees
    [i·2^k, (i+1)·2^k) — exactly the nodes RFC 9162 proofs are made of, except the right edge,
    which is folded from O(log n) of them on demand.
    """

    __slots__ = ("_levels", "size")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        level = list(leaf_hashes)
        self.size = len(level)
        self._levels = [level]
        while len(level) > 1:
            # zip over one iterator pairs (0,1), (2,3), ...; an odd last node waits a level.
            pairs = iter(level)
            level = [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs)]
            self._levels.append(level)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that is a subtree of some RFC 9162 tree over D."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Root of the first `size` leaves (all of them by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofInvalid(f"tree size {size} outside 0..{self.size}")
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:tree_size]), leaf-side sibling first."""
        if not 0 <= index < tree_size <= self.size:
            raise ProofInvalid(f"no leaf {index} in a tree of size {tree_size} (of {self.size})")
        start, end, siblings = 0, tree_size, []
        while end - start > 1:
            mid = start + _split(end - start)
            if index < mid:
                siblings.append(self.subtree(mid, end))
                end = mid
            else:
                siblings.append(self.subtree(start, mid))
                start = mid
        siblings.reverse()
        return siblings

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(first, D[0:second]); empty when first is 0 or equals second."""
        if not 0 <= first <= second <= self.size:
            raise ProofInvalid(f"no consistency proof {first}→{second} (of {self.size})")
        return _consistency_path(self.subtree, first, second)

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaves, computing only the new aligned subtree roots (an append-only log)."""
        self._levels[0].extend(leaf_hashes)
        self.size = len(self._levels[0])
        k = 0
        while len(self._levels[k]) > 1:
            if k + 1 == len(self._levels):
                self._levels.append([])
            below, above = self._levels[k], self._levels[k + 1]
            for i in range(len(above), len(below) // 2):
                above.append(sha256(b"\x01" + below[2 * i] + below[2 * i + 1]).digest())
            k += 1


def _consistency_path(subtree, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) from a function giving MTH(D[start:end])."""
    if first == 0 or first == second:
        return []
    start, end, whole, siblings = 0, second, True, []
    # SUBPROOF(m, D[start:end], whole), unrolled; m is first - start throughout.
    while first - start != end - start:
        mid = start + _split(end - start)
        if first <= mid:
            siblings.append(subtree(mid, end))
            end = mid
        else:
            siblings.append(subtree(start, mid))
            start, whole = mid, False
    siblings.reverse()
    return siblings if whole else [subtree(start, end), *siblings]


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """The ranges of the perfect subtrees a compact tree of `size` keeps, largest first."""
    ranges, start = [], 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            ranges.append((start, start + (1 << bit)))
            start += 1 << bit
    return ranges


def extension_consistency_proof(
    old_size: int, frontier: Sequence[bytes], new_leaf_hashes: Sequence[bytes]
) -> list[bytes]:
    """PROOF(old_size, D[0:old_size + len(new)]) knowing only the old compact tree.

    The proof never needs a node strictly inside one of the old perfect subtrees, so the
    frontier plus the appended leaves suffice: this is how a sealer that keeps O(log n) state
    proves each new checkpoint extends the previous one.
    """
    blocks = dict(zip(perfect_subtrees(old_size), frontier, strict=True))
    new = MerkleTree(new_leaf_hashes)

    def subtree(start: int, end: int) -> bytes:
        if (start, end) in blocks:
            return blocks[start, end]
        if start >= old_size:
            return new.subtree(start - old_size, end - old_size)
        if end - start < 2:
            raise TreeStateInvalid(f"leaf {start} lies inside the old tree's perfect subtrees")
        k = _split(end - start)
        return node_hash(subtree(start, start + k), subtree(start + k, end))

    second = old_size + len(new_leaf_hashes)
    return _consistency_path(subtree, old_size, second)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over the leaf hashes; the empty tree's root is SHA-256 of the empty string."""
    level = list(hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        # Carrying an odd last node up a level unchanged builds exactly the RFC 9162 tree.
        pairs = iter(level)
        nxt = [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """Inclusion proof of leaf `index` in the tree of the first `tree_size` leaf hashes."""
    if not 0 <= index < tree_size <= len(leaf_hashes):
        raise ProofInvalid(f"no leaf {index} in a tree of size {tree_size}")
    return MerkleTree(leaf_hashes[:tree_size]).inclusion_proof(index, tree_size)


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """Consistency proof between the trees of the first `first` and `second` leaf hashes."""
    if not 0 <= first <= second <= len(leaf_hashes):
        raise ProofInvalid(f"no consistency proof {first}→{second}")
    return MerkleTree(leaf_hashes[:second]).consistency_proof(first, second)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` place `leaf_hash` at `index` under `root`?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (second, second_root) an append-only extension of the first?

    Sizes 0 and equal sizes are handled as transparency-dev/merkle does: the proof must be empty
    (and for equal sizes the roots equal), since RFC 9162 only defines 0 < first < second.
    """
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class CompactTree:
    """Append-only tree state in O(log n) hashes: the roots of the perfect subtrees of the size.

    `frontier[i]` is the root of the i-th perfect subtree from the left in the binary
    decomposition of `size` (largest first), so `len(frontier) == popcount(size)`.
    """

    __slots__ = ("_frontier", "size")

    def __init__(self) -> None:
        self.size = 0
        self._frontier: list[bytes] = []

    @classmethod
    def from_state(cls, size: int, frontier_hashes: Sequence[bytes]) -> "CompactTree":
        """Resume from `state()` as persisted; raises TreeStateInvalid if they cannot belong."""
        hashes = [bytes(h) for h in frontier_hashes]
        if size < 0 or len(hashes) != size.bit_count():
            raise TreeStateInvalid(f"size {size} needs {max(size, 0).bit_count()} frontier hashes")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise TreeStateInvalid("every frontier hash must be 32 bytes")
        tree = cls()
        tree.size, tree._frontier = size, hashes
        return tree

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash; merges equal-sized subtrees like a binary counter's carry."""
        if len(leaf_hash) != HASH_SIZE:
            raise TreeStateInvalid("a leaf hash must be 32 bytes")
        h, size = leaf_hash, self.size
        while size & 1:
            h = node_hash(self._frontier.pop(), h)
            size >>= 1
        self._frontier.append(h)
        self.size += 1

    def root(self) -> bytes:
        """Root of the tree so far: the frontier folded from the right."""
        if not self._frontier:
            return EMPTY_ROOT
        h = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            h = node_hash(left, h)
        return h

    def state(self) -> list[bytes]:
        """The frontier hashes to persist next to `size`; feed both back to `from_state`."""
        return list(self._frontier)
