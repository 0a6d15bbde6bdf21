"""The pure core of the regulator's independent audit-log verifier: entries + checkpoint → report."""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from hashlib import sha256
from typing import Any

import msgspec

from .canonical import entry_bytes
from .checkpoint import Checkpoint, verify_checkpoint
from .errors import CheckpointInvalid
from .merkle import MerkleTree, node_hash, verify_consistency

# Stable `problem` codes of a failed report.
CHECKPOINT_INVALID = "checkpoint_invalid"
EARLIER_CHECKPOINT_INVALID = "earlier_checkpoint_invalid"
INCONSISTENT_WITH_EARLIER = "inconsistent_with_earlier"
INDEX_OUT_OF_ORDER = "index_out_of_order"
LEAF_MISMATCH = "leaf_mismatch"
ROOT_MISMATCH = "root_mismatch"
ENTRIES_MISSING = "entries_missing"
UNSEALED_ENTRIES = "unsealed_entries"
LEAF_MISSING = "leaf_missing"
ENTRY_MISSING = "entry_missing"
LEAF_HASH_ALTERED = "leaf_hash_altered"


class VerificationReport(msgspec.Struct, frozen=True):
    """What the verifier found.

    `entries_checked` entries, from index 0, are proven to be the ones the checkpoint commits to.
    `first_bad_index` is the first entry that is not (every entry before it is proven); `problem`
    is one of this module's stable codes and `detail` a sentence for a human.
    """

    ok: bool
    entries_checked: int
    tree_size: int
    first_bad_index: int | None
    problem: str | None
    detail: str | None = None


def _fail(proven: int, size: int, bad: int | None, problem: str, detail: str) -> VerificationReport:
    return VerificationReport(False, proven, size, bad, problem, detail)


def _locate(
    leaves: MerkleTree, claimed: MerkleTree | None, root: bytes, size: int
) -> tuple[int, int]:
    """Narrow [lo, hi) holding an altered leaf, with [0, lo) proven, by descending from `root`.

    Invariant: our MTH(leaves[lo:hi]) differs from `h`, an authenticated hash of that range.
    Each child's hash has two candidates, the server's claimed one and ours; a pair that
    rebuilds `h` is authentic (collision resistance). We step into the left child if ours
    differs there, else the left child is proven and the fault is on the right.
    """
    lo, hi, h = 0, size, root
    while claimed is not None and hi - lo > 1:
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        ours_left, ours_right = leaves.subtree(lo, mid), leaves.subtree(mid, hi)
        pair = next(
            (
                (left, right)
                for left in (claimed.subtree(lo, mid), ours_left)
                for right in (claimed.subtree(mid, hi), ours_right)
                if node_hash(left, right) == h
            ),
            None,
        )
        if pair is None:
            break  # nothing we hold rebuilds [lo, hi): no authentic hash below this node
        if ours_left != pair[0]:
            hi, h = mid, pair[0]
        else:
            lo, h = mid, pair[1]
    return lo, hi


def _check_earlier(
    earlier_text: str,
    verifier_key: str | Sequence[str],
    current: Checkpoint,
    proof: Sequence[bytes] | None,
) -> tuple[Checkpoint | None, VerificationReport | None]:
    n = current.size
    try:
        earlier = verify_checkpoint(earlier_text, verifier_key)
    except CheckpointInvalid as exc:
        return None, _fail(0, n, None, EARLIER_CHECKPOINT_INVALID, f"{exc.reason}: {exc}")
    if earlier.size > n:
        # The log shrank: entries the regulator once saw sealed are gone from the current tree.
        return None, _fail(
            0, n, n, INCONSISTENT_WITH_EARLIER, f"earlier checkpoint has {earlier.size} > {n}"
        )
    if proof is not None and not verify_consistency(
        earlier.size, n, earlier.root, current.root, proof
    ):
        return None, _fail(
            0, n, None, INCONSISTENT_WITH_EARLIER, "consistency proof does not verify"
        )
    return earlier, None


