"""Money ledger, payouts and the tamper-evident audit log; pure parts importable without I/O."""

from ledger.canonical import entry_bytes
from ledger.checkpoint import (
    Checkpoint,
    NoteSignature,
    key_id,
    parse_checkpoint,
    sign_checkpoint,
    verifier_key_string,
    verify_checkpoint,
)
from ledger.errors import (
    AuditError,
    CheckpointInvalid,
    LedgerError,
    ProofInvalid,
    TreeStateInvalid,
)
from ledger.merkle import (
    CompactTree,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from ledger.verify import VerificationReport, verify_log, verify_view

__all__ = [
    "AuditError",
    "Checkpoint",
    "CheckpointInvalid",
    "CompactTree",
    "LedgerError",
    "MerkleTree",
    "NoteSignature",
    "ProofInvalid",
    "TreeStateInvalid",
    "VerificationReport",
    "consistency_proof",
    "entry_bytes",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "node_hash",
    "parse_checkpoint",
    "root_from_leaf_hashes",
    "sign_checkpoint",
    "verifier_key_string",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_view",
]
