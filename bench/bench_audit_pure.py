"""Audit-log pure-path throughput: leaf hashing + CompactTree append, and full verification,
both of parsed entries (`verify_log`, which re-canonicalises them) and of the exact bytes served
(`verify_view`, the core of `marketplace audit verify`).

Run: PYTHONPATH=. python bench/bench_audit_pure.py [entries]. Reports numbers, never asserts.
The baseline, measured in the same run, is raw hashlib.sha256 over the same canonical bytes.
"""

import sys
import time
from hashlib import sha256
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from ledger.audit import (
    CompactTree,
    MerkleTree,
    entry_bytes,
    inclusion_proof,
    leaf_hash,
    sign_checkpoint,
    verifier_key_string,
    verify_log,
    verify_view,
)

ORIGIN = "audit.marketplace.example/log"


def synthetic_entry(i: int) -> dict:
    """An access-decision entry of realistic shape (~300 bytes of canonical JSON)."""
    return {
        "index": i,
        "id": f"dec_01J{i:020d}",
        "kind": "access.decided",
        "at": f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 60:02d}.123456Z",
        "customer": f"psn_{(i * 2654435761) % 10**12:012x}",
        "partner": f"ptn_01J{i % 500:020d}",
        "grant": f"gnt_01J{i % 100000:020d}",
        "category": "location",
        "purpose": "personalised_offers",
        "effect": "allow" if i % 5 else "deny",
        "reasons": [] if i % 5 else ["rule:de-location-trade"],
        "policy_version": "sha256:9f2c4e1a",
    }


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} entries/s  ({seconds:6.2f} s)"


def main(n: int) -> None:
    entries = [synthetic_entry(i) for i in range(n)]
    t = time.perf_counter()
    blobs = [entry_bytes(e) for e in entries]
    canon = time.perf_counter() - t
    print(f"{n:,} entries, mean canonical size {sum(map(len, blobs)) / n:.0f} bytes")
    print(f"canonical JSON (fast, = RFC 8785)    {rate(n, canon)}")
    sample = entries[: min(n, 50_000)]
    t = time.perf_counter()
    reference = [rfc8785.dumps(e) for e in sample]
    print(f"canonical JSON (reference rfc8785)   {rate(len(sample), time.perf_counter() - t)}")
    assert reference == blobs[: len(sample)]  # byte-identical (correctness, not timing)

    t = time.perf_counter()
    for b in blobs:
        sha256(b).digest()
    baseline = time.perf_counter() - t
    print(f"baseline: raw sha256 per entry       {rate(n, baseline)}")

    t = time.perf_counter()
    compact = CompactTree()
    for b in blobs:
        compact.append(leaf_hash(b))
    append = time.perf_counter() - t
    print(
        f"leaf hash + CompactTree.append       {rate(n, append)}  {append / baseline:.1f}x baseline"
    )

    t = time.perf_counter()
    tree = MerkleTree([leaf_hash(b) for b in blobs])
    build = time.perf_counter() - t
    assert tree.root() == compact.root()  # correctness, not timing
    t = time.perf_counter()
    for i in range(0, n, max(1, n // 1000)):
        tree.inclusion_proof(i, n)
    proofs = time.perf_counter() - t
    print(f"MerkleTree build (leaf hash + levels) {rate(n, build)}")
    print(f"inclusion proofs on the built tree   {1000 / proofs:>12,.0f} proofs/s")
    hashes = [leaf_hash(b) for b in blobs]
    t = time.perf_counter()
    inclusion_proof(hashes, n // 3, n)
    print(f"one-shot inclusion_proof over {n:,} leaf hashes: {time.perf_counter() - t:.2f} s")

    key = Ed25519PrivateKey.generate()
    text = sign_checkpoint(ORIGIN, n, compact.root(), key, ORIGIN)
    vkey = verifier_key_string(ORIGIN, key.public_key())
    t = time.perf_counter()
    report = verify_log(entries, text, vkey)
    verify = time.perf_counter() - t
    assert report.ok
    print(
        f"verify_log (canonicalise+hash+root)  {rate(n, verify)}  "
        f"time {verify / (baseline + canon):.2f}x that of canonical JSON + raw sha256"
    )
    print(
        f"verify_log entries/s ÷ raw sha256 over the same bytes: {baseline / verify:.0%} "
        "(target ≥ 25%)"
    )

    # What `marketplace audit verify` runs on what it fetched: the stored leaf hashes and the
    # exact bytes of each entry it may read (here all of them), hashed as served.
    served = list(enumerate(blobs))
    t = time.perf_counter()
    report = verify_view(text, vkey, hashes, served)
    view = time.perf_counter() - t
    assert report.ok
    print(f"verify_view (audit verify's core)     {rate(n, view)}")
    print(
        f"audit verify entries/s ÷ raw sha256 over the same bytes: {baseline / view:.0%} "
        "(target ≥ 25%)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
