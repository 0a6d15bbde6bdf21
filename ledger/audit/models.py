"""Values read from the sealed audit log: entries, checkpoints, proofs, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .checkpoint import sign_checkpoint, verifier_key_string

T = TypeVar("T")


class AuditPage(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a cursor-paginated list of the log."""

    data: list[T]
    has_more: bool


class SealedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An entry as a regulator reads it: its leaf index, columns, and the exact hashed text."""

    leaf_index: int
    id: int
    kind: str
    at: datetime
    jurisdictions: list[str]
    partner_id: str | None
    subject: str | None
    category: str | None
    outcome: str | None
    entry: str  # the RFC 8785 bytes (UTF-8) the leaf hashes, exactly as stored


class AccessLogItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a customer's own access history."""

    id: int
    kind: str
    at: datetime
    partner_id: str | None
    category: str | None
    outcome: str | None
    purpose: str | None = None
    reasons: list[str] = []
    grant_id: str | None = None


class StoredCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    tree_size: int
    root_hash: bytes
    note: str
    sealed_at: datetime


class LeafRange(msgspec.Struct, frozen=True, kw_only=True):
    """Stored leaf hashes of [start, end); None where a leaf row is missing."""

    start: int
    end: int
    hashes: list[bytes | None]
    missing_entries: list[int]  # leaves whose entry row no longer exists


class SealResult(msgspec.Struct, frozen=True, kw_only=True):
    sealed: int
    tree_size: int
    checkpoints: int
    skipped: bool = False  # another sealer held the lock


class DayGrants(msgspec.Struct, frozen=True, kw_only=True):
    active: int
    new: int
    revoked: int
    expired: int


class DayDecisions(msgspec.Struct, frozen=True, kw_only=True):
    allowed: int
    denied: int
    by_reason: dict[str, int]


class DayInsights(msgspec.Struct, frozen=True, kw_only=True):
    """A day's aggregate releases that counted customers of one jurisdiction."""

    jurisdiction: str
    releases: int
    epsilon: float  # spent by those releases (each customer counted spent at most this)
    cells: int
    suppressed_cells: int


class DayActivity(msgspec.Struct, frozen=True, kw_only=True):
    """A day's erasures, exports, account closures and payouts."""

    erasures: int = 0
    exports: int = 0
    accounts_closed: int = 0
    payouts: int = 0


class DayMetrics(msgspec.Struct, frozen=True, kw_only=True):
    date: str
    grants: DayGrants
    decisions: DayDecisions
    activity: DayActivity = msgspec.field(default_factory=DayActivity)
    insights: tuple[DayInsights, ...] = ()


class SealerState(msgspec.Struct, frozen=True, kw_only=True):
    """The sealer's one row: the compact tree and how far sealing got."""

    tree_size: int
    frontier: list[bytes]
    watermark: str  # an xid8, as text
    last_txid: str
    last_entry_id: int


class UnsealedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An entry waiting to be sealed, in (txid, id) order."""

    id: int
    at: datetime  # its month: the partition key, which each leaf names with the id
    txid: str
    entry: str


class DayGrantCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the grant metrics: one UTC day's counts."""

    day_start: datetime
    active: int
    new: int
    revoked: int
    expired: int


class DecisionCount(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the decision metrics: a day's decisions of one outcome (`is_total`), or of
    one outcome and reason."""

    day_start: datetime
    outcome: str | None
    reason: str | None
    is_total: bool
    n: int


@dataclass(frozen=True)
class CheckpointSigner:
    """Signs tree heads as C2SP checkpoints; the key name is the origin, as in Go's sumdb."""

    private_key: Ed25519PrivateKey
    origin: str

    def sign(self, size: int, root: bytes) -> str:
        return sign_checkpoint(self.origin, size, root, self.private_key, self.origin)

    def verifier_key(self) -> str:
        return verifier_key_string(self.origin, self.private_key.public_key())
