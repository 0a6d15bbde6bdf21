"""One fault harness for the fault tests (its processes and cluster start once), and the
table of what each fault did, printed at the end of the run."""

from __future__ import annotations

import pytest

from .checks import TABLE_HEADER
from .harness import Harness
from .world import make_partner

ROWS: list[str] = []


@pytest.fixture(scope="session")
async def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("faults"))
    try:
        await h.start()
        async with h.client() as http:
            h.partner, h.offers = await make_partner(h, http)
        yield h
    finally:
        await h.stop()


@pytest.fixture(scope="session")
def fault_table(tmp_path_factory):
    """Collects one row per fault; written beside the run's temporary files too."""
    path = tmp_path_factory.getbasetemp() / "fault-table.md"

    def add(row: str) -> None:
        ROWS.append(row)
        path.write_text(TABLE_HEADER + "\n" + "\n".join(ROWS) + "\n")

    return add


def pytest_terminal_summary(terminalreporter):
    if ROWS:
        terminalreporter.write_sep("-", "faults injected under load")
        terminalreporter.write_line(TABLE_HEADER)
        for row in ROWS:
            terminalreporter.write_line(row)
