"""`make bench` runs every bench/*.py script: each must at least load, as it does when run (its
directory first on the path). A bench importing a name another bench no longer has would
otherwise go unnoticed until someone measures."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_bench_script_loads(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    # Only its module body runs: `__main__` (the measurement) is not this run's name.
    namespace = runpy.run_path(str(BENCH / script), run_name="bench_loaded")
    if 'if __name__ == "__main__":' in (BENCH / script).read_text():
        assert callable(namespace.get("main")), f"{script} runs a main() it does not define"
    for name in [m for m in sys.modules if m == "common" or m.startswith("bench_")]:
        monkeypatch.delitem(sys.modules, name)