def verify_log(
    entries: Iterable[dict[str, Any]],
    checkpoint_text: str,
    verifier_key: str | Sequence[str],
    *,
    leaf_hashes_claimed: Sequence[bytes] | None = None,
    earlier_checkpoint: str | None = None,
    consistency_proof: Sequence[bytes] | None = None,
) -> VerificationReport:
    """Recompute the tree from `entries` and check it against the signed checkpoint.

    Pass the entries the checkpoint covers, in log order; each leaf is
    `leaf_hash(entry_bytes(entry))` of the entry exactly as served (its `index` included), and
    entry i must carry `index == i`. Checks, in order, stopping at the first failure:

    1. the checkpoint (and `earlier_checkpoint`, if kept) is signed by `verifier_key`; an earlier
       one must be no larger, and `consistency_proof` (earlier → current), if given, must verify;
    2. the indices run 0, 1, 2, … — a gap, repeat or swap is reported at its position;
    3. the recomputed root equals the checkpoint's. If not, the first bad entry is located
       soundly — only hashes authenticated against the signed root are trusted. We descend from
       the root: at each node, the child hashes (each either the one built from
       `leaf_hashes_claimed`, the server's stored leaf hashes, or ours from the entries) that
       rebuild the authenticated node hash are authentic (collision resistance), and we step
       into the leftmost child where ours disagrees. If the stored hashes are intact this ends at
       one leaf: `leaf_mismatch`, exact. If they were altered in the same place, the descent
       stops at the smallest authenticated range holding the fault: `root_mismatch`, with
       `first_bad_index` the first entry not proven (all before it are) and the range in
       `detail`. Without stored hashes nothing below the root is authentic, so that range is the
       whole log. A kept earlier checkpoint, with a verified `consistency_proof`, whose prefix
       still matches raises the bound to its size. Missing trailing entries are padded with the
       stored hashes, so a truncated log is reported where it first goes wrong;
    4. the prefix of the earlier checkpoint's size still hashes to the earlier root (else the
       log was rewritten and re-sealed: `inconsistent_with_earlier`);
    5. entries beyond the checkpoint's size are not covered by it: `unsealed_entries`.
    """
    try:
        current = verify_checkpoint(checkpoint_text, verifier_key)
    except CheckpointInvalid as exc:
        return _fail(0, 0, None, CHECKPOINT_INVALID, f"{exc.reason}: {exc}")
    n = current.size
    earlier = None
    if earlier_checkpoint is not None:
        earlier, failure = _check_earlier(
            earlier_checkpoint, verifier_key, current, consistency_proof
        )
        if failure is not None:
            return failure

    # One pass: each entry's index is checked and its leaf hashed as it comes.
    hashes: list[bytes] = []
    append = hashes.append
    count = 0
    for position, entry in enumerate(entries):
        if entry.get("index") != position:
            return _fail(
                position,
                n,
                position,
                INDEX_OUT_OF_ORDER,
                f"entry at position {position} has index {entry.get('index')!r}",
            )
        if position < n:
            append(sha256(b"\x00" + entry_bytes(entry)).digest())  # leaf_hash, inlined
        count = position + 1
    covered = len(hashes)
    claimed = None
    if leaf_hashes_claimed is not None and len(leaf_hashes_claimed) >= n:
        claimed = MerkleTree(leaf_hashes_claimed[:n])
        hashes.extend(leaf_hashes_claimed[covered:n])
    if len(hashes) < n:
        # Nothing authenticates a partial tree, so no entry counts as proven.
        return _fail(0, n, covered, ENTRIES_MISSING, f"{covered} entries for size {n}")
    tree = MerkleTree(hashes)

    if tree.root() != current.root:
        lo, hi = _locate(tree, claimed, current.root, n)
        proven_prefix = (
            earlier is not None
            and consistency_proof is not None
            and (tree.root(earlier.size) == earlier.root)
        )
        if proven_prefix and earlier is not None and earlier.size > lo:
            lo = earlier.size  # [0, earlier.size) proven; the fault in [lo, hi) lies after it
        if lo >= covered:
            return _fail(covered, n, covered, ENTRIES_MISSING, f"{covered} entries for size {n}")
        if hi - lo == 1:
            return _fail(lo, n, lo, LEAF_MISMATCH, f"entry {lo} does not hash to its sealed leaf")
        return _fail(
            lo,
            n,
            lo,
            ROOT_MISMATCH,
            f"entries [0, {lo}) proven; an altered entry lies in [{lo}, {hi}) and the stored "
            "leaf hashes are altered too, so it cannot be narrowed further",
        )
    if covered < n:
        return _fail(covered, n, covered, ENTRIES_MISSING, f"{covered} entries for size {n}")
    if earlier is not None and tree.root(earlier.size) != earlier.root:
        return _fail(
            0,
            n,
            None,
            INCONSISTENT_WITH_EARLIER,
            f"the first {earlier.size} entries no longer hash to the earlier checkpoint's root",
        )
    if count > n:
        return _fail(n, n, n, UNSEALED_ENTRIES, f"{count - n} entries after size {n}")
    return VerificationReport(True, n, n, None, None)


_ABSENT = b"\x00" * 32  # stands in for a leaf hash the server did not serve


