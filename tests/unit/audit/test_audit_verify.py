"""The verifier core: an intact log verifies; each kind of tampering is named at its first entry."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.audit import (
    MerkleTree,
    entry_bytes,
    leaf_hash,
    sign_checkpoint,
    verifier_key_string,
    verify_log,
)

ORIGIN = "audit.marketplace.example/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = verifier_key_string(ORIGIN, KEY.public_key())
N = 37


def make_entries(n: int = N) -> list[dict]:
    return [
        {
            "index": i,
            "kind": "access.decided",
            "at": f"2025-01-01T00:00:{i % 60:02d}Z",
            "customer": f"psn_{i % 7:04d}",
            "partner": "ptn_01",
            "decision": {"allow": i % 3 != 0, "reasons": ["no_grant"] if i % 3 == 0 else []},
        }
        for i in range(n)
    ]


def hashes_of(entries: list[dict]) -> list[bytes]:
    return [leaf_hash(entry_bytes(e)) for e in entries]


def seal(entries: list[dict], key: Ed25519PrivateKey = KEY) -> str:
    return sign_checkpoint(ORIGIN, len(entries), MerkleTree(hashes_of(entries)).root(), key, ORIGIN)


def edited(entries: list[dict], i: int) -> list[dict]:
    out = [dict(e) for e in entries]
    out[i]["decision"] = {"allow": True, "reasons": []}
    out[i]["partner"] = "ptn_02"
    return out


def test_intact_log_verifies() -> None:
    entries = make_entries()
    report = verify_log(entries, seal(entries), VKEY, leaf_hashes_claimed=hashes_of(entries))
    assert report.ok and report.problem is None and report.first_bad_index is None
    assert (report.entries_checked, report.tree_size) == (N, N)


def test_empty_log_verifies() -> None:
    assert verify_log([], seal([]), VKEY).ok


def test_edited_entry_is_named_using_the_stored_leaf_hashes() -> None:
    entries = make_entries()
    text, stored = seal(entries), hashes_of(entries)
    report = verify_log(edited(entries, 11), text, VKEY, leaf_hashes_claimed=stored)
    assert (report.ok, report.problem, report.first_bad_index) == (False, "leaf_mismatch", 11)
    assert report.entries_checked == 11


def test_edited_entry_without_stored_hashes_is_a_root_mismatch_with_nothing_proven() -> None:
    entries = make_entries()
    report = verify_log(edited(entries, 11), seal(entries), VKEY)
    assert (report.problem, report.first_bad_index, report.entries_checked) == (
        "root_mismatch",
        0,
        0,
    )


def test_edited_entry_with_its_stored_hash_rewritten_is_bracketed_soundly() -> None:
    entries = make_entries()
    text = seal(entries)
    tampered = edited(entries, 30)
    report = verify_log(tampered, text, VKEY, leaf_hashes_claimed=hashes_of(tampered))
    assert report.problem == "root_mismatch"
    # Nothing past the edit is claimed proven; the claimed hashes cannot be trusted at all here.
    assert report.first_bad_index is not None and report.first_bad_index <= 30


def test_an_earlier_checkpoint_raises_the_proven_prefix() -> None:
    entries = make_entries()
    earlier_entries = entries[:32]
    tree = MerkleTree(hashes_of(entries))
    tampered = edited(entries, 33)
    report = verify_log(
        tampered,
        seal(entries),
        VKEY,
        leaf_hashes_claimed=hashes_of(tampered),
        earlier_checkpoint=seal(earlier_entries),
        consistency_proof=tree.consistency_proof(32, N),
    )
    assert report.problem == "root_mismatch"
    assert 32 <= report.first_bad_index <= 33 and report.entries_checked == report.first_bad_index


def test_stored_hash_altered_elsewhere_still_localises_when_the_tree_allows() -> None:
    entries = make_entries(64)
    stored = hashes_of(entries)
    stored[50] = leaf_hash(b"junk")  # the right half of the tree's claimed hashes are untrusted
    report = verify_log(edited(entries, 9), seal(entries), VKEY, leaf_hashes_claimed=stored)
    assert (report.problem, report.first_bad_index) == ("leaf_mismatch", 9)


def test_deleted_entry_is_an_index_gap() -> None:
    entries = make_entries()
    text = seal(entries)
    report = verify_log(entries[:5] + entries[6:], text, VKEY)
    assert (report.problem, report.first_bad_index, report.entries_checked) == (
        "index_out_of_order",
        5,
        5,
    )


def test_deleted_and_renumbered_entry_is_named() -> None:
    entries = make_entries()
    text, stored = seal(entries), hashes_of(entries)
    renumbered = [dict(e, index=i) for i, e in enumerate(entries[:5] + entries[6:])]
    report = verify_log(renumbered, text, VKEY, leaf_hashes_claimed=stored)
    assert (report.problem, report.first_bad_index) == ("leaf_mismatch", 5)


def test_swapped_entries_are_named_at_the_first() -> None:
    entries = make_entries()
    text, stored = seal(entries), hashes_of(entries)
    swapped = entries[:3] + [entries[4], entries[3]] + entries[5:]
    report = verify_log(swapped, text, VKEY, leaf_hashes_claimed=stored)
    assert (report.problem, report.first_bad_index) == ("index_out_of_order", 3)
    renumbered = [dict(e, index=i) for i, e in enumerate(swapped)]
    report = verify_log(renumbered, text, VKEY, leaf_hashes_claimed=stored)
    assert (report.problem, report.first_bad_index) == ("leaf_mismatch", 3)


def test_appended_forged_entry_is_not_covered_by_the_checkpoint() -> None:
    entries = make_entries()
    text = seal(entries)
    forged = entries + [dict(entries[0], index=N, partner="ptn_forger")]
    report = verify_log(forged, text, VKEY)
    assert (report.problem, report.first_bad_index, report.entries_checked) == (
        "unsealed_entries",
        N,
        N,
    )


def test_appended_forged_entry_with_a_checkpoint_from_another_key_is_refused() -> None:
    forged = make_entries() + [dict(make_entries()[0], index=N)]
    report = verify_log(forged, seal(forged, Ed25519PrivateKey.generate()), VKEY)
    assert (report.ok, report.problem, report.tree_size) == (False, "checkpoint_invalid", 0)


def test_truncated_log_is_reported_where_it_ends() -> None:
    entries = make_entries()
    text, stored = seal(entries), hashes_of(entries)
    report = verify_log(entries[:35], text, VKEY, leaf_hashes_claimed=stored)
    assert (report.problem, report.first_bad_index) == ("entries_missing", 35)
    assert report.entries_checked == 35
    report = verify_log(entries[:35], text, VKEY)
    assert (report.problem, report.first_bad_index) == ("entries_missing", 35)
    assert report.entries_checked == 0  # without stored hashes the partial log proves nothing


def test_consistent_with_an_earlier_checkpoint() -> None:
    entries = make_entries()
    proof = MerkleTree(hashes_of(entries)).consistency_proof(20, N)
    report = verify_log(
        entries,
        seal(entries),
        VKEY,
        earlier_checkpoint=seal(entries[:20]),
        consistency_proof=proof,
    )
    assert report.ok


def test_history_rewritten_and_resealed_is_inconsistent_with_the_earlier_checkpoint() -> None:
    entries = make_entries()
    earlier = seal(entries[:20])
    rewritten = edited(entries, 4)
    report = verify_log(rewritten, seal(rewritten), VKEY, earlier_checkpoint=earlier)
    assert (report.problem, report.first_bad_index) == ("inconsistent_with_earlier", None)
    proof = MerkleTree(hashes_of(rewritten)).consistency_proof(20, N)
    report = verify_log(
        rewritten, seal(rewritten), VKEY, earlier_checkpoint=earlier, consistency_proof=proof
    )
    assert report.problem == "inconsistent_with_earlier"


def test_a_log_that_shrank_is_inconsistent() -> None:
    entries = make_entries()
    report = verify_log(entries[:30], seal(entries[:30]), VKEY, earlier_checkpoint=seal(entries))
    assert (report.problem, report.first_bad_index) == ("inconsistent_with_earlier", 30)


def test_earlier_checkpoint_must_be_signed_by_the_same_key() -> None:
    entries = make_entries()
    other = seal(entries[:20], Ed25519PrivateKey.generate())
    report = verify_log(entries, seal(entries), VKEY, earlier_checkpoint=other)
    assert report.problem == "earlier_checkpoint_invalid"


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_single_edit_is_named_exactly(data) -> None:
    n = data.draw(st.integers(min_value=1, max_value=120), label="n")
    bad = data.draw(st.integers(min_value=0, max_value=n - 1), label="bad")
    entries = make_entries(n)
    report = verify_log(
        edited(entries, bad), seal(entries), VKEY, leaf_hashes_claimed=hashes_of(entries)
    )
    assert (report.problem, report.first_bad_index, report.entries_checked) == (
        "leaf_mismatch",
        bad,
        bad,
    )
