"""The audit log after writing: sealing it into signed checkpoints, and reading it back.

`seal` is run by the job queue about once a second (and by `marketplace audit seal`); readers
are regulators (their jurisdictions only, proofs for the whole tree) and customers (their own
access history, under their pseudonym).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sql import ReplicaRead, UnitOfWorkFactory

from .entries import AuditLog
from .errors import (
    AuditQueryInvalid,
    AuditRangeNotFound,
    ProofInvalid,
    SealRefused,
    TreeStateInvalid,
)
from .merkle import (
    CompactTree,
    MerkleTree,
    extension_consistency_proof,
    leaf_hash,
    verify_consistency,
)
from .models import (
    AccessLogItem,
    AuditPage,
    CheckpointSigner,
    DayActivity,
    DayDecisions,
    DayGrants,
    DayInsights,
    DayMetrics,
    DecisionCount,
    LeafRange,
    SealedEntry,
    SealResult,
    StoredCheckpoint,
)
from .repository import AuditRepository

MAX_LEAVES_PER_REQUEST = 65_536
MAX_METRIC_DAYS = 366
# Regulators read sealed history, which a streaming replica serves while it is within the
# configured lag (docs/scale.md); a read naming a tree larger than the replica has yet seen is
# the primary's.
REGULATOR_READ: ReplicaRead = "within_lag"


class AuditService:
    """Seals and serves the audit log; each method is one unit of work."""

    def __init__(self, uow: UnitOfWorkFactory, signer: CheckpointSigner):
        self.uow = uow
        self.signer = signer
        # Proofs need interior hashes: an append-only in-memory tree, extended from the stored
        # leaves as the log grows (checked against the latest checkpoint before each use).
        self._tree = MerkleTree([])
        self._tree_lock = asyncio.Lock()

    # --- sealing -------------------------------------------------------------------------

    async def seal(self, *, batch_size: int = 20_000, max_batches: int | None = None) -> SealResult:
        """Seal every entry whose transaction has finished; one checkpoint per batch.

        Entries are taken in (txid, id) order, only with txid below the snapshot's xmin, so an
        entry committed late by an old transaction is sealed later, never skipped. Each batch
        is one transaction under an advisory lock; a second sealer finds it taken and returns.
        """
        sealed = checkpoints = 0
        size = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            async with self.uow() as uow:
                repo = uow.repository(AuditRepository)
                if not await repo.try_lock_sealer():
                    return SealResult(
                        sealed=sealed, tree_size=size, checkpoints=checkpoints, skipped=True
                    )
                n, size, published = await self._seal_batch(repo, batch_size)
            sealed += n
            checkpoints += published
            if n < batch_size:
                break
        return SealResult(sealed=sealed, tree_size=size, checkpoints=checkpoints)

    async def _seal_batch(self, repo: AuditRepository, batch_size: int) -> tuple[int, int, int]:
        state = await repo.state()
        tree = CompactTree.from_state(state.tree_size, state.frontier)
        previous = await repo.latest_checkpoint()
        if previous is None:
            if tree.size:
                raise TreeStateInvalid(f"sealer state has {tree.size} leaves but no checkpoint")
            await repo.insert_checkpoint(0, tree.root(), self.signer.sign(0, tree.root()))
            previous = await repo.latest_checkpoint()
            if previous is None:
                raise TreeStateInvalid("the empty tree's checkpoint was not stored")
        if previous.tree_size != tree.size or previous.root_hash != tree.root():
            raise TreeStateInvalid(
                f"sealer state (size {tree.size}) does not match the last checkpoint "
                f"(size {previous.tree_size})"
            )
        rows, horizon = await repo.next_to_seal(state, batch_size)
        if not rows:
            if horizon != state.watermark:
                await repo.update_state(
                    tree.size, tree.state(), horizon, state.last_txid, state.last_entry_id
                )
            return 0, tree.size, 0
        hashes = [leaf_hash(r.entry.encode()) for r in rows]
        old_size, old_frontier = tree.size, tree.state()
        proof = extension_consistency_proof(old_size, old_frontier, hashes)
        for h in hashes:
            tree.append(h)
        root = tree.root()
        if not verify_consistency(old_size, tree.size, previous.root_hash, root, proof):
            raise SealRefused(f"checkpoint {tree.size} would not extend checkpoint {old_size}")
        await repo.insert_leaves(old_size, rows, hashes)
        await repo.insert_checkpoint(tree.size, root, self.signer.sign(tree.size, root))
        last_id, last_txid = rows[-1].id, rows[-1].txid
        # A full batch may have stopped inside a transaction's entries: the watermark is then
        # that transaction's id (everything below it is sealed), else the snapshot's xmin.
        watermark = last_txid if len(rows) == batch_size else horizon
        await repo.update_state(tree.size, tree.state(), watermark, last_txid, last_id)
        return len(rows), tree.size, 1

    # --- checkpoints and proofs ----------------------------------------------------------

    def verifier_key(self) -> str:
        return self.signer.verifier_key()

    async def unsealed_count(self) -> int:
        """How many committed entries the sealer has not yet put in the tree."""
        async with self.uow(transaction=False, replica=REGULATOR_READ) as uow:
            return await uow.repository(AuditRepository).unsealed_count()

    async def latest_checkpoint(self, *, at_least: int = 0) -> StoredCheckpoint:
        """The newest checkpoint; one of at least `at_least` leaves when one exists (a read
        the replica answered with an older one is asked of the primary)."""
        async with self.uow(transaction=False, replica=REGULATOR_READ) as uow:
            checkpoint = await uow.repository(AuditRepository).latest_checkpoint()
        if checkpoint is None or checkpoint.tree_size < at_least:
            async with self.uow(transaction=False) as uow:
                checkpoint = await uow.repository(AuditRepository).latest_checkpoint()
        if checkpoint is None:
            raise ProofInvalid("nothing has been sealed yet")
        return checkpoint

    async def leaves(self, start: int, end: int | None) -> LeafRange:
        """Stored leaf hashes of [start, end) (at most 65,536), for verifying the whole tree."""
        latest = await self.latest_checkpoint(at_least=end or 0)
        end = latest.tree_size if end is None else end
        end = min(end, start + MAX_LEAVES_PER_REQUEST)
        if start < 0:
            raise AuditQueryInvalid("start must be ≥ 0", field="start")
        if end < start or end > latest.tree_size:
            raise AuditRangeNotFound(
                f"end must be in [start, {latest.tree_size}] (the latest tree size)", field="end"
            )
        async with self.uow(transaction=False, replica=REGULATOR_READ) as uow:
            hashes, missing = await uow.repository(AuditRepository).leaves(start, end)
        if len(hashes) < end - start:  # the replica has not replayed the newest leaves yet
            async with self.uow(transaction=False) as uow:
                hashes, missing = await uow.repository(AuditRepository).leaves(start, end)
        return LeafRange(start=start, end=end, hashes=hashes, missing_entries=missing)

    async def _current_tree(self, at_least: int) -> tuple[MerkleTree, StoredCheckpoint]:
        """The tree as of the newest checkpoint, read from the replica unless it has not yet
        seen a checkpoint of `at_least` leaves (the size a regulator names)."""
        async with self._tree_lock:
            async with self.uow(transaction=False, replica=REGULATOR_READ) as uow:
                latest = await uow.repository(AuditRepository).latest_checkpoint()
                if latest is not None and latest.tree_size >= at_least:
                    return await self._tree_up_to(uow, latest)
            async with self.uow(transaction=False) as uow:
                return await self._tree_up_to(
                    uow, await uow.repository(AuditRepository).latest_checkpoint()
                )

    async def _tree_up_to(
        self, uow: Any, latest: StoredCheckpoint | None
    ) -> tuple[MerkleTree, StoredCheckpoint]:
        """The in-memory tree, extended from the stored leaves to `latest` if it is shorter.
        A longer one (built from a read the replica had not yet caught up with) serves as it
        is: its prefix of `latest`'s size must have `latest`'s root."""
        if latest is None:
            raise ProofInvalid("nothing has been sealed yet")
        if self._tree.size >= latest.tree_size:
            if self._tree.root(latest.tree_size) == latest.root_hash:
                return self._tree, latest
            self._tree = MerkleTree([])  # the stored log changed under us: start over
        rows = await uow.repository(AuditRepository).leaf_hashes_from(self._tree.size)
        self._tree.extend(
            [h for i, h in rows if i < latest.tree_size][: latest.tree_size - self._tree.size]
        )
        return self._tree, latest

    async def inclusion_proof(self, index: int, tree_size: int) -> dict[str, Any]:
        tree, latest = await self._current_tree(tree_size)
        if not 0 < tree_size <= min(tree.size, latest.tree_size):
            raise AuditRangeNotFound(
                f"tree_size must be in 1..{latest.tree_size}", field="tree_size"
            )
        if not 0 <= index < tree_size:
            raise AuditRangeNotFound(f"index must be in 0..{tree_size - 1}", field="index")
        return {
            "index": index,
            "tree_size": tree_size,
            "leaf_hash": tree.subtree(index, index + 1),
            "root_hash": tree.root(tree_size),
            "proof": tree.inclusion_proof(index, tree_size),
        }

    async def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        tree, latest = await self._current_tree(second)
        top = min(tree.size, latest.tree_size)
        if not 0 <= second <= top:
            raise AuditRangeNotFound(f"second must be in 0..{top}", field="second")
        if not 0 <= first <= second:
            raise AuditRangeNotFound("first must be in 0..second", field="first")
        return {
            "first": first,
            "second": second,
            "first_root": tree.root(first),
            "second_root": tree.root(second),
            "proof": tree.consistency_proof(first, second),
        }

    # --- entries -------------------------------------------------------------------------

    async def entries(
        self, jurisdictions: list[str], filters: dict[str, Any], *, limit: int = 20
    ) -> AuditPage[SealedEntry]:
        """Sealed entries of these jurisdictions, ascending by leaf index."""
        async with self.uow(transaction=False, replica=REGULATOR_READ) as uow:
            rows = await uow.repository(AuditRepository).entries(jurisdictions, filters, limit + 1)
        return AuditPage(data=rows[:limit], has_more=len(rows) > limit)

    async def export(
        self, jurisdictions: list[str], filters: dict[str, Any]
    ) -> AsyncIterator[SealedEntry]:
        """Every matching sealed entry, streamed from a server-side cursor: the unit of work
        (its connection and read-only transaction) stays open while the caller iterates."""
        async with self.uow(readonly=True, replica=REGULATOR_READ) as uow:
            async for entry in uow.repository(AuditRepository).entries_cursor(
                jurisdictions, filters
            ):
                yield entry

    async def access_log(
        self,
        customer_id: str,
        *,
        starting_after: int | None = None,
        limit: int = 20,
        partner_id: str | None = None,
        outcome: str | None = None,
    ) -> AuditPage[AccessLogItem]:
        """A customer's own history (who read or asked for what, and why), newest first;
        optionally only one partner's entries, or one outcome's (`allowed`, `denied`).

        Found through the customer's pseudonym; once their key is destroyed (erasure) the
        entries stay in the log but nothing links them to the customer any more.
        """
        async with self.uow(transaction=False) as uow:
            subject = await uow.repository(AuditLog).subject(customer_id)
            if subject is None:
                return AuditPage(data=[], has_more=False)
            rows = await uow.repository(AuditRepository).access_log(
                subject, starting_after, limit + 1, partner_id, outcome
            )
        return AuditPage(data=rows[:limit], has_more=len(rows) > limit)

    async def metrics(
        self, jurisdictions: list[str], start: datetime, end: datetime
    ) -> list[DayMetrics]:
        """Grants (active at day end, new, revoked, expired), decisions by reason, activity
        (erasures, exports, closures, payouts) and aggregate releases, per day."""
        if end <= start:
            return []  # an empty range has no days
        # A longer range is cut to its first MAX_METRIC_DAYS days; callers page by date.
        end = min(end, start + timedelta(days=MAX_METRIC_DAYS))
        async with self.uow(readonly=True, replica=REGULATOR_READ) as uow:
            repo = uow.repository(AuditRepository)
            grants = await repo.grant_metrics(start, end, jurisdictions)
            decisions = await repo.decision_metrics(start, end, jurisdictions)
            activity = await repo.activity_metrics(start, end, jurisdictions)
            releases = await repo.insight_metrics(start, end, jurisdictions)
        by_day = _decisions_by_day(decisions)
        insights_by_day: dict[str, list[DayInsights]] = {}
        for day_start, day_insights in releases:
            insights_by_day.setdefault(day_start.date().isoformat(), []).append(day_insights)
        out = []
        for g in grants:
            date = g.day_start.date().isoformat()
            out.append(
                DayMetrics(
                    date=date,
                    grants=DayGrants(
                        active=g.active, new=g.new, revoked=g.revoked, expired=g.expired
                    ),
                    decisions=by_day.get(date) or DayDecisions(allowed=0, denied=0, by_reason={}),
                    activity=activity.get(date) or DayActivity(),
                    insights=tuple(insights_by_day.get(date, ())),
                )
            )
        return out


def _decisions_by_day(rows: list[DecisionCount]) -> dict[str, DayDecisions]:
    """Per UTC day (ISO date): allowed and denied totals, and the count of each reason."""
    totals: dict[str, dict[str, int]] = {}
    reasons: dict[str, dict[str, int]] = {}
    for r in rows:
        day = r.day_start.date().isoformat()
        total = totals.setdefault(day, {"allowed": 0, "denied": 0})
        by_reason = reasons.setdefault(day, {})
        if r.is_total:
            if r.outcome in ("allowed", "denied"):
                total[r.outcome] += r.n
        elif r.reason is not None:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + r.n
    return {
        day: DayDecisions(allowed=t["allowed"], denied=t["denied"], by_reason=reasons[day])
        for day, t in totals.items()
    }