def verify_view(
    checkpoint_text: str,
    verifier_key: str | Sequence[str],
    leaf_hashes: Sequence[bytes | None],
    entries: Iterable[tuple[int, bytes]],
    *,
    missing_entries: Sequence[int] = (),
    earlier_checkpoint: str | None = None,
    consistency_proof: Sequence[bytes] | None = None,
    origin: str | None = None,
) -> VerificationReport:
    """Verify a log the regulator sees only partly: every leaf hash, but only its own entries.

    `leaf_hashes[i]` is the stored hash of leaf i (None where the server had none), for every
    leaf of the checkpoint; `entries` are (leaf index, exact entry bytes) of the entries the
    regulator may read, ascending, read once as they come (a stream will do);
    `missing_entries` are leaves whose entry row the server reported gone. Checks, reporting
    the first (lowest-index) fault found:

    1. the checkpoint (and a kept earlier one) is signed by `verifier_key`; the earlier one is no
       larger and `consistency_proof`, if given, verifies (else `inconsistent_with_earlier`);
    2. every leaf is present (`leaf_missing`) and every leaf's entry exists (`entry_missing`);
    3. the tree over the stored hashes, with each visible entry's own hash in its place, has the
       signed root. Where it does not, only hashes authenticated against the signed root are
       trusted (see `_locate`): a visible entry that does not hash to its authenticated leaf is
       `leaf_mismatch` (the entry was altered); a stored hash that differs from the
       authenticated one is `leaf_hash_altered`. An altered stored hash of a leaf the regulator
       cannot read is located to the smallest authenticated range: `root_mismatch`;
    4. the first `earlier.size` leaves still hash to the kept earlier root (else the history
       was rewritten and re-signed: `inconsistent_with_earlier`).
    """
    try:
        current = verify_checkpoint(checkpoint_text, verifier_key, origin=origin)
    except CheckpointInvalid as exc:
        return _fail(0, 0, None, CHECKPOINT_INVALID, f"{exc.reason}: {exc}")
    n = current.size
    earlier = None
    if earlier_checkpoint is not None:
        earlier, failure = _check_earlier(
            earlier_checkpoint, verifier_key, current, consistency_proof
        )
        if failure is not None:
            return failure

    served = list(leaf_hashes[:n])
    claimed = [h if h is not None else _ABSENT for h in served] + [_ABSENT] * (n - len(served))
    # One pass over the entries as they come: order checked, each visible one hashed in place.
    ours = list(claimed)
    visible: list[int] = []  # the leaf indices of the visible entries, ascending
    previous = -1
    for index, data in entries:
        if index <= previous:
            return _fail(0, n, index, INDEX_OUT_OF_ORDER, f"entry {index} follows {previous}")
        previous = index
        if index < n:
            ours[index] = sha256(b"\x00" + data).digest()  # leaf_hash, inlined
            visible.append(index)

    faults: list[tuple[int, str, str]] = []
    faults.extend(
        (i, LEAF_MISSING, f"leaf {i} is missing from the stored tree")
        for i, h in enumerate(served)
        if h is None
    )
    faults.extend(
        (i, LEAF_MISSING, f"leaf {i} is missing from the stored tree")
        for i in range(len(served), n)
    )
    faults.extend(
        (i, ENTRY_MISSING, f"the entry sealed as leaf {i} is gone")
        for i in missing_entries
        if i < n
    )
    ours_tree = MerkleTree(ours)

    def altered_hash(i: int) -> tuple[int, str, str]:
        return (i, LEAF_HASH_ALTERED, f"stored hash of leaf {i} altered; its entry is intact")

    if ours_tree.root() == current.root:
        # Every hash we used is authentic: any stored hash that differs was altered.
        faults.extend(altered_hash(i) for i in visible if claimed[i] != ours[i])
    else:
        claimed_tree = MerkleTree(claimed)
        lo, hi = _locate(ours_tree, claimed_tree, current.root, n)
        faults.extend(altered_hash(i) for i in visible if i < lo and claimed[i] != ours[i])
        if hi - lo == 1 and lo in set(visible):
            faults.append((lo, LEAF_MISMATCH, f"entry {lo} does not hash to its sealed leaf"))
        elif hi - lo == 1:
            faults.append(altered_hash(lo))
        elif not any(lo <= i < hi for i, problem, _ in faults if problem == LEAF_MISSING):
            # (a missing leaf inside the range already explains the mismatch)
            faults.append(
                (
                    lo,
                    ROOT_MISMATCH,
                    (
                        f"leaves [0, {lo}) proven; a stored hash in [{lo}, {hi}) was altered and "
                        "none of the entries there are visible to narrow it further"
                    ),
                )
            )
    if faults:
        index, problem, detail = min(faults)
        proven = bisect_left(visible, index)  # visible entries before the first fault
        return _fail(proven, n, index, problem, detail)
    if earlier is not None and ours_tree.root(earlier.size) != earlier.root:
        return _fail(
            0,
            n,
            None,
            INCONSISTENT_WITH_EARLIER,
            f"the first {earlier.size} leaves no longer hash to the kept checkpoint's root: "
            "the history was rewritten and re-signed",
        )
    return VerificationReport(True, len(visible), n, None, None)
