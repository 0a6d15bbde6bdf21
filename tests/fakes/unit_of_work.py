"""A unit of work without a database, for unit tests of service rules (cosmicpython's fake
UoW): `repository(kind)` returns the in-memory fake registered for that class, and the unit
records whether it committed or rolled back. On a rollback each fake that can (`snapshot` /
`restore`) is put back as it was when the unit began, as the database would be."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class FakeUnitOfWork:
    def __init__(self, fakes: dict[type, Any], *, transaction: bool, **options: Any):
        self._fakes = fakes
        self.transaction = transaction
        self.options = options
        self.committed = False
        self.rolled_back = False
        self._snapshots: dict[type, Any] = {}
        self._open = False

    async def __aenter__(self) -> Self:
        self._open = True
        self._snapshots = {
            kind: fake.snapshot() for kind, fake in self._fakes.items() if hasattr(fake, "snapshot")
        }
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        if exc is None:
            self.committed = True
            return
        self.rolled_back = True
        for repo_kind, snapshot in self._snapshots.items():
            self._fakes[repo_kind].restore(snapshot)

    def repository(self, kind: type) -> Any:
        if not self._open:
            raise RuntimeError("the unit of work is not open (use `async with`)")
        try:
            return self._fakes[kind]
        except KeyError:
            raise LookupError(f"no fake registered for {kind.__name__}") from None


class FakeUnitOfWorkFactory:
    """What a service takes instead of `sql.unit_of_work_factory(pool)`; `units` lists every
    unit of work it handed out, in order."""

    def __init__(self, fakes: dict[type, Any] | None = None):
        self.fakes: dict[type, Any] = dict(fakes or {})
        self.units: list[FakeUnitOfWork] = []

    def register(self, kind: type, fake: Any) -> None:
        self.fakes[kind] = fake

    def __call__(
        self,
        *,
        transaction: bool = True,
        isolation: str | None = None,
        readonly: bool = False,
        replica: str | None = None,
    ) -> FakeUnitOfWork:
        unit = FakeUnitOfWork(
            self.fakes,
            transaction=transaction,
            isolation=isolation,
            readonly=readonly,
            replica=replica,
        )
        self.units.append(unit)
        return unit

    @property
    def last(self) -> FakeUnitOfWork:
        return self.units[-1]
