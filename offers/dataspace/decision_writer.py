"""Group commit of access decisions: many requests' decisions, one transaction, one WAL flush.

A request hands its decision (its row, and its audit entry when it names a customer) to
`DecisionWriter.write`, which returns once it is committed (durable before the response). One
flush runs at a time; decisions that arrive while it runs go together in the next one, as ONE
statement (AccessRepository.record_decisions: a decision with an entry is stored as that entry,
one without as its row). Under light load a batch is one request; under load the batch grows
instead of the queue of commits.

A batch that fails is retried row by row, each on its own, so only a row at fault fails its
request. Nothing is cached: the decision itself was made from a fresh read before this point.
"""

from __future__ import annotations

import asyncio

from sql import UnitOfWorkFactory, in_request_transaction

from .access_repository import AccessRepository

MAX_BATCH = 256
# A decision row, its audit entry (None: the decision has none), and the future its request
# waits on.
_Pending = tuple[tuple | None, tuple | None, asyncio.Future[None]]


class DecisionWriter:
    def __init__(self, uow: UnitOfWorkFactory, max_batch: int = MAX_BATCH, *, audit: bool = True):
        self.uow = uow
        self.max_batch = max_batch
        self.audit = audit  # False only for the benchmark's audit-off baseline
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # flushes committed (batch sizes are visible in tests and benches)

    async def write(self, decision: tuple | None, entry: tuple | None) -> None:
        """Returns once the decision (its entry, else its row) is committed; raises if it could
        not be. Inside a request's own transaction (an Idempotency-Key's: its answer commits
        with its effect) the rows go into that transaction instead of a batch."""
        if in_request_transaction():
            await self._insert_rows([(decision, entry)])
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((decision, entry, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._flush(batch)
                batch = []
        except BaseException:  # cancelled (shutdown); _flush itself never raises
            for *_, future in batch + self._pending:
                if not future.done():
                    future.set_exception(RuntimeError("the decision writer stopped"))
            self._pending.clear()
            raise
        finally:
            self._flusher = None

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            await self._insert(batch)
        except Exception as e:
            if len(batch) == 1:
                if not batch[0][2].done():
                    batch[0][2].set_exception(e)
                return
            for item in batch:  # the innocent rows of a failed batch still commit
                await self._flush([item])
            return
        self.batches += 1
        for *_, future in batch:
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(None)

    async def _insert(self, batch: list[_Pending]) -> None:
        await self._insert_rows([(d, e) for d, e, _ in batch])

    async def _insert_rows(self, rows: list[tuple[tuple | None, tuple | None]]) -> None:
        # One statement, so no transaction block: its own implicit one is the group commit.
        async with self.uow(transaction=False) as uow:
            await uow.repository(AccessRepository).record_decisions(rows, audit=self.audit)
